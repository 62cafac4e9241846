"""Tuned reduced-scale comparisons: the pick is made on the holdout only, the picked
value's seeds are trained through the CLI, and the report shows the same runs."""
import json
import os

import pytest

import configs
from experiments.cli import main
from experiments.errors import ConfigError
from experiments.engine.tuning import Arm, Tuning, select


class _FakeExp:
    def __init__(self, path):
        self.path = path

    def run_dir(self):
        return self.path


def _grid_run(root, value, *, holdout, test, status="completed", split="holdout"):
    path = os.path.join(root, f"v{value:g}")
    os.makedirs(path)
    summary = {"status": status, "epochs_done": 8, "epochs_planned": 8,
               "validation_split": split, "final_val_accuracy": holdout,
               "test_accuracy": test, "error": "DivergenceError: loss nan at step 3"}
    with open(os.path.join(path, "summary.json"), "w") as f:
        json.dump(summary, f)
    return value, _FakeExp(path)


ARM = Arm("sec52_bop", "optimizer.gamma.value", (1e-4, 1e-3, 3e-3, 1e-2), "Bop", "γ")


def test_the_pick_follows_the_holdout_never_the_test_split(tmp_path):
    root = str(tmp_path)
    grid = [_grid_run(root, 1e-4, holdout=0.40, test=0.70),  # best on test: must not win
            _grid_run(root, 1e-3, holdout=0.55, test=0.50),
            _grid_run(root, 3e-3, holdout=0.55, test=0.52),  # tie: the earlier value wins
            _grid_run(root, 1e-2, holdout=0.0, test=0.0, status="failed")]
    selection = select(ARM, grid)
    assert selection.picked == 1e-3
    assert selection.holdout == {1e-4: 0.40, 1e-3: 0.55, 3e-3: 0.55}
    assert selection.failed == {1e-2: "DivergenceError: loss nan at step 3"}
    assert selection.complete


def test_no_pick_until_every_grid_run_has_ended(tmp_path):
    root = str(tmp_path)
    grid = [_grid_run(root, 1e-4, holdout=0.40, test=0.7),
            _grid_run(root, 1e-3, holdout=0.90, test=0.5, status="running"),
            (3e-3, _FakeExp(os.path.join(root, "never-started"))),
            _grid_run(root, 1e-2, holdout=0.3, test=0.3)]
    selection = select(ARM, grid)
    assert selection.picked is None and selection.missing == [1e-3, 3e-3]


def test_a_grid_run_validated_on_the_test_split_is_refused(tmp_path):
    grid = [_grid_run(str(tmp_path), 1e-4, holdout=0.4, test=0.4, split="test")]
    with pytest.raises(ConfigError, match="never see the test split"):
        select(ARM, grid)


def test_a_declaration_reuses_its_tuning_seed_and_refuses_repeats():
    with pytest.raises(ValueError, match="tuning_seed"):
        Tuning("t", "5.2", "quick", (ARM,), seeds=(1, 2), tuning_seed=0)
    with pytest.raises(ValueError, match="without repeats"):
        Tuning("t", "5.2", "quick", (Arm("sec52_bop", "optimizer.gamma.value", (1e-3, 1e-3), "Bop"),))


def test_declared_claims_name_arms_and_follow_the_arms_run():
    arms = (Arm("sec52_bop", "optimizer.gamma.value", (1e-3,), "Bop"),
            Arm("sec52_adam", "optimizer.lr.value", (1e-3,), "Adam"),
            Arm("sec52_bop2ndorder", "optimizer.gamma.value", (1e-3,), "B2"))
    t = Tuning("t", "5.2", "tiny", arms, claims=(("sec52_bop", "sec52_adam", "paper"),
                                                 ("sec52_bop2ndorder", "sec52_bop", "theirs")))
    assert t.comparisons() == [("sec52_bop", "sec52_adam", "paper"),
                               ("sec52_bop2ndorder", "sec52_bop", "theirs")]
    only = t.with_arms(["sec52_bop", "sec52_adam"])
    assert [a.label for a in only.arms] == ["Bop", "Adam"]
    assert only.comparisons() == [("sec52_bop", "sec52_adam", "paper")]
    assert Tuning("u", "5.2", "tiny", arms).comparisons() == [
        ("sec52_bop", "sec52_adam", ""), ("sec52_bop", "sec52_bop2ndorder", "")]
    with pytest.raises(ValueError, match="must name two of its arms"):
        Tuning("v", "5.2", "tiny", arms[:2], claims=(("sec52_bop", "sec52_sgd", ""),))


