"""Command line: ``bnn {list,show,run,run-group,sweep,compare,remake,report,figures} ...`` (the console
command ``make install`` installs; ``python -m experiments ...`` is the same).

``bnn sweep NAME [shard=i/n] [key=value ...]`` runs a declared sweep, or an experiment
over ``grid.KEY=[v1,v2] seeds=[0,1]``; start it on as many workers as you like.

Overrides are ``key=value`` pairs with dotted keys for nested components, e.g.
``python -m experiments run sec52_bop scale=quick optimizer.gamma.value=1e-3``. Every
config named on a command line is built and validated before any data is loaded.
"""
import argparse
import dataclasses
import inspect
import os
import sys

from experiments import _keras2  # noqa: F401
from zookeeper.core.utils import parse_value_from_string

from experiments import plugins
from experiments.engine import runs
from experiments.errors import ConfigError, RunLockedError, SuiteError
from experiments.engine.experiment import build


def parse_overrides(items) -> dict:
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not all(part.isidentifier() for part in key.split(".")):
            raise ConfigError(f"expected key=value (e.g. epochs=10), got {item!r}")
        overrides[key] = parse_value_from_string(value)
    return overrides


def _experiment_class(name):
    from configs import EXPERIMENTS

    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; `python -m experiments list` shows all")
    return EXPERIMENTS[name]


def cmd_list(args) -> int:
    from configs import EXPERIMENTS, GROUPS, SWEEPS, TUNINGS

    print("Experiments (python -m experiments run NAME [key=value ...]):")
    for name, cls in EXPERIMENTS.items():
        doc = (inspect.getdoc(cls) or "").split("\n")[0]
        print(f"  §{cls.section:<4} {name:<28} scales: {', '.join(cls.scales)}  {doc}")
    print("Groups (python -m experiments run-group NAME [key=value ...]):")
    for name, members in GROUPS.items():
        print(f"  {name:<12} {' '.join(members)}")
    print("Tuned comparisons (python -m experiments run-group NAME; see experiments/engine/tuning.py):")
    for name, t in TUNINGS.items():
        arms = "; ".join(f"{a.experiment} {a.key} in {list(a.values)}" for a in t.arms)
        print(f"  {name:<12} scale {t.scale}, seeds {list(t.seeds)}: {arms}")
    print("Sweeps (python -m experiments sweep NAME [shard=i/n]; see experiments/engine/sweep.py):")
    for name, sw in SWEEPS.items():
        grid = " x ".join(f"{k} in {list(v)}" for k, v in sw.grid.items())
        print(f"  {name:<12} {sw.experiment}, scale {sw.scale}, seeds {list(sw.seeds)}: {grid}")
    return 0


def cmd_show(args) -> int:
    exp = build(_experiment_class(args.name), parse_overrides(args.overrides))
    for key, value in exp.resolved_config().items():
        print(f"{key}={value!r}")
    print(f"# run folder: {exp.run_dir()}")
    return 0


def cmd_run(args) -> int:
    exp = build(_experiment_class(args.name), parse_overrides(args.overrides))
    exp.run()
    return 0


def _build_named(name, overrides):
    return build(_experiment_class(name), overrides)


class _Outcomes:
    """Runs of a group that failed or that another process holds, for the exit code."""

    def __init__(self):
        self.failed, self.busy, self.no_pick, self.count = [], [], [], 0

    def run(self, exp, title):
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


