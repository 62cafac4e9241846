"""Reduced-scale comparisons with an equal tuning budget
(``docs/methods.md#a-fair-comparison-at-reduced-scale``).

Keeping the paper's hyperparameters at a reduced length handicaps some optimizers by
construction: Bop's gamma sets an averaging horizon of ~1/gamma steps, which at
gamma = 1e-4 is longer than a whole quick run, while Adam's per-step movement does not
depend on run length. A fair reduced-scale comparison therefore gives every optimizer
the same small grid of its own main hyperparameter, picks each one's best on a held-out
split of the *training* images, and only then reports the picked settings' test
accuracy over several seeds.

A ``Tuning`` is a declaration (``configs/`` holds them). Its protocol:

1. every grid value of every arm is trained once (``tuning_seed``) with
   ``validation=holdout`` (the last ``holdout`` training images) and ``final_test=True``
   (the test split evaluated once, after the last epoch, and never used to choose);
2. ``select`` picks, per arm, the value with the highest final-epoch holdout accuracy
   (ties: the earlier grid value); diverged (failed) values drop out, named;
3. the picked value is trained on every seed of ``seeds``; the ``tuning_seed`` run is
   the one from step 1 (same config, same folder), so it is not trained twice. With
   ``hold_edge_picks``, a pick on the first or last value of its grid trains no seeds:
   its best value may lie outside the grid, so the declaration widens the grid first
   (``edge_hold`` says so) and no seed is spent on a value the wider grid may drop;
4. the report pools the picked runs' test accuracy (mean, std, interval).

The engine never imports ``configs``: callers pass ``build(experiment_name, overrides)``.
"""
import os
from dataclasses import dataclass, field, replace

from experiments.engine import runs
from experiments.errors import ConfigError, RunFolderError

# What makes a run a tuning run: validated on the holdout, tested once at the end.
PROTOCOL = {"validation": "holdout", "final_test": True}


@dataclass(frozen=True)
class Arm:
    """One optimizer of a comparison: an experiment and the field its grid varies."""
    experiment: str  # e.g. "sec52_bop"
    key: str  # the dotted config key tuned, e.g. "optimizer.gamma.value"
    values: tuple  # the grid, in the order ties are broken
    label: str  # how tables and figures name it, e.g. "Bop"
    symbol: str = ""  # how the tuned value is written, e.g. "γ"
    # this arm's own settings on every run (after the comparison's), e.g. the decay
    # interval of its schedule at a longer horizon, or another optimizer on its experiment
    overrides: dict = field(default_factory=dict, hash=False)
    id: str = ""  # how claims and tables name the arm; default: its experiment

    @property
    def name(self) -> str:
        return self.id or self.experiment