class _DoneExp(_FakeExp):
    """A run whose folder is already written: ``run`` only records that it was asked."""
    trained = []

    def __init__(self, path):
        super().__init__(path)
        self.name = os.path.basename(path)

    def run(self):
        _DoneExp.trained.append(self.path)


def _edge_case(root, holdout_by_value, hold=True):
    """A three-value comparison whose grid runs (seed 0, in ``_grid_run``'s folders) ended
    with ``holdout_by_value``, and a ``build`` that names the other seeds' runs "-s<seed>"."""
    t = Tuning("edgy", "5.2", "tiny", (Arm("sec52_bop", "optimizer.gamma.value",
                                           tuple(holdout_by_value), "Bop", "γ"),),
               seeds=(0, 1, 2), hold_edge_picks=hold)

    def build(name, overrides):
        seed = overrides["seed"]
        return _DoneExp(os.path.join(root, f"v{overrides['optimizer.gamma.value']:g}"
                                           + (f"-s{seed}" if seed else "")))
    for value, acc in holdout_by_value.items():
        _grid_run(root, value, holdout=acc, test=0.0)
    return t, build


def test_a_pick_on_its_grids_edge_waits_for_a_wider_grid_when_declared_so(tmp_path):
    from experiments.engine import drive
    from experiments.engine.tuning import edge_hold, grid

    with pytest.raises(ValueError, match="no inner value"):
        Tuning("t", "5.2", "quick", (Arm("sec52_bop", "optimizer.gamma.value", (1e-3, 1e-2),
                                         "Bop"),), hold_edge_picks=True)
    for root, accs, hold, waits in (
            ("low", {1e-4: 0.6, 1e-3: 0.5, 1e-2: 0.4}, True, True),  # smallest value wins
            ("high", {1e-4: 0.4, 1e-3: 0.5, 1e-2: 0.6}, True, True),  # largest value wins
            ("inner", {1e-4: 0.4, 1e-3: 0.6, 1e-2: 0.5}, True, False),
            ("undeclared", {1e-4: 0.6, 1e-3: 0.5, 1e-2: 0.4}, False, False)):
        t, build = _edge_case(str(tmp_path / root), accs, hold)
        (arm,) = t.arms
        why = edge_hold(t, select(arm, grid(t, arm, build)))
        assert bool(why) == waits, root
        if waits:
            value = "0.0001" if root == "low" else "0.01"
            side = "smallest" if root == "low" else "largest"
            assert f"γ = {value}, the {side} value of its grid 0.0001, 0.001, 0.01" in why
            assert "Widen that grid in the declaration" in why
        # the one-process path and a shard's second step train seeds only for a kept pick
        for run in (lambda o: drive.run_tuning(t, build, {}, o),
                    lambda o: drive.run_sharded([(t, {})], (0, 1), build, o)):
            _DoneExp.trained.clear()
            outcomes = drive.Outcomes()
            run(outcomes)
            seeds = [p for p in _DoneExp.trained if "-s" in os.path.basename(p)]
            assert (seeds == []) == waits and outcomes.edge == ([why] if waits else []), root
            assert outcomes.exit_code() == (1 if waits else 0)


TOY = Tuning(
    name="toy_tuned", section="5.2", scale="tiny", seeds=(0, 1), description="toy",
    arms=(Arm("sec52_bop", "optimizer.gamma.value", (1e-4, 1e-2), "Bop", "γ"),
          Arm("sec52_adam", "optimizer.lr.value", (1e-3,), "latent Adam", "lr")),
    overrides={"holdout": 20, "train_subset": 60})


def _summaries(root, experiment):
    folder = os.path.join(root, experiment)
    out = {}
    for run_id in sorted(os.listdir(folder)):
        with open(os.path.join(folder, run_id, "summary.json")) as f:
            summary = json.load(f)
        with open(os.path.join(folder, run_id, "config.json")) as f:
            config = json.load(f)
        out[run_id] = (config, summary)
    return out