def _run_tuning(t, overrides, outcomes) -> None:
    """Steps 1-3 of ``experiments.engine.tuning``: the grid, the pick, the seeds of the pick."""
    from experiments.engine.tuning import finals, grid, select

    for arm in t.arms:
        grid_runs = grid(t, arm, _build_named, overrides)
        for value, exp in grid_runs:
            outcomes.run(exp, f"{t.name}: {arm.label} {arm.symbol or arm.key}={value:g} "
                              f"(tuning on the holdout, seed {t.tuning_seed})")
        selection = select(arm, grid_runs)
        print(f"\n{t.name}: {arm.label}, final holdout accuracy per {arm.symbol or arm.key}: "
              + ", ".join(f"{v:g}: {100 * a:.2f} %" for v, a in selection.holdout.items())
              + "".join(f"; {v:g}: failed ({e})" for v, e in selection.failed.items()))
        if not selection.complete:
            lacking = selection.missing or list(arm.values)
            print(f"{t.name}: no pick for {arm.label}: grid value(s) "
                  f"{', '.join(f'{v:g}' for v in lacking)} not completed", file=sys.stderr)
            outcomes.no_pick.append(f"{t.name}: {arm.label}")
            continue
        print(f"{t.name}: picked {arm.symbol or arm.key} = {selection.picked:g} for "
              f"{arm.label}; training seeds {', '.join(map(str, t.seeds))}")
        for seed, exp in finals(t, arm, selection.picked, _build_named, overrides):
            outcomes.run(exp, f"{t.name}: {arm.label} {arm.symbol or arm.key}="
                              f"{selection.picked:g} (picked), seed {seed}")


def _run_sharded(plan, shard, outcomes) -> None:
    """Worker i of n (``shard=i/n``): first the plain runs and every tuning's grid runs,
    dealt i, i+n, ...; then the picked value's other seeds of every arm whose grid is
    complete - trained by whichever workers - dealt the same way. An arm whose grid is
    still being trained elsewhere has no pick yet: a re-run of the same command, once
    the others are done, trains this worker's share of its seeds."""
    from experiments.engine.sweep import shard_of
    from experiments.engine.tuning import finals, grid, select

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
            first += [(f"{what.name}: {arm.label} {arm.symbol or arm.key}={v:g} (grid)", exp)
                      for v, exp in grid(what, arm, _build_named, item)]
    deal(first)
    second = []
    for what, item in plan:
        if isinstance(what, str):
            continue
        for arm in what.arms:
            selection = select(arm, grid(what, arm, _build_named, item))
            if not selection.complete:
                outcomes.no_pick.append(f"{what.name}: {arm.label}")
                continue
            second += [(f"{what.name}: {arm.label} {arm.symbol or arm.key}="
                        f"{selection.picked:g} (picked), seed {seed}", exp)
                       for seed, exp in finals(what, arm, selection.picked, _build_named, item)
                       if seed != what.tuning_seed]
    deal(second)


def _tuning_arms(t, arms):
    """``t`` with only the arms named (experiment names, comma-separated or a list), so a
    group can run part of a comparison (``sec52_tuned arms=sec52_bop2ndorder``)."""
    if arms is None:
        return t
    names = [a.strip() for a in arms.split(",")] if isinstance(arms, str) else list(arms)
    return t.with_arms([n for n in names if n])


def cmd_run_group(args) -> int:
    from configs import GROUPS, TUNINGS

    if args.group in GROUPS:
        members = GROUPS[args.group]
    elif args.group in TUNINGS:
        members = [args.group]
    else:
        raise ConfigError(f"unknown group {args.group!r}; choose one of "
                          f"{sorted(GROUPS) + sorted(TUNINGS)}")
    from experiments.engine.sweep import parse_shard, shard_of

    overrides = parse_overrides(args.overrides)
    shard = parse_shard(overrides.pop("shard")) if "shard" in overrides else None
    # Build every member first: a typo fails now, not after hours of the first run.
    plan = []
    for member in members:
        name, *own = member.split()
        # a member's own overrides are its defaults; the command line still wins
        merged = {**parse_overrides(own), **overrides}
        if name in TUNINGS:
            t = _tuning_arms(TUNINGS[name], merged.pop("arms", None))
            fixed = sorted(k for k in merged if k in ("scale", "seed", "validation", "final_test"))
            if fixed:
                raise ConfigError(f"{name} fixes {', '.join(fixed)} itself (scale "
                                  f"{t.scale}, seeds {t.seeds}); leave them off the command line")
            from experiments.engine.tuning import finals, grid

            for arm in t.arms:  # every run it may need, checked now
                grid(t, arm, _build_named, merged)
                for value in arm.values:
                    finals(t, arm, value, _build_named, merged)
            plan.append((t, merged))
        else:
            plan.append((name, _build_named(name, merged)))
    outcomes = _Outcomes()
    if shard is not None:
        _run_sharded(plan, shard, outcomes)
    for i, (what, item) in enumerate(plan if shard is None else [], 1):
        if isinstance(what, str):
            outcomes.run(item, f"[{i}/{len(plan)}] {what}")
        else:
            _run_tuning(what, item, outcomes)
    failed, busy, total = outcomes.failed, outcomes.busy, outcomes.count
    if failed:
        print(f"\n{len(failed)} of {total} runs failed: {', '.join(failed)}", file=sys.stderr)
    if outcomes.no_pick:
        print(f"\nno pick (and so no seeds) for: {', '.join(outcomes.no_pick)}; re-run the "
              "same command once the grid runs can complete (with shard=: once the other "
              "workers have finished theirs)", file=sys.stderr)
    if busy:
        print(f"\n{len(busy)} of {total} runs are being trained by other processes: "
              f"{', '.join(busy)}", file=sys.stderr)
    return 1 if failed or outcomes.no_pick else 3 if busy else 0


