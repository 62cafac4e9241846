"""The long scale and the horizon ladder (`make cifar10-long`): the declarations pinned to
their numbers, and the whole protocol run end to end at tiny scale by two sharded
workers, into the report's ladder table and its figure."""
import glob
import json
import os
import re

import pytest
import yaml

from configs import EXPERIMENTS, GROUPS, TUNINGS, analysis
from configs.cifar10 import (ADAM_GRID, BOP_GRID, HORIZONS, LADDER_MARGIN_PP, LADDER_SEEDS,
                             LONG_PRECISION)
from experiments.engine.compare import tiny as tiny_rung
from experiments.engine.experiment import build

SEC51 = ["sec51_gamma_1e-2", "sec51_gamma_1e-3_tau_1e-6", "sec51_gamma_1e-4", "sec51_tau_0",
         "sec51_tau_1e-5"]


@pytest.mark.parametrize("name", SEC51)
def test_sec51_at_the_long_scale_runs_30_epochs_on_10000_images(name):
    config = build(EXPERIMENTS[name], {"scale": "long"}).resolved_config()
    assert (config["epochs"], config["train_subset"], config["precision"]) == (
        30, 10000, LONG_PRECISION)
    assert (config["model.filters"], config["model.dense_units"]) == (32, 256)


def test_the_long_group_has_three_seeds_of_sec51_and_the_whole_ladder():
    members = GROUPS["cifar10_long"]
    assert sorted(members[:15]) == sorted(f"{n} scale=long seed={s}" for n in SEC51
                                          for s in (0, 1, 2))
    assert members[15:] == ["sec52_horizon_8", "sec52_horizon_16", "sec52_horizon_32",
                            "sec52_horizon_64"]
    assert list(analysis.HORIZON_LADDER) == members[15:]


def test_the_ladder_rungs_are_pinned():
    assert HORIZONS == (8, 16, 32, 64) and max(HORIZONS) >= 8 * 8  # 8 = the quick horizon
    assert BOP_GRID == (3e-4, 1e-3, 3e-3, 1e-2, 3e-2)  # 3e-2 past sec52_tuned's edge pick
    assert ADAM_GRID == (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
    for epochs in HORIZONS:
        t = TUNINGS[f"sec52_horizon_{epochs}"]
        assert [a.experiment for a in t.arms] == ["sec52_bop", "sec52_adam", "sec52_bop2ndorder"]
        assert len({len(a.values) for a in t.arms}) == 1  # the same budget for every arm
        assert t.seeds == LADDER_SEEDS[epochs] and t.tuning_seed == 0
        assert t.hold_edge_picks  # an edge pick's seeds wait for a wider grid
        for arm in t.arms:
            exp = build(EXPERIMENTS[arm.experiment],
                        t.run_overrides(arm, arm.values[-1], seed=1))
            c = exp.resolved_config()
            assert (c["epochs"], c["train_subset"], c["precision"], c["validation"]) == (
                epochs, 15000, LONG_PRECISION, "holdout"), arm.experiment
            assert c[arm.key] == arm.values[-1]
            decay = {"sec52_bop": "optimizer.gamma.every_epochs",
                     "sec52_adam": "optimizer.lr.every_epochs"}.get(arm.experiment)
            if decay:  # x0.1 after 3/8 and 6/8 of every run, as at the quick horizon
                assert c[decay] == 3 * epochs // 8
            else:  # Bop2ndOrder's schedules are linear over the run itself
                assert c["optimizer.gamma"] == "Linear"


def test_the_sample_size_and_the_margin_are_declared_before_the_runs():
    """Six seeds for the two longest rungs, three for the others; the seeds already run
    (0-2) stay the first ones, so their run folders keep their ids; the margin is +-2 pp."""
    assert LADDER_SEEDS == {8: (0, 1, 2), 16: (0, 1, 2), 32: (0, 1, 2, 3, 4, 5),
                            64: (0, 1, 2, 3, 4, 5)}
    assert set(LADDER_SEEDS) == set(HORIZONS)
    assert LADDER_MARGIN_PP == 2.0 and analysis.HORIZON_MARGIN_PP == LADDER_MARGIN_PP
    for epochs in (32, 64):
        t = TUNINGS[f"sec52_horizon_{epochs}"]
        assert "6 seeds of the pick" in t.description
    # declared runs: 3 arms x (5 grid values + the pick's seeds other than the grid's own)
    from types import SimpleNamespace

    from experiments.report.tuned import rung_progress
    for epochs, declared in ((8, 21), (16, 21), (32, 30), (64, 30)):
        t = TUNINGS[f"sec52_horizon_{epochs}"]
        nothing = {a.name: SimpleNamespace(arm=a, grid={}, finals=[]) for a in t.arms}
        assert rung_progress(t, nothing) == (0, declared)


def test_the_64_epoch_rung_builds_every_run_before_any_trains(tmp_path):
    """`bnn run-group sec52_horizon_64` validates all its runs first: every grid value of
    every arm on every declared seed is built, with the rung's protocol in its config."""
    from experiments.cli import _build_named as build  # the experiments themselves
    from experiments.engine import drive

    t = TUNINGS["sec52_horizon_64"]
    built = []

    def counting(name, overrides):
        exp = build(name, overrides)
        built.append((name, overrides["seed"], overrides[next(a.key for a in t.arms
                                                             if a.experiment == name)]))
        c = exp.resolved_config()
        assert (c["epochs"], c["train_subset"], c["holdout"], c["precision"], c["validation"],
                c["final_test"]) == (64, 15000, 5000, LONG_PRECISION, "holdout", True)
        return exp

    drive.check_tuning(t, counting, {})
    assert len(set(built)) == 3 * 5 * 6
    assert {seed for _, seed, _ in built} == set(range(6))


def test_a_bad_override_of_the_64_epoch_rung_fails_before_any_data(tmp_path, capsys):
    from experiments.cli import main

    code = main(["run-group", "sec52_horizon_64", "model.filtres=8",
                 f"data_dir={tmp_path / 'no-data'}", f"results_dir={tmp_path / 'runs'}"])
    assert code == 2 and "filtres" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "no-data").exists()


