"""Bop's successors on the horizon ladder: the declared entrants (``SUCCESSORS`` in
``configs/cifar10.py``) are well-formed, outside the rungs' own runs, written in
``docs/successors.md`` as they are declared, and run end to end through ``bnn compare``."""
import json
import os
import subprocess
import sys

import pytest

from configs import EXPERIMENTS
from configs.cifar10 import HORIZON_LADDER, HORIZONS, SUCCESSOR_HORIZONS, SUCCESSORS
from experiments.engine.experiment import build

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def command(entrant, horizons=None) -> list:
    """The ``bnn compare`` arguments that enter ``entrant`` on the ladder."""
    values = ",".join(f"{v:g}" for v in entrant.values)
    rungs = ",".join(str(h) for h in (horizons or entrant.horizons))
    args = ["compare", entrant.optimizer]
    if entrant.label != entrant.optimizer:
        args.append(f"label={entrant.label}")
    return args + [f"grid.{entrant.key}=[{values}]", f"horizons=[{rungs}]"]


def test_each_successor_brings_the_budget_of_every_arm_on_every_rung():
    assert {e.optimizer for e in SUCCESSORS} == {"Cema", "BayesBiNN"}
    for entrant in SUCCESSORS:
        # every rung up to 32 epochs; the 64-epoch rung decides the paper's question first
        assert entrant.horizons == SUCCESSOR_HORIZONS == tuple(h for h in HORIZONS if h <= 32)
        for rung in HORIZON_LADDER:
            assert all(len(arm.values) == len(entrant.values) for arm in rung.arms)
            # an entrant, not a declared arm: the rungs' runs (and run ids) are untouched
            assert entrant.optimizer not in {arm.overrides.get("optimizer") for arm in rung.arms}
        for value in entrant.values:  # the grid key names the component's own field
            exp = build(EXPERIMENTS["sec52_bop"], {"optimizer": entrant.optimizer,
                                                   entrant.key: value})
            assert exp.resolved_config()[entrant.key] == value


def test_the_successors_runs_on_the_real_rungs_build_and_validate():
    """What `bnn compare` checks before it trains, for each rung with the entrants added:
    every grid value (and the seeds of one), at the rung's own scale, length and
    precision; the rung's declared arms are those of the rung itself."""
    from configs import analysis
    from experiments.engine import compare
    from experiments.engine.tuning import finals, grid

    def named(name, overrides):
        return build(EXPERIMENTS[name], overrides)

    for epochs, rung in zip(HORIZONS, HORIZON_LADDER):
        joined = compare.with_entrants(rung, epochs, SUCCESSORS, analysis.ENTRANT_BASE)
        assert joined.arms[:len(rung.arms)] == rung.arms
        for arm in joined.arms[len(rung.arms):]:
            runs = grid(joined, arm, named) + finals(joined, arm, arm.values[0], named)
            for _, exp in runs:
                config = exp.resolved_config()
                assert config["optimizer"] == arm.overrides["optimizer"]
                assert (config["epochs"], config["precision"], config["validation"]) == (
                    epochs, rung.overrides["precision"], "holdout")


def test_the_docs_give_the_declared_commands():
    text = open(os.path.join(REPO, "docs", "successors.md")).read()
    lines = {line.strip() for line in text.splitlines() if line.strip().startswith("bnn compare")}
    for entrant in SUCCESSORS:
        assert "bnn " + " ".join(command(entrant)) in lines, entrant.label


@pytest.mark.slow
@pytest.mark.parametrize("entrant", SUCCESSORS, ids=lambda e: e.label)
def test_a_successor_joins_the_shortest_rung_at_tiny_scale(entrant, fake_cifar10, tmp_path):
    """The declared command at tiny scale, in its own process: the five-point grid tuned
    on the holdout, the pick's seeds trained, every run completed with the successor."""
    root = tmp_path / "runs"
    args = command(entrant, horizons=(HORIZONS[0],)) + [
        "scale=tiny", f"data_dir={fake_cifar10[0]}", f"results_dir={root}", "progress=False",
        "warmup_s=0"]
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1"}
    done = subprocess.run([sys.executable, "-m", "experiments", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"for {entrant.label}; training seeds 0, 1" in done.stdout, done.stdout[-2000:]
    folder = root / "sec52_bop"
    summaries = [json.load(open(folder / d / "summary.json")) for d in os.listdir(folder)]
    configs = [json.load(open(folder / d / "config.json")) for d in os.listdir(folder)]
    # five grid runs (seed 0, the pick's seed-0 run among them) and the pick's seed 1
    assert len(configs) == len(entrant.values) + 1
    assert {c["optimizer"] for c in configs} == {entrant.optimizer}
    assert sorted({c[entrant.key] for c in configs}) == sorted(entrant.values)
    assert all(s["status"] == "completed" and "test_accuracy" in s for s in summaries)
