"""Command line: ``bnn {list,show,run,run-group,sweep,compare,remake,export,report,figures} ...`` (the console
command ``make install`` installs; ``python -m experiments ...`` is the same).

``bnn sweep NAME [shard=i/n] [key=value ...]`` runs a declared sweep, or an experiment
over ``grid.KEY=[v1,v2] seeds=[0,1]``; start it on as many machines as you like.
``run-group``, ``sweep`` and ``compare`` also take ``workers=N|auto`` (runs side by side in
pinned processes on this machine), ``warmup_s=`` (the estimate's warm-up) and ``poll_s=``.

Overrides are ``key=value`` pairs with dotted keys for nested components, e.g.
``python -m experiments run sec52_bop scale=quick optimizer.gamma.value=1e-3``. Every
config named on a command line is built and validated before any data is loaded.

The commands that build experiments import zookeeper and the engine where they need
them, so ``bnn report`` and ``bnn figures`` start without them (the declaration index,
``experiments.report.declarations``).
"""
import argparse
import dataclasses
import importlib
import inspect
import os
import sys

from experiments import plugins, registry
from experiments.engine import drive, runs
from experiments.errors import ConfigError, SuiteError


def parse_overrides(items) -> dict:
    from zookeeper.core.utils import parse_value_from_string

    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not all(part.isidentifier() for part in key.split(".")):
            raise ConfigError(f"expected key=value (e.g. epochs=10), got {item!r}")
        overrides[key] = parse_value_from_string(value)
    return overrides


def _experiment_class(name):
    return registry.load().experiment(name)


def _build_named(name, overrides):
    from experiments.engine.experiment import build

    return build(_experiment_class(name), overrides)


# The component kinds an experiment is made of: its field and the option that picks one.
COMPONENT_KINDS = (("model", "Models"), ("dataset", "Datasets"), ("optimizer", "Optimizers"))


def components() -> dict:
    """``{field: [component classes]}``: every model, dataset and optimizer found (the
    suite's packages and ``BNN_PLUGINS`` modules), abstract bases left out."""
    from zookeeper.core.utils import generate_component_subclasses

    from experiments.engine.experiment import Experiment

    found = {}
    for field, _ in COMPONENT_KINDS:
        base = Experiment.__annotations__[field]
        found[field] = sorted((c for c in generate_component_subclasses(base)
                               if not c.__dict__.get("abstract", False)),
                              key=lambda c: c.__name__)
    return found


def cmd_list(args) -> int:
    found = registry.load()
    for field, title in COMPONENT_KINDS:
        print(f"{title} ({field}=NAME on any experiment):")
        for cls in components()[field]:
            doc = (inspect.getdoc(cls) or "").split("\n")[0]
            print(f"  {cls.__name__:<22} {cls.__module__:<40} {doc}")
    print("Experiments (bnn run NAME [key=value ...]):")
    for name, cls in found.experiments.items():
        doc = (inspect.getdoc(cls) or "").split("\n")[0]
        print(f"  §{cls.section:<4} {name:<28} scales: {', '.join(cls.scales)}  {doc}")
    print("Groups (bnn run-group NAME [key=value ...]; `make help` names the target of each):")
    for name, members in found.groups.items():
        print(f"  {name:<12} {' '.join(members)}")
    print("Tuned comparisons (bnn run-group NAME; see experiments/engine/tuning.py):")
    for name, t in found.tunings.items():
        arms = "; ".join(f"{a.experiment} {a.key} in {list(a.values)}" for a in t.arms)
        print(f"  {name:<12} scale {t.scale}, seeds {list(t.seeds)}: {arms}")
    print("Sweeps (bnn sweep NAME [shard=i/n]; see experiments/engine/sweep.py):")
    for name, sw in found.sweeps.items():
        grid = " x ".join(f"{k} in {list(v)}" for k, v in sw.grid.items())
        print(f"  {name:<12} {sw.experiment}, scale {sw.scale}, seeds {list(sw.seeds)}: {grid}")
    return 0


def cmd_show(args) -> int:
    exp = _build_named(args.name, parse_overrides(args.overrides))
    for key, value in exp.resolved_config().items():
        print(f"{key}={value!r}")
    print(f"# run folder: {exp.run_dir()}")
    return 0


def cmd_run(args) -> int:
    _build_named(args.name, parse_overrides(args.overrides)).run()
    return 0


def _tuning_arms(t, arms):
    """``t`` with only the arms named (experiment names, comma-separated or a list), so a
    group can run part of a comparison (``sec52_tuned arms=sec52_bop2ndorder``)."""
    if arms is None:
        return t
    names = [a.strip() for a in arms.split(",")] if isinstance(arms, str) else list(arms)
    return t.with_arms([n for n in names if n])