def cmd_sweep(args) -> int:
    """A declared sweep (``configs.SWEEPS``) or an experiment with ``grid.KEY=[...]``,
    this worker's share of it (``shard=i/n``), each point claimed before it is trained."""
    from configs import SWEEPS
    from experiments.engine.sweep import from_command_line, parse_shard, run_all, shard_of

    overrides = parse_overrides(args.overrides)
    shard = parse_shard(overrides.pop("shard")) if "shard" in overrides else None
    poll_s = float(overrides.pop("poll_s", 10.0))
    if args.name in SWEEPS:
        sweep, rest = SWEEPS[args.name], overrides
        if "scale" in rest:  # e.g. the same grid at another scale
            sweep = dataclasses.replace(sweep, scale=rest.pop("scale"))
    else:
        _experiment_class(args.name)  # a clear error for a typo
        sweep, rest = from_command_line(args.name, overrides)
    # every point built (and validated) before anything trains
    exps = [_build_named(sweep.experiment, {**point, **rest}) for point in sweep.points()]
    mine = shard_of(exps, shard)
    share = ("all, taking whichever is unclaimed" if shard is None
             else f"shard {shard[0]}/{shard[1]}: {len(mine)}")
    print(f"sweep {sweep.name}: {len(exps)} runs ({len(exps) // len(sweep.seeds)} grid points x "
          f"{len(sweep.seeds)} seeds), this worker: {share}", flush=True)
    outcomes = _Outcomes()
    failed = run_all(mine, lambda exp: outcomes.run(exp, f"{sweep.name}: {exp.run_dir()}"),
                     poll_s=poll_s)
    if failed:
        print(f"\n{len(failed)} of {len(mine)} runs failed: "
              f"{', '.join(e.run_dir() for e in failed)}", file=sys.stderr)
    return 1 if failed else 0


