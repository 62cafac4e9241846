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
from configs.cifar10 import ADAM_GRID, BOP_GRID, HORIZONS, LONG_PRECISION
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
    assert members[15:] == ["sec52_horizon_8", "sec52_horizon_16", "sec52_horizon_32"]
    assert list(analysis.HORIZON_LADDER) == members[15:]


def test_the_ladder_rungs_are_pinned():
    assert HORIZONS == (8, 16, 32) and max(HORIZONS) >= 4 * 8  # 8 = the quick horizon
    assert BOP_GRID == (3e-4, 1e-3, 3e-3, 1e-2, 3e-2)  # 3e-2 past sec52_tuned's edge pick
    assert ADAM_GRID == (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
    for epochs in HORIZONS:
        t = TUNINGS[f"sec52_horizon_{epochs}"]
        assert [a.experiment for a in t.arms] == ["sec52_bop", "sec52_adam", "sec52_bop2ndorder"]
        assert len({len(a.values) for a in t.arms}) == 1  # the same budget for every arm
        assert t.seeds == (0, 1, 2)
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
            "progress=False"]
    # worker 0 trains its share of the grids, finds no pick (worker 1 still has its share)
    assert main(args + ["shard=0/2"]) == 1
    assert main(args + ["shard=1/2"]) == 0  # the rest of the grids, then its share of seeds
    assert main(args + ["shard=0/2"]) == 0  # now worker 0's share of the picked seeds
    assert main(args) == 0  # nothing left: every run is found complete and skipped
    with open("results/reported.yaml") as f:
        reported = yaml.safe_load(f)["experiments"]
    text = "\n".join(horizon_section(root, reported))
    rows = [line for line in text.splitlines() if line[:3].strip("| ").isdigit()]
    assert [row.split(" | ")[0] for row in rows] == ["| 1", "| 2", "| 4"]
    for row in rows:
        assert "| 9 / 9 |" in row and "(picks not run yet)" not in row, row  # 3 x (2 + 1)
    # the wall-time column adds up what the rungs' runs recorded (each row rounded to 1 s)
    shown = [re.fullmatch(r"(\d+)m(\d\d)s", row.split(" | ")[2]) for row in rows]
    recorded = sum(json.load(open(p))["wall_time_s"]
                   for p in glob.glob(os.path.join(root, "sec52_*", "*", "summary.json")))
    assert abs(sum(60 * int(m[1]) + int(m[2]) for m in shown) - recorded) <= 1.5, shown
    assert "Not on the ladder: the paper's full-scale runs" in text and "+0.4 pp" in text
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
                           f"data_dir={fake_cifar10[0]}", "progress=False"], cwd=repo, env=env,
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