def test_every_committed_ladder_run_is_still_found_by_its_rung():
    """The six-seed declaration and the 64-epoch rung leave the committed runs where they
    were: every committed run of the ladder's protocol (holdout, 15,000 images, the long
    precision) is found by its rung - as a grid run or a seed of a pick - under the same
    run id, and the rung finds no other folder."""
    from experiments.analysis.collect import load_run
    from experiments.engine.tuning import resolve
    from experiments.report.selection import builder

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    root = os.path.join(repo, "results", "runs")
    arms = {a.experiment for t in (TUNINGS[n] for n in analysis.HORIZON_LADDER) for a in t.arms}
    committed = {}
    for path in glob.glob(os.path.join(root, "*", "*", "config.json")):
        c = json.load(open(path))
        if (os.path.basename(os.path.dirname(os.path.dirname(path))) in arms
                and c.get("validation") == "holdout" and c.get("train_subset") == 15000
                and c.get("precision") == LONG_PRECISION):
            committed.setdefault(c["epochs"], set()).add(os.path.dirname(path))
    assert set(committed) <= set(HORIZONS) and {8, 16, 32} <= set(committed)
    for epochs in HORIZONS:
        t = TUNINGS[f"sec52_horizon_{epochs}"]
        found = set()
        for a in resolve(t, builder(root), lambda p: load_run(p, with_flips=False)):
            found |= {r.path for r in a.grid.values() if r is not None}
            found |= {r.path for r in a.finals}
        assert {os.path.abspath(p) for p in found} == {
            os.path.abspath(p) for p in committed.get(epochs, set())}, epochs


