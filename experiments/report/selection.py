"""Which runs belong to which declaration: the report's and the figures' one place for
it. Experiments are built against a run-folder root from the registry
(``experiments.registry``: what ``configs/`` declares), so REPORT.md and the figures
find a tuned comparison's, a sweep's or an experiment's own runs by the rule that
trains them."""
import functools
import json
import os

from experiments import registry
from experiments.analysis.collect import SEED_FREE
from experiments.engine.experiment import build
from experiments.engine.runs import semantic
from experiments.errors import SuiteError


# (experiment class, overrides) -> the built experiment: the report and the figures build
# the same declared runs many times over (tables, owners, figures), for any runs root
_BUILT = {}


class _Rooted:
    """A built experiment whose run folder is under another runs root (where it lives
    does not change what it computes, nor its run id)."""

    def __init__(self, exp, runs_root):
        self._exp, self._root = exp, runs_root

    def __getattr__(self, name):
        return getattr(self._exp, name)

    def run_dir(self) -> str:
        return os.path.join(self._root, self._exp.folder or self._exp.name,
                            self._exp.run_name())


def builder(runs_root):
    """``build(name, overrides)`` for run folders under ``runs_root``; each config is
    built (and validated) once per process."""
    found = registry.load()

    def build_named(name, overrides):
        cls = found.experiment(name)
        key = (cls, repr(sorted(overrides.items())))
        if key not in _BUILT:
            _BUILT[key] = build(cls, overrides)
        return _Rooted(_BUILT[key], runs_root)
    return build_named


def views():
    """The report's and the figures' views (the registry's ``VIEWS``,
    ``configs/analysis.py``): which experiments each section, figure and claim shows."""
    return registry.load().views


def sections() -> dict:
    """REPORT.md's sections: paper section -> heading (the registry's ``SECTIONS``)."""
    return registry.load().sections


def tunings(section=None, runs_root=None) -> list:
    """The declared tuned comparisons; with ``runs_root``, the horizon ladder's rungs
    carry the entrants ``bnn compare`` recorded beside it (``experiments.engine.compare``)."""
    from experiments.engine.compare import ladder, with_entrants

    found = [t for t in registry.load().tunings.values()
             if section is None or t.section == section]
    entrants = compare_entrants(runs_root) if runs_root else []
    if not entrants:
        return found
    horizon = {t.name: epochs for epochs, t in ladder(registry.load()).items()}
    return [with_entrants(t, horizon[t.name], entrants, views().ENTRANT_BASE)
            if t.name in horizon else t for t in found]


def compare_entrants(runs_root) -> list:
    """The entrants recorded beside ``runs_root``, their plug-in modules imported (so their
    optimizers can be built)."""
    from experiments import plugins
    from experiments.engine.compare import load_all

    entrants = load_all(runs_root)
    for e in entrants:
        plugins.load(e.plugins)
    return entrants


def horizon_pairs(runs_root) -> tuple:
    """The pairs the ladder follows: the declared ones, then each entrant against Bop."""
    return tuple(views().HORIZON_PAIRS) + tuple((e.label, views().ENTRANT_BASE)
                                                for e in compare_entrants(runs_root))


def groups_training(tuning: str, experiment: str) -> list:
    """The groups (the registry's ``GROUPS``) that train ``experiment``'s arm of the tuned
    comparison ``tuning``: members ``tuning`` (every arm) or ``tuning arms=a,b`` naming it."""
    found = []
    for group, members in registry.load().groups.items():
        for member in members:
            name, *own = member.split()
            arms = [o.split("=", 1)[1].split(",") for o in own if o.startswith("arms=")]
            if name == tuning and (not arms or experiment in arms[0]):
                found.append(group)
    return found


def owned_paths(runs_root, section=None) -> set:
    """Folders that belong to tuned comparisons or declared sweeps (shown in their own
    sections only, never as extra rows of the paper's tables)."""
    from experiments.engine.tuning import run_dirs

    build = builder(runs_root)
    owned = set().union(set(), *[run_dirs(t, build) for t in tunings(section, runs_root)])
    for sweep in sweeps():
        default = default_config(sweep.experiment, sweep.scale)
        for point in sweep_points(sweep, runs_root):
            exp = build(sweep.experiment, point)
            if _semantic_text(exp) != default:  # the experiment's own point stays in its table
                owned.add(os.path.abspath(exp.run_dir()))
    return owned


def _semantic_text(exp) -> str:
    """An experiment's semantic config without seed, as comparable JSON text."""
    config = {k: v for k, v in semantic(exp.resolved_config()).items() if k not in SEED_FREE}
    return json.dumps(json.loads(json.dumps(config, default=str)), sort_keys=True)


@functools.lru_cache(maxsize=None)
def default_config(experiment: str, scale: str):
    """The experiment's own config at ``scale`` without seed and paths, as JSON text
    (the form ``Run.semantic_config`` compares in); None for an unknown experiment or
    scale."""
    cls = registry.load().experiments.get(experiment)
    if cls is None or scale not in cls.scales:
        return None
    try:
        return _semantic_text(build(cls, {"scale": scale}))
    except SuiteError:
        return None


@functools.lru_cache(maxsize=None)
def dataset_of(experiment: str):
    """The dataset component class of a registered experiment, or None for an unknown one."""
    cls = registry.load().experiments.get(experiment)
    return type(cls().dataset) if cls else None


def dataset_named(name: str):
    """The dataset component class called ``name`` (a run's ``summary["dataset"]``), or None."""
    from experiments.datasets import Dataset
    from zookeeper.core.utils import generate_subclasses

    return next((c for c in generate_subclasses(Dataset) if c.__name__ == name), None)


def sweeps() -> list:
    return list(registry.load().sweeps.values())


def sweep_points(sweep, runs_root) -> list:
    """A declared sweep's points, each in the folder where it lives (the first declared
    sweep that has it: ``experiments.engine.sweep.placement``)."""
    from experiments.engine.sweep import placed

    return placed(sweep, sweeps(), builder(runs_root), where=_placement(_ids()))


def _ids() -> tuple:
    return tuple((s.name, id(s)) for s in sweeps())


@functools.lru_cache(maxsize=8)
def _placement(ids) -> dict:
    from experiments.engine.sweep import placement

    return placement(sweeps(), builder(""))  # where a point lives does not depend on the root


def sweep_cells(sweep, runs_root, load) -> dict:
    """``{(value of key 1, value of key 2, ...): [loaded runs over seeds]}`` for a
    declared sweep, found by building its points (the rule ``bnn sweep`` trains by);
    points without a readable, completed run are left out of the lists."""
    build = builder(runs_root)
    keys = list(sweep.grid)
    cells = {}
    for point in sweep_points(sweep, runs_root):
        cell = tuple(point[k] for k in keys)
        cells.setdefault(cell, [])
        try:
            run = load(build(sweep.experiment, point).run_dir())
        except (ValueError, OSError):
            continue
        if run.complete:
            cells[cell].append(run)
    return cells


def map_cells(sweep, runs_root):
    """A two-key sweep's cells and axes, ``(cells, (key1, values1), (key2, values2))``,
    or None when the sweep is not two-dimensional or has no finished run yet."""
    from experiments.analysis.collect import load_run

    if len(sweep.grid) != 2:
        return None
    cells = sweep_cells(sweep, runs_root, lambda p: load_run(p, with_flips=False))
    if not any(cells.values()):
        return None
    (k1, v1s), (k2, v2s) = sweep.grid.items()
    return cells, (k1, v1s), (k2, v2s)