# How many runs train side by side and how their time is estimated (experiments.engine.parallel):
# keys of run-group, sweep and compare, not of any experiment.
POOL_KEYS = {"workers": "auto", "poll_s": 10.0, "warmup_s": 15.0}


def _pool_settings(overrides: dict) -> dict:
    """Take ``workers=``, ``poll_s=`` and ``warmup_s=`` out of ``overrides``."""
    out = {k: overrides.pop(k, default) for k, default in POOL_KEYS.items()}
    for key in ("poll_s", "warmup_s"):
        if isinstance(out[key], bool) or not isinstance(out[key], (int, float)) or out[key] < 0:
            raise ConfigError(f"{key} must be a number of seconds >= 0, got {out[key]!r}")
    return out


def _group_plan(found, members, overrides, build) -> list:
    """``[(name, experiment) | (Tuning, overrides)]`` for a group's members, every run
    built (and so validated) now: a typo fails before hours of the first run."""
    plan = []
    for member in members:
        name, *own = member.split()
        # a member's own overrides are its defaults; the command line still wins
        merged = {**parse_overrides(own), **overrides}
        if name in found.tunings:
            t = _tuning_arms(found.tunings[name], merged.pop("arms", None))
            drive.check_tuning(t, build, merged)
            plan.append((t, merged))
        else:
            plan.append((name, build(name, merged)))
    return plan


def cmd_run_group(args) -> int:
    from experiments.engine import parallel
    from experiments.engine.schedule import Recorder
    from experiments.engine.sweep import parse_shard

    found = registry.load()
    if args.group in found.groups:
        members = found.groups[args.group]
    elif args.group in found.tunings:
        members = [args.group]
    else:
        raise ConfigError(f"unknown group {args.group!r}; choose one of "
                          f"{sorted(found.groups) + sorted(found.tunings)}")
    overrides = parse_overrides(args.overrides)
    shard = parse_shard(overrides.pop("shard")) if "shard" in overrides else None
    pool = _pool_settings(overrides)
    build = Recorder(_build_named)
    plan = _group_plan(found, members, overrides, build)
    alternative = None
    if overrides.get("scale") == "paper":  # what the same group costs at the reduced scale
        try:
            alternative = ("SCALE=quick", _group_plan(found, members,
                                                      {**overrides, "scale": "quick"}, build))
        except ConfigError:  # a member without a quick scale: no alternative to offer
            alternative = None
    return parallel.execute(plan, build, lambda: drive.run_plan(plan, build, shard), shard,
                            alternative=alternative, **pool)


def cmd_sweep(args) -> int:
    """A declared sweep (the registry's ``SWEEPS``) or an experiment with
    ``grid.KEY=[...]``, this worker's share of it (``shard=i/n``), each point claimed
    before it is trained."""
    from experiments.engine.drive import Outcomes
    from experiments.engine.sweep import from_command_line, parse_shard, placed, run_all, shard_of

    from experiments.engine import parallel
    from experiments.engine.schedule import Recorder

    found = registry.load()
    overrides = parse_overrides(args.overrides)
    shard = parse_shard(overrides.pop("shard")) if "shard" in overrides else None
    pool = _pool_settings(overrides)
    build = Recorder(_build_named)
    if args.name in found.sweeps:
        sweep, rest = found.sweeps[args.name], overrides
        if "scale" in rest:  # e.g. the same grid at another scale
            sweep = dataclasses.replace(sweep, scale=rest.pop("scale"))
        # each point in its sweep's folder; one an earlier declared sweep shares, in that one's
        points = placed(sweep, found.sweeps.values(), build, rest)
    else:
        _experiment_class(args.name)  # a clear error for a typo
        sweep, rest = from_command_line(args.name, overrides)
        points = sweep.points()
    name = sweep.name or sweep.experiment
    # every point built (and validated) before anything trains
    exps = [build(sweep.experiment, {**point, **rest}) for point in points]
    mine = shard_of(exps, shard)
    share = ("all, taking whichever is unclaimed" if shard is None
             else f"shard {shard[0]}/{shard[1]}: {len(mine)}")
    print(f"sweep {name}: {len(exps)} runs ({len(exps) // len(sweep.seeds)} grid points x "
          f"{len(sweep.seeds)} seeds), this machine: {share}", flush=True)

    def serial() -> int:
        outcomes = Outcomes()
        failed = run_all(mine, lambda exp: outcomes.run(exp, f"{name}: {exp.run_dir()}"),
                         poll_s=pool["poll_s"])
        if failed:
            print(f"\n{len(failed)} of {len(mine)} runs failed: "
                  f"{', '.join(e.run_dir() for e in failed)}", file=sys.stderr)
        return 1 if failed else 0

    titles = {e.run_dir(): ", ".join([f"{k}={p[k]}" for k in sweep.grid] + [f"seed {p['seed']}"])
              for e, p in zip(exps, points)}
    plan = [(f"{name}: {titles[exp.run_dir()]}", exp) for exp in mine]
    return parallel.execute(plan, build, serial, **pool)