def test_a_ladder_verdict_is_interim_until_its_declared_seeds_are_in():
    """The verdict cells of one pair at one rung: interim while a pick has fewer seeds
    than declared, and the equivalence verdict read against the margin."""
    from types import SimpleNamespace

    from experiments.analysis.stats import difference
    from experiments.report.tuned import _verdict_cells

    t = TUNINGS["sec52_horizon_32"]  # six seeds declared
    a = SimpleNamespace(finals=[0] * 3)
    d = difference([0.800, 0.805, 0.810], [0.799, 0.806, 0.811])
    cells = _verdict_cells(t, a, a, d, LADDER_MARGIN_PP)
    assert cells[0].startswith("-0.03 [") and "(interim: inconclusive; n = 3, 3 of 6)" in cells[0]
    assert cells[1] == "interim (n = 3, 3 of 6): **equivalent**"
    six = SimpleNamespace(finals=[0] * 6)
    far = difference([0.70, 0.71, 0.70, 0.71, 0.70, 0.71], [0.80, 0.81, 0.80, 0.81, 0.80, 0.81])
    assert _verdict_cells(t, six, six, far, LADDER_MARGIN_PP)[1] == "**different**"
    assert _verdict_cells(t, six, six, None, LADDER_MARGIN_PP) == ["— (picks not run yet)", "—"]


def test_the_committed_ladder_reads_as_declared():
    """On the committed runs: the complete 8- and 16-epoch rungs' verdicts, the 32-epoch
    rung's interim ones against its six declared seeds, the 64-epoch rung's declared runs,
    and the trend stated as a description of the rungs only."""
    from experiments.report.tuned import horizon_section

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(repo, "results", "reported.yaml")) as f:
        reported = yaml.safe_load(f)["experiments"]
    text = "\n".join(horizon_section(os.path.join(repo, "results", "runs"), reported))
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines()
            if line[:3].strip("| ").isdigit()}
    assert list(rows) == ["8", "16", "32", "64"]
    assert "| 21 / 21 |" in rows["8"] and "| 3 / 3 |" in rows["8"]
    assert rows["8"].count("**different**") == 2  # both pairs' intervals lie beyond 2 pp
    assert "-1.82 [-5.17, +1.53] (inconclusive; n = 3, 3) | **inconclusive** |" in rows["16"]
    assert "/ 30 |" in rows["32"] and "/ 30 |" in rows["64"]
    # each rung names the machines that made its runs (the 16-epoch rung's came from two)
    assert "| Intel Xeon (AMX) · 2 cores |" in rows["8"]
    assert "| AMD EPYC Zen 4 · 2 cores, Intel Xeon (AMX) · 2 cores |" in rows["16"]
    assert "±2 pp" in text and "`LADDER_MARGIN_PP`" in text
    assert "pp per doubling of the training length" in text and "not extrapolated" in text


@pytest.mark.slow
def test_the_long_protocol_runs_end_to_end_at_tiny_scale(fake_cifar10, tmp_path, monkeypatch):
    from experiments.cli import main
    from experiments.report.figures import horizon_figure
    from experiments.report.tuned import horizon_section

    for name in analysis.HORIZON_LADDER:
        monkeypatch.setitem(TUNINGS, name, tiny_rung(TUNINGS[name]))
    monkeypatch.setitem(GROUPS, "cifar10_long", [f"{n} scale=tiny seed=0" for n in SEC51[:2]]
                        + list(analysis.HORIZON_LADDER))
    root = str(tmp_path / "runs")
    args = ["run-group", "cifar10_long", f"data_dir={fake_cifar10[0]}", f"results_dir={root}",
            "progress=False", "workers=1", "warmup_s=0"]
    # worker 0 trains its share of the grids, finds no pick (worker 1 still has its share)
    assert main(args + ["shard=0/2"]) == 1
    assert main(args + ["shard=1/2"]) == 0  # the rest of the grids, then its share of seeds
    assert main(args + ["shard=0/2"]) == 0  # now worker 0's share of the picked seeds
    assert main(args) == 0  # nothing left: every run is found complete and skipped
    with open("results/reported.yaml") as f:
        reported = yaml.safe_load(f)["experiments"]
    text = "\n".join(horizon_section(root, reported))
    rows = [line for line in text.splitlines() if line[:3].strip("| ").isdigit()]
    assert [row.split(" | ")[0] for row in rows] == ["| 1", "| 2", "| 4", "| 8"]
    for row in rows:
        assert "| 9 / 9 |" in row and "(picks not run yet)" not in row, row  # 3 x (2 + 1)
        assert "| 2 / 2 |" in row and "interim" not in row, row  # every pick's seeds are in
        assert re.search(r"\| \*\*(equivalent|different|inconclusive)\*\* \|", row), row
    # the wall-time column adds up what the rungs' runs recorded (each row rounded to 1 s)
    shown = [re.fullmatch(r"(\d+)m(\d\d)s", row.split(" | ")[2]) for row in rows]
    recorded = sum(json.load(open(p))["wall_time_s"]
                   for p in glob.glob(os.path.join(root, "sec52_*", "*", "summary.json")))
    assert abs(sum(60 * int(m[1]) + int(m[2]) for m in shown) - recorded) <= 1.5, shown
    assert "Not on the ladder: the paper's full-scale runs" in text and "+0.4 pp" in text
    assert "Trend of Bop − latent Adam with length" in text
    paths = horizon_figure(root, str(tmp_path / "figures"))
    assert any(p.endswith("figure2-horizons.png") for p in paths)
    assert all(os.path.getsize(p) > 0 for p in paths)