def cmd_compare(args) -> int:
    """``bnn compare OPTIMIZER grid.KEY=[...] [label=] [horizons=[8,16,32]] [scale=tiny]
    [key=value ...]``: the optimizer as one more arm of the horizon ladder's rungs
    (``experiments.engine.compare``), its grid and the seeds of its pick trained; the
    report then shows it beside Bop, latent Adam and Bop2ndOrder."""
    from configs import TUNINGS
    from configs.cifar10 import HORIZONS, tiny_rung
    from experiments.engine import compare
    from experiments.engine.sweep import GRID_PREFIX

    overrides = parse_overrides(args.overrides)
    grid = {k[len(GRID_PREFIX):]: v for k, v in overrides.items() if k.startswith(GRID_PREFIX)}
    if len(grid) != 1 or not isinstance(next(iter(grid.values())), (list, tuple)):
        raise ConfigError("give one grid of the optimizer's main hyperparameter, e.g. "
                          "grid.optimizer.lr.value=[1e-3,1e-2] (the same number of points "
                          "as the other arms' is a fair budget)")
    (key, values), = grid.items()
    rest = {k: v for k, v in overrides.items() if not k.startswith(GRID_PREFIX)}
    label = str(rest.pop("label", args.optimizer))
    compare.check_label(label)
    horizons = rest.pop("horizons", (8,))
    horizons = tuple(horizons) if isinstance(horizons, (list, tuple)) else (horizons,)
    unknown = [h for h in horizons if h not in HORIZONS]
    if unknown:
        raise ConfigError(f"horizons={list(horizons)}: the ladder's rungs are {list(HORIZONS)} "
                          "epochs")
    tiny = rest.pop("scale", None) == "tiny"
    moves = {k: v for k, v in rest.items() if k in runs.NON_SEMANTIC}  # where files live
    entrant = compare.Entrant(label, args.optimizer, key, tuple(values), horizons,
                              {k: v for k, v in rest.items() if k not in moves},
                              os.environ.get(plugins.VARIABLE, ""))
    rungs = []
    for epochs in horizons:
        rung = TUNINGS[f"sec52_horizon_{epochs}"]
        rung = compare.with_entrants(tiny_rung(rung) if tiny else rung, epochs, [entrant])
        rungs.append(rung.with_arms([label]))
    from experiments.engine.tuning import finals, grid as grid_of

    for rung in rungs:  # every run the entrant may need, built (and validated) now
        (arm,) = rung.arms
        grid_of(rung, arm, _build_named, moves)
        for value in arm.values:
            finals(rung, arm, value, _build_named, moves)
    if not tiny:  # a tiny trial is not recorded for the report
        path = compare.save(moves.get("results_dir", os.path.join("results", "runs")), entrant)
        print(f"{label}: recorded in {path}; `make report` shows it beside the other arms")
    outcomes = _Outcomes()
    for rung in rungs:
        _run_tuning(rung, moves, outcomes)
    if outcomes.failed or outcomes.no_pick:
        return 1
    return 3 if outcomes.busy else 0


def cmd_remake(args) -> int:
    """Re-make a committed run here and say whether it agrees (exit 0) or not (exit 1)."""
    from experiments.analysis.remake import remake

    judgement = remake(args.run_dir, _experiment_class, build, args.out,
                       parse_overrides(args.overrides))
    return 0 if judgement.agrees else 1


# Analysis commands: their own scripts (and argument parsers) under one command name.
ANALYSIS = {"report": "scripts.report", "figures": "scripts.figures"}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ANALYSIS:
        import importlib

        importlib.import_module(ANALYSIS[argv[0]]).main(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="bnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list experiments and groups").set_defaults(fn=cmd_list)
    for command, module in ANALYSIS.items():  # listed in --help; handled above
        sub.add_parser(command, help=f"{module} (its own options: bnn {command} --help)")
    for command, fn, target in (("show", cmd_show, "name"), ("run", cmd_run, "name"),
                                ("run-group", cmd_run_group, "group"),
                                ("sweep", cmd_sweep, "name")):
        p = sub.add_parser(command)
        p.add_argument(target)
        p.add_argument("overrides", nargs="*", metavar="key=value")
        p.set_defaults(fn=fn)
    p = sub.add_parser("compare", help="a new optimizer as one more arm of the horizon ladder")
    p.add_argument("optimizer", help="the optimizer component's class name")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="grid.KEY=[...] (required), label=, horizons=[8,16,32], scale=tiny, "
                        "its other settings, data_dir=, results_dir=")
    p.set_defaults(fn=cmd_compare)
    p = sub.add_parser("remake", help="re-make a committed run on this machine and compare")
    p.add_argument("run_dir")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="where files live only: data_dir=..., cifar10_archive=...")
    p.add_argument("--out", default=os.path.join(".remake", "runs"),
                   help="results folder of the re-made run (default .remake/runs; a "
                        "finished re-make there is reused, an interrupted one resumes)")
    p.set_defaults(fn=cmd_remake)
    args = parser.parse_args(argv)
    runs.git_commit()  # provenance of the code imported now, before any long run starts
    try:
        plugins.load()  # BNN_PLUGINS: components defined outside the suite
        return args.fn(args)
    except SuiteError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM; the run has recorded `interrupted`
        return 130


def main_exit() -> None:
    """Entry point of the ``bnn`` console command."""
    sys.exit(main())