@pytest.mark.slow
def test_run_group_tunes_on_the_holdout_then_trains_the_seeds_of_the_pick(
        fake_cifar10, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(configs.TUNINGS, TOY.name, TOY)
    data_dir = fake_cifar10[0]
    root = str(tmp_path / "runs")
    args = ["run-group", TOY.name, f"data_dir={data_dir}", f"results_dir={root}", "progress=False",
            "workers=1", "warmup_s=0"]
    assert main(args) == 0
    bop = _summaries(root, "sec52_bop")
    grid = {c["optimizer.gamma.value"]: s for c, s in bop.values() if c["seed"] == 0}
    assert set(grid) == {1e-4, 1e-2}
    for config, summary in bop.values():
        assert config["validation"] == "holdout" and config["final_test"] is True
        assert summary["validation_split"] == "holdout" and summary["val_split"] == "train[-20:]"
        assert summary["train_split"] == "train[:60]" and summary["test_split"] == "test"
        assert 0 <= summary["test_accuracy"] <= 1
    picked = max((1e-4, 1e-2), key=lambda v: grid[v]["final_val_accuracy"])
    seed1 = [c["optimizer.gamma.value"] for c, s in bop.values() if c["seed"] == 1]
    assert seed1 == [picked]  # only the pick gets more seeds
    assert len(_summaries(root, "sec52_adam")) == 2  # one grid value: seeds 0 and 1
    assert f"picked γ = {picked:g} for Bop" in capsys.readouterr().out
    # a second call trains nothing new
    assert main(args) == 0
    assert "already completed" in capsys.readouterr().out

    from experiments.report import tables as report

    out = tmp_path / "REPORT.md"
    report.main(["--runs", root, "--out", str(out), "--figures", str(tmp_path / "figures")])
    text = out.read_text().split("### Tuned comparison at tiny scale, float32 (`toy_tuned`)")[1]
    assert "| Bop | γ | 0.0001 |" in text and "✓ picked" in text
    assert f"| Bop | γ = {picked:g} | 2 |" in text
    verdict = [line for line in text.splitlines() if line.startswith("| Tuned alike")][0]
    assert "(n = 2)" in verdict and "95 % CI" in verdict
    # the tuned runs appear in their section only, not as extra rows of the §5.2 table
    assert not [line for line in out.read_text().splitlines() if line.startswith("| `sec52_bop`")
                and "tiny" in line]


def test_a_tuning_fixes_its_own_scale_and_seeds(fake_cifar10, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(configs.TUNINGS, TOY.name, TOY)
    assert main(["run-group", TOY.name, "scale=quick", f"results_dir={tmp_path}"]) == 2
    assert "toy_tuned fixes scale itself" in capsys.readouterr().err
    assert not os.listdir(tmp_path)


def test_both_bop2ndorder_arms_are_declared_with_their_published_claims():
    """Bop and Beyond's two forms, each with Bop's grid and its own CIFAR-10 preset's other
    schedules; the claims their README makes: biased 91.9 % > Bop 91.3 %, unbiased 91.4 % >
    Bop, biased > unbiased."""
    from experiments.engine.experiment import build

    tuned = configs.TUNINGS["sec52_tuned"]
    arms = {a.experiment: a for a in tuned.arms}
    bop = arms["sec52_bop"]
    for name in ("sec52_bop2ndorder", "sec52_bop2ndorder_unbiased"):
        assert (arms[name].key, arms[name].values) == (bop.key, bop.values)
        exp = build(configs.EXPERIMENTS[name], tuned.run_overrides(arms[name], 1e-3, 0))
        c = exp.resolved_config()
        assert (c["scale"], c["train_subset"], c["validation"]) == ("quick", 15000, "holdout")
        assert (c["optimizer.gamma.value"], c["optimizer.gamma.end"]) == (1e-3, 1e-5)
        assert (c["optimizer.sigma.value"], c["optimizer.sigma.end"]) == (1e-7, 1e-2)
        assert (c["optimizer.tau.value"], c["optimizer.tau.end"]) == (1e-5, 1e-8)
        assert (c["optimizer.real_lr.value"], c["optimizer.real_lr.end"]) == (1e-2, 1e-3)
    assert build(configs.EXPERIMENTS["sec52_bop2ndorder_unbiased"],
                 tuned.run_overrides(arms["sec52_bop2ndorder_unbiased"], 1e-3, 0)
                 ).resolved_config()["optimizer"] == "Bop2ndOrderUnbiased"
    claims = {c[:2]: c[2] for c in tuned.comparisons()}
    assert "91.4 %" in claims["sec52_bop2ndorder_unbiased", "sec52_bop"]
    assert "91.9 %" in claims["sec52_bop2ndorder", "sec52_bop2ndorder_unbiased"]
    assert "91.4 %" in claims["sec52_bop2ndorder", "sec52_bop2ndorder_unbiased"]


def _fake_arm_runs(root, tuning, arm, holdout, tests):
    """Completed holdout runs of one arm, where ``run-group`` would put them: the grid
    (seed 0, holdout accuracy per value) and the best value's other seeds."""
    from experiments.cli import _build_named  # the experiments themselves: their configs
    from tests.test_report import write_run

    picked = max(arm.values, key=lambda v: holdout[v])
    runs_ = [(v, tuning.tuning_seed) for v in arm.values] + [
        (picked, s) for s in tuning.seeds if s != tuning.tuning_seed]
    for value, seed in runs_:
        exp = _build_named(arm.experiment,
                           {**tuning.run_overrides(arm, value, seed), "results_dir": root})
        acc = holdout[value] + 0.001 * seed
        path = write_run(root, arm.experiment, os.path.basename(exp.run_dir()), val=[acc],
                         seed=seed, config_extra=exp.resolved_config())
        with open(os.path.join(path, "summary.json")) as f:
            summary = json.load(f)
        test = tests[seed] if value == picked else acc
        summary.update(validation_split="holdout", test_accuracy=test, final_train_accuracy=acc)
        with open(os.path.join(path, "summary.json"), "w") as f:
            json.dump(summary, f)


def test_the_report_shows_the_unbiased_arm_and_says_when_its_runs_are_missing(tmp_path):
    from experiments.report import tables as report

    tuned = configs.TUNINGS["sec52_tuned"]
    arms = {a.experiment: a for a in tuned.arms}
    root = str(tmp_path / "runs")
    grid = {1e-4: 0.40, 1e-3: 0.50, 3e-3: 0.60, 1e-2: 0.55}
    _fake_arm_runs(root, tuned, arms["sec52_bop"], grid, {0: 0.50, 1: 0.52, 2: 0.51})
    _fake_arm_runs(root, tuned, arms["sec52_bop2ndorder"], grid, {0: 0.60, 1: 0.61, 2: 0.62})

    def tuned_text():
        out = tmp_path / "REPORT.md"
        report.main(["--runs", root, "--out", str(out), "--figures", str(tmp_path / "figures")])
        return out.read_text().split("(`sec52_tuned`)")[1].split("\n### ")[0]

    def verdict(text, higher, lower):
        start = f"| Tuned alike, {higher} reaches a higher test accuracy than {lower} ("
        (line,) = [line for line in text.splitlines() if line.startswith(start)]
        return line

    text = tuned_text()
    assert "| Bop2ndOrder (unbiased) | γ | 0.0001 | — | not run yet | — |" in text
    assert ("| Bop2ndOrder (unbiased) | — (grid incomplete: 0.0001, 0.001, 0.003, 0.01) | 0 |"
            in text) and "`bnn run-group beyond_quick` makes them" in text
    missing = ("**not checked** | Bop2ndOrder (unbiased): no picked runs (`bnn run-group "
               "beyond_quick` makes them)")
    assert missing in verdict(text, "Bop2ndOrder (unbiased)", "Bop")
    assert missing in verdict(text, "Bop2ndOrder (biased)", "Bop2ndOrder (unbiased)")
    assert "**holds**" in verdict(text, "Bop2ndOrder (biased)", "Bop")

    # once its runs exist: its picked row and both of its verdicts, with their intervals
    _fake_arm_runs(root, tuned, arms["sec52_bop2ndorder_unbiased"], grid,
                   {0: 0.56, 1: 0.57, 2: 0.55})
    text = tuned_text()
    assert "| Bop2ndOrder (unbiased) | γ = 0.003 | 3 | 56.00 ± 1.00 |" in text
    assert "**holds** | test accuracy, Bop2ndOrder (unbiased): 56.00 ± 1.00 (n = 3)" in verdict(
        text, "Bop2ndOrder (unbiased)", "Bop")
    assert "**holds** | test accuracy, Bop2ndOrder (biased): 61.00 ± 1.00 (n = 3)" in verdict(
        text, "Bop2ndOrder (biased)", "Bop2ndOrder (unbiased)")
    unbiased = [line for line in text.splitlines() if "Bop2ndOrder (unbiased)" in line]
    assert not [line for line in unbiased if "not run yet" in line or "makes them" in line]
    # latent Adam has no runs in this tree: its claim names the group that makes them
    assert "latent Adam: no picked runs (`bnn run-group cifar10_quick` makes them)" in verdict(
        text, "Bop", "latent Adam")