@pytest.mark.slow
def test_a_new_optimizer_joins_the_ladder_with_one_command(fake_cifar10, tmp_path,
                                                           monkeypatch):
    """docs/extending.md's `bnn compare` line, at tiny scale, with its SignSGD file as a plug-in:
    its grid is tuned on the holdout and its pick's seeds trained, by the rung's protocol;
    recorded, the entrant is an arm of the report's ladder table and its claims."""
    import json
    import subprocess
    import sys

    from experiments.engine import compare
    from experiments.report.tuned import horizon_section

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    readme = open(os.path.join(repo, "docs", "extending.md")).read()
    code = readme[readme.index("## Add an optimizer"):].split("```python\n", 1)[1].split("```")[0]
    (tmp_path / "my_sign_sgd.py").write_text(code)
    line = next(l for l in readme.splitlines() if l.startswith("bnn compare") and "tiny" in l)
    root = tmp_path / "try" / "runs"
    args = line.split()[1:]
    args = [a if not a.startswith("results_dir=") else f"results_dir={root}" for a in args]
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{repo}",
           "BNN_PLUGINS": "my_sign_sgd", "TF_USE_LEGACY_KERAS": "1"}
    done = subprocess.run([sys.executable, "-m", "experiments", *args,
                           f"data_dir={fake_cifar10[0]}", "progress=False", "warmup_s=0"],
                          cwd=repo, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "picked lr = " in done.stdout and "for SignSGD" in done.stdout, done.stdout[-2000:]
    trained = [json.load(open(os.path.join(root, "sec52_bop", d, "config.json")))
               for d in os.listdir(root / "sec52_bop")]
    assert len(trained) == 3 and all(c["optimizer"] == "SignSGD" for c in trained)  # 2 + 1 seed
    assert {c["validation"] for c in trained} == {"holdout"}
    assert not os.path.exists(compare.folder(str(root)))  # a tiny trial is not recorded

    # recorded beside the runs, the entrant is one more arm of the ladder's report
    monkeypatch.setenv("BNN_PLUGINS", "my_sign_sgd")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in analysis.HORIZON_LADDER:
        monkeypatch.setitem(TUNINGS, name, tiny_rung(TUNINGS[name]))
    compare.save(str(root), compare.Entrant("SignSGD", "SignSGD", "optimizer.lr.value",
                                            (0.01, 0.05), (8,), {}, "my_sign_sgd"))
    with open(os.path.join(repo, "results", "reported.yaml")) as f:
        reported = yaml.safe_load(f)["experiments"]
    text = "\n".join(horizon_section(str(root), reported))
    assert "SignSGD − Bop (pp)" in text and "SignSGD lr = " in text
