"""Running many runs: a group's plan (plain runs and tuned comparisons), on one worker or
dealt over many (``shard=i/n``), and a tuned comparison's three steps in order: its grid,
the pick on the holdout, the picked value's seeds (``experiments.engine.tuning``).

The callers (``bnn run-group``, ``bnn compare``) pass ``build(experiment name,
overrides)`` and the declarations; the engine never imports ``configs``.
"""
import sys

from experiments.engine.sweep import shard_of
from experiments.engine.tuning import edge_hold, finals, grid, select
from experiments.errors import ConfigError, RunLockedError, SuiteError

# Fields a tuned comparison sets itself on every run (its protocol, scale and seeds).
TUNING_FIXES = ("scale", "seed", "validation", "final_test")


class Outcomes:
    """Runs of a group that failed, that another process holds, or whose comparison
    has no pick yet or a pick that waits for a wider grid: what the exit code reports."""

    def __init__(self):
        self.failed, self.busy, self.no_pick, self.count = [], [], [], 0
        self.edge = []  # why a pick's seeds wait for a wider grid (tuning.edge_hold)

    def run(self, exp, title) -> str:
        """Train ``exp`` (``"done"``), or record why not (``"busy"``, ``"failed"``)."""
        self.count += 1
        print(f"\n=== {title} ===", flush=True)
        try:
            exp.run()
        except RunLockedError as e:  # another process trains it: leave it to that one
            print(f"skipped: {e}", file=sys.stderr)
            self.busy.append(exp.name)
            return "busy"
        except SuiteError as e:  # e.g. divergence: record it and go on with the others
            print(f"error: {e}", file=sys.stderr)
            self.failed.append(exp.name)
            return "failed"
        return "done"

    def exit_code(self) -> int:
        """Print what did not get done; 1 if a run failed or a comparison has no pick
        (or one that waits for a wider grid), 3 if only runs held by other processes are
        left, else 0."""
        failed, busy, total = self.failed, self.busy, self.count
        if failed:
            print(f"\n{len(failed)} of {total} runs failed: {', '.join(failed)}", file=sys.stderr)
        if self.no_pick:
            print(f"\nno pick (and so no seeds) for: {', '.join(self.no_pick)}; re-run the "
                  "same command once the grid runs can complete (with shard=: once the other "
                  "workers have finished theirs)", file=sys.stderr)
        for why in self.edge:
            print(f"\n{why}", file=sys.stderr)
        if busy:
            print(f"\n{len(busy)} of {total} runs are being trained by other processes: "
                  f"{', '.join(busy)}", file=sys.stderr)
        return 1 if failed or self.no_pick or self.edge else 3 if busy else 0


def _label(arm) -> str:
    return arm.symbol or arm.key


def check_tuning(t, build, overrides) -> None:
    """Build (and so validate) every run the comparison ``t`` may need, before any trains."""
    fixed = sorted(k for k in overrides if k in TUNING_FIXES)
    if fixed:
        raise ConfigError(f"{t.name} fixes {', '.join(fixed)} itself (scale {t.scale}, seeds "
                          f"{t.seeds}); leave them off the command line")
    for arm in t.arms:
        grid(t, arm, build, overrides)
        for value in arm.values:
            finals(t, arm, value, build, overrides)


def run_tuning(t, build, overrides, outcomes: Outcomes) -> None:
    """Steps 1-3 of ``experiments.engine.tuning``: the grid, the pick, the seeds of the pick."""
    for arm in t.arms:
        grid_runs = grid(t, arm, build, overrides)
        for value, exp in grid_runs:
            outcomes.run(exp, f"{t.name}: {arm.label} {_label(arm)}={value:g} "
                              f"(tuning on the holdout, seed {t.tuning_seed})")
        selection = select(arm, grid_runs)
        print(f"\n{t.name}: {arm.label}, final holdout accuracy per {_label(arm)}: "
              + ", ".join(f"{v:g}: {100 * a:.2f} %" for v, a in selection.holdout.items())
              + "".join(f"; {v:g}: failed ({e})" for v, e in selection.failed.items()))
        if not selection.complete:
            lacking = selection.missing or list(arm.values)
            print(f"{t.name}: no pick for {arm.label}: grid value(s) "
                  f"{', '.join(f'{v:g}' for v in lacking)} not completed", file=sys.stderr)
            outcomes.no_pick.append(f"{t.name}: {arm.label}")
            continue
        why = edge_hold(t, selection)
        if why:
            print(why, file=sys.stderr)
            outcomes.edge.append(why)
            continue
        print(f"{t.name}: picked {_label(arm)} = {selection.picked:g} for "
              f"{arm.label}; training seeds {', '.join(map(str, t.seeds))}")
        for seed, exp in finals(t, arm, selection.picked, build, overrides):
            outcomes.run(exp, f"{t.name}: {arm.label} {_label(arm)}="
                              f"{selection.picked:g} (picked), seed {seed}")


def run_sharded(plan, shard, build, outcomes: Outcomes) -> None:
    """Worker i of n (``shard=i/n``): first the plain runs and every tuning's grid runs,
    dealt i, i+n, ...; then the picked value's other seeds of every arm whose grid is
    complete - trained by whichever workers - dealt the same way. An arm whose grid is
    still being trained elsewhere has no pick yet: a re-run of the same command, once
    the others are done, trains this worker's share of its seeds."""
    def deal(items):
        mine = shard_of(items, shard)
        for i, (title, exp) in enumerate(mine, 1):
            outcomes.run(exp, f"[{i}/{len(mine)} of shard {shard[0]}/{shard[1]}] {title}")

    first = []
    for what, item in plan:
        if isinstance(what, str):
            first.append((what, item))
            continue
        for arm in what.arms:
            first += [(f"{what.name}: {arm.label} {_label(arm)}={v:g} (grid)", exp)
                      for v, exp in grid(what, arm, build, item)]
    deal(first)
    second = []
    for what, item in plan:
        if isinstance(what, str):
            continue
        for arm in what.arms:
            selection = select(arm, grid(what, arm, build, item))
            if not selection.complete:
                outcomes.no_pick.append(f"{what.name}: {arm.label}")
                continue
            why = edge_hold(what, selection)
            if why:
                outcomes.edge.append(why)
                continue
            second += [(f"{what.name}: {arm.label} {_label(arm)}="
                        f"{selection.picked:g} (picked), seed {seed}", exp)
                       for seed, exp in finals(what, arm, selection.picked, build, item)
                       if seed != what.tuning_seed]
    deal(second)


def run_plan(plan, build, shard=None) -> int:
    """Run a plan ``[(experiment name, built experiment) | (Tuning, overrides)]`` in order
    (or this worker's share of it); returns the exit code of ``Outcomes.exit_code``."""
    outcomes = Outcomes()
    if shard is not None:
        run_sharded(plan, shard, build, outcomes)
    else:
        for i, (what, item) in enumerate(plan, 1):
            if isinstance(what, str):
                outcomes.run(item, f"[{i}/{len(plan)}] {what}")
            else:
                run_tuning(what, build, item, outcomes)
    return outcomes.exit_code()
