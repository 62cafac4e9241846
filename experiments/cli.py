"""Command line: ``python -m experiments {list,show,run,run-group} ...``.

Overrides are ``key=value`` pairs with dotted keys for nested components, e.g.
``python -m experiments run sec52_bop scale=quick optimizer.gamma.value=1e-3``. Every
config named on a command line is built and validated before any data is loaded.
"""
import argparse
import inspect
import sys

from experiments import _keras2  # noqa: F401
from zookeeper.core.utils import parse_value_from_string

from experiments import runs
from experiments.errors import ConfigError, RunLockedError, SuiteError
from experiments.experiment import build


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
    from configs import EXPERIMENTS, GROUPS

    print("Experiments (python -m experiments run NAME [key=value ...]):")
    for name, cls in EXPERIMENTS.items():
        doc = (inspect.getdoc(cls) or "").split("\n")[0]
        print(f"  §{cls.section:<4} {name:<28} scales: {', '.join(cls.scales)}  {doc}")
    print("Groups (python -m experiments run-group NAME [key=value ...]):")
    for name, members in GROUPS.items():
        print(f"  {name:<12} {' '.join(members)}")
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


def cmd_run_group(args) -> int:
    from configs import GROUPS

    if args.group not in GROUPS:
        raise ConfigError(f"unknown group {args.group!r}; choose one of {sorted(GROUPS)}")
    overrides = parse_overrides(args.overrides)
    # Build every member first: a typo fails now, not after hours of the first run.
    exps = []
    for member in GROUPS[args.group]:
        name, *own = member.split()
        # a member's own overrides are its defaults; the command line still wins
        exps.append(build(_experiment_class(name), {**parse_overrides(own), **overrides}))
    failed, busy = [], []
    for i, exp in enumerate(exps, 1):
        print(f"\n=== [{i}/{len(exps)}] {exp.name} ===", flush=True)
        try:
            exp.run()
        except RunLockedError as e:  # another process trains it: leave it to that one
            print(f"skipped: {e}", file=sys.stderr)
            busy.append(exp.name)
        except SuiteError as e:  # e.g. divergence: record it and go on with the others
            print(f"error: {e}", file=sys.stderr)
            failed.append(exp.name)
    if failed:
        print(f"\n{len(failed)} of {len(exps)} runs failed: {', '.join(failed)}", file=sys.stderr)
    if busy:
        print(f"\n{len(busy)} of {len(exps)} runs are being trained by other processes: "
              f"{', '.join(busy)}", file=sys.stderr)
    return 1 if failed else 3 if busy else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list experiments and groups").set_defaults(fn=cmd_list)
    for command, fn, target in (("show", cmd_show, "name"), ("run", cmd_run, "name"),
                                ("run-group", cmd_run_group, "group")):
        p = sub.add_parser(command)
        p.add_argument(target)
        p.add_argument("overrides", nargs="*", metavar="key=value")
        p.set_defaults(fn=fn)
    args = parser.parse_args(argv)
    runs.git_commit()  # provenance of the code imported now, before any long run starts
    try:
        return args.fn(args)
    except SuiteError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM; the run has recorded `interrupted`
        return 130