def cmd_compare(args) -> int:
    """``bnn compare OPTIMIZER grid.KEY=[...] [label=] [horizons=[8,16,32]] [scale=tiny]
    [key=value ...]``: the optimizer as one more arm of the horizon ladder's rungs
    (``experiments.engine.compare``), its grid and the seeds of its pick trained; the
    report then shows it beside Bop, latent Adam and Bop2ndOrder."""
    from experiments.engine import compare, parallel
    from experiments.engine.schedule import Recorder
    from experiments.engine.sweep import GRID_PREFIX

    overrides = parse_overrides(args.overrides)
    pool = _pool_settings(overrides)
    build = Recorder(_build_named)
    grid = {k[len(GRID_PREFIX):]: v for k, v in overrides.items() if k.startswith(GRID_PREFIX)}
    if len(grid) != 1 or not isinstance(next(iter(grid.values())), (list, tuple)):
        raise ConfigError("give one grid of the optimizer's main hyperparameter, e.g. "
                          "grid.optimizer.lr.value=[1e-3,1e-2] (the same number of points "
                          "as the other arms' is a fair budget)")
    (key, values), = grid.items()
    rest = {k: v for k, v in overrides.items() if not k.startswith(GRID_PREFIX)}
    label = str(rest.pop("label", args.optimizer))
    compare.check_label(label)
    found = registry.load()
    ladder = compare.ladder(found)  # epochs -> rung
    horizons = rest.pop("horizons", (min(ladder),))
    horizons = tuple(horizons) if isinstance(horizons, (list, tuple)) else (horizons,)
    unknown = [h for h in horizons if h not in ladder]
    if unknown:
        raise ConfigError(f"horizons={list(horizons)}: the ladder's rungs are {sorted(ladder)} "
                          "epochs")
    tiny = rest.pop("scale", None) == "tiny"
    moving = runs.non_semantic_keys()
    moves = {k: v for k, v in rest.items() if k in moving}  # where files live
    entrant = compare.Entrant(label, args.optimizer, key, tuple(values), horizons,
                              {k: v for k, v in rest.items() if k not in moves},
                              os.environ.get(plugins.VARIABLE, ""))
    rungs = []
    for epochs in horizons:
        rung = compare.tiny(ladder[epochs]) if tiny else ladder[epochs]
        rungs.append(compare.with_entrants(rung, epochs, [entrant], found.views.ENTRANT_BASE)
                     .with_arms([label]))
    for rung in rungs:  # every run the entrant may need, built (and validated) now
        drive.check_tuning(rung, build, moves)
    if not tiny:  # a tiny trial is not recorded for the report
        path = compare.save(moves.get("results_dir", os.path.join("results", "runs")), entrant)
        print(f"{label}: recorded in {path}; `make report` shows it beside the other arms")
    def serial() -> int:
        outcomes = drive.Outcomes()
        for rung in rungs:
            drive.run_tuning(rung, build, moves, outcomes)
        return outcomes.exit_code()

    return parallel.execute([(rung, moves) for rung in rungs], build, serial, **pool)


def cmd_remake(args) -> int:
    """Re-make a committed run here and say whether it agrees (exit 0) or not (exit 1)."""
    from experiments.analysis.remake import remake
    from experiments.engine.experiment import build

    judgement = remake(args.run_dir, _experiment_class, build, args.out,
                       parse_overrides(args.overrides))
    return 0 if judgement.agrees else 1


def cmd_export(args) -> int:
    """Export a finished run with larq-compute-engine and verify it (experiments/deploy)."""
    from experiments.deploy.export import export

    export(args.run_dir, parse_overrides(args.overrides), args.deploy_dir)
    return 0


# Analysis commands: their own modules (and argument parsers) under one command name.
ANALYSIS = {"report": "experiments.report.tables", "figures": "experiments.report.figures"}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ANALYSIS:
        importlib.import_module(ANALYSIS[argv[0]]).main(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="bnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list experiments, groups, models, datasets and "
                   "optimizers").set_defaults(fn=cmd_list)
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
                   help="where files live only: data_dir=..., dataset.archive=...")
    p.add_argument("--out", default=os.path.join(".remake", "runs"),
                   help="results folder of the re-made run (default .remake/runs; a "
                        "finished re-make there is reused, an interrupted one resumes)")
    p.set_defaults(fn=cmd_remake)
    p = sub.add_parser("export", help="a finished run as a verified larq-compute-engine model")
    p.add_argument("run_dir")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="data_dir=... only")
    p.add_argument("--deploy-dir", default=os.path.join("results", "deploy"),
                   help="where the deploy record goes (<dir>/<experiment>/<run-id>.json)")
    p.set_defaults(fn=cmd_export)
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