@dataclass(frozen=True)
class Tuning:
    """A declared comparison: arms, scale, seeds; see the module docstring."""
    name: str
    section: str
    scale: str
    arms: tuple
    seeds: tuple = (0, 1, 2)
    tuning_seed: int = 0
    description: str = ""
    overrides: dict = field(default_factory=dict)  # shared by every run, after PROTOCOL
    # The published claims it checks: (higher, lower, source) = "arm `higher` (an
    # experiment name) reaches a higher test accuracy than arm `lower`", as `source` says.
    # Empty: the first arm against every later one, with no source.
    claims: tuple = ()
    # True: a pick on an edge of its grid waits for a wider grid (step 3 above)
    hold_edge_picks: bool = False

    def __post_init__(self):
        if self.tuning_seed not in self.seeds:
            raise ValueError(f"{self.name}: tuning_seed {self.tuning_seed} must be one of the "
                             f"seeds {self.seeds} (its grid run is reused as that seed)")
        names = [arm.name for arm in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: two arms share the name {names}; give one an id")
        for higher, lower, _ in self.claims:
            if higher not in names or lower not in names:
                raise ValueError(f"{self.name}: claim ({higher}, {lower}) must name two of its "
                                 f"arms {names}")
        for arm in self.arms:
            if len(set(arm.values)) != len(arm.values) or not arm.values:
                raise ValueError(f"{self.name}: {arm.name}'s grid {arm.values} must be "
                                 "non-empty without repeats")
            if self.hold_edge_picks and len(arm.values) < 3:
                raise ValueError(f"{self.name}: {arm.name}'s grid {arm.values} has no inner "
                                 "value, so with hold_edge_picks no pick could train seeds; "
                                 "give it three values or more")

    def comparisons(self) -> list:
        """``(higher, lower, source)`` triples of the claims to check."""
        names = [arm.name for arm in self.arms]
        return list(self.claims or tuple((names[0], b, "") for b in names[1:]))

    def with_arms(self, names) -> "Tuning":
        """This comparison restricted to the arms of the experiments ``names`` (and the
        claims between them): what a group runs when it names some arms only."""
        known = [a.name for a in self.arms]
        if not names or any(n not in known for n in names):
            raise ConfigError(f"{self.name}: arms={','.join(names)!r} must name some of its "
                              f"arms: {', '.join(known)}")
        return replace(
            self, arms=tuple(a for a in self.arms if a.name in names),
            claims=tuple(c for c in self.claims if c[0] in names and c[1] in names))

    def run_overrides(self, arm: Arm, value, seed: int, extra=None) -> dict:
        return {**PROTOCOL, **self.overrides, **arm.overrides, **(extra or {}),
                "scale": self.scale, "seed": seed, arm.key: value}


@dataclass
class Selection:
    """The outcome of step 2 for one arm."""
    arm: Arm
    holdout: dict  # value -> final holdout accuracy (completed grid runs)
    failed: dict  # value -> error of a grid run that ended `failed` (e.g. diverged)
    missing: list  # values whose grid run has not completed
    picked: object = None  # None until every grid run has ended

    @property
    def complete(self) -> bool:
        return not self.missing and self.picked is not None

    @property
    def on_edge(self) -> bool:
        """The pick is the grid's first or last value: its best may lie beyond."""
        return self.picked is not None and self.picked in (self.arm.values[0],
                                                           self.arm.values[-1])


def edge_hold(tuning: Tuning, selection: Selection) -> str:
    """Why the pick's seeds wait for a wider grid ("" when they may train now)."""
    if not (tuning.hold_edge_picks and selection.complete and selection.on_edge):
        return ""
    arm, v = selection.arm, selection.picked
    side = "smallest" if v == arm.values[0] else "largest"
    return (f"{tuning.name}: {arm.label} picked {arm.symbol or arm.key} = {v:g}, the {side} "
            f"value of its grid {', '.join(f'{x:g}' for x in arm.values)}, so its best value "
            "may lie beyond it; its seeds wait. Widen that grid in the declaration with a "
            f"value beyond {v:g}, then run the same command again (its finished runs are "
            "kept)")


def _summary(run_dir: str):
    path = os.path.join(run_dir, "summary.json")
    if not os.path.exists(path):
        return None
    try:
        return runs.read_json(path)
    except RunFolderError:
        return None


def grid(tuning: Tuning, arm: Arm, build, extra=None) -> list:
    """``[(value, experiment), ...]``: step 1's runs of one arm, built (and validated)."""
    return [(v, build(arm.experiment, tuning.run_overrides(arm, v, tuning.tuning_seed, extra)))
            for v in arm.values]


def finals(tuning: Tuning, arm: Arm, value, build, extra=None) -> list:
    """``[(seed, experiment), ...]``: step 3's runs of the picked value."""
    return [(s, build(arm.experiment, tuning.run_overrides(arm, value, s, extra)))
            for s in tuning.seeds]


def select(arm: Arm, grid_runs: list) -> Selection:
    """Pick the value with the highest final-epoch *holdout* accuracy. Reads only the
    grid runs' summaries, and in them only the holdout numbers: a run validated on
    anything but the holdout is refused, so the test split cannot leak into the pick."""
    holdout, failed, missing = {}, {}, []
    for value, exp in grid_runs:
        summary = _summary(exp.run_dir())
        status = (summary or {}).get("status")
        if status == "failed":
            failed[value] = (summary.get("error") or "no reason recorded").splitlines()[0]
        elif status != "completed" or summary.get("epochs_done") != summary.get("epochs_planned"):
            missing.append(value)
        else:
            if summary.get("validation_split") != "holdout":
                raise ConfigError(f"{exp.run_dir()} was validated on "
                                  f"{summary.get('validation_split')!r}, not the holdout: a "
                                  "tuning pick must never see the test split")
            holdout[value] = summary["final_val_accuracy"]
    selection = Selection(arm, holdout, failed, missing)
    if not missing and holdout:
        # max() keeps the first of equal values: ties go to the earlier grid value
        selection.picked = max(arm.values, key=lambda v: holdout.get(v, -1.0))
    return selection


@dataclass
class ArmResult:
    """One arm as the report and the figures see it: the selection, the grid's runs
    (value -> loaded run or None) and the picked value's runs over seeds."""
    arm: Arm
    selection: Selection
    grid: dict
    finals: list  # loaded runs of the picked value, by seed (completed ones only)
    pending: list  # seeds of the picked value not completed yet


def resolve(tuning: Tuning, build, load_run) -> list:
    """Which runs feed a tuned comparison, by the same rule as ``run-group``: the run
    folders of the declared grid and of the picked value's seeds. The one place the
    report and the figures take them from. ``load_run(path)`` reads a folder (or raises
    ``ValueError``)."""
    results = []
    for arm in tuning.arms:
        grid_runs = grid(tuning, arm, build)
        selection = select(arm, grid_runs)
        loaded = {}
        for value, exp in grid_runs:
            try:
                loaded[value] = load_run(exp.run_dir())
            except (ValueError, OSError):
                loaded[value] = None
        final, pending = [], []
        if selection.picked is not None:
            for seed, exp in finals(tuning, arm, selection.picked, build):
                summary = _summary(exp.run_dir())
                if (summary or {}).get("status") == "completed" and "test_accuracy" in summary:
                    final.append(load_run(exp.run_dir()))
                else:
                    pending.append(seed)
        results.append(ArmResult(arm, selection, loaded, final, pending))
    return results


def run_dirs(tuning: Tuning, build) -> set:
    """Every folder a tuned comparison may own (all grid values x all seeds), so other
    tables can leave them out instead of showing them twice."""
    return {os.path.abspath(exp.run_dir()) for arm in tuning.arms for value in arm.values
            for _, exp in finals(tuning, arm, value, build)}
