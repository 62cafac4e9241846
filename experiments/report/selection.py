"""Which runs belong to which declaration: the report's and the figures' one place for
it. Experiments are built against a run-folder root from the registry
(``experiments.registry``: what ``configs/`` declares), so REPORT.md and the figures
find a tuned comparison's, a sweep's or an experiment's own runs by the rule that
trains them.

Every answer taken from the registry or a built experiment goes through the declaration
index (``experiments.report.declarations``): when it is current, the report reads it
instead and imports no TensorFlow, no zookeeper and no model code."""
import dataclasses
import functools
import json
import os
import types

from experiments import registry
from experiments.analysis.collect import seed_free
from experiments.engine import runs
from experiments.errors import SuiteError
from experiments.report import declarations


# (experiment class, overrides) -> the built experiment: the report and the figures build
# the same declared runs many times over (tables, owners, figures), for any runs root
_BUILT = {}


@dataclasses.dataclass(frozen=True)
class Declared:
    """A declared run as the report sees it: where its folder is under a runs root (where
    it lives does not change what it computes, nor its run id)."""

    name: str
    folder: str | None
    run_id: str
    root: str = ""

    def run_name(self) -> str:
        return self.run_id

    def run_dir(self) -> str:
        return os.path.join(self.root, self.folder or self.name, self.run_id)


def _key(name, overrides) -> str:
    return f"{name} {sorted(overrides.items())!r}"


def _built(name, overrides):
    """The experiment ``name`` built with ``overrides`` (imports configs/ and the engine)."""
    from experiments.engine.experiment import build

    cls = registry.load().experiment(name)
    key = (cls, repr(sorted(overrides.items())))
    if key not in _BUILT:
        _BUILT[key] = build(cls, overrides)
    return _BUILT[key]


def _run_of(name, overrides) -> dict:
    exp = _built(name, overrides)
    return {"name": exp.name, "folder": exp.folder, "run_id": exp.run_name()}


def builder(runs_root):
    """``build(name, overrides)`` for run folders under ``runs_root``: a declared run's
    folder and run id, from the declaration index, or built (and validated) once per
    process."""
    index = declarations.current()

    def build_named(name, overrides):
        run = index.answer("run", _key(name, overrides), lambda: _run_of(name, overrides))
        return Declared(**run, root=runs_root)
    return build_named


def read_rules() -> None:
    """Which config keys leave a run id alone (``runs.semantic``, the components' rules):
    from the declaration index when there is one, so that grouping runs by their config
    imports no component either."""
    def compute():
        from experiments.engine.components import component_rules

        registry.load()  # every declared component imported, as the report's builds do
        non_semantic, neutral, _ = component_rules()
        return sorted(non_semantic), neutral

    if declarations.enabled():
        non_semantic, neutral = declarations.current().answer("rules", "components", compute)
        runs.give_rules(set(non_semantic), neutral)


def _registry_part(part: str):
    return declarations.current().answer("registry", part,
                                         lambda: getattr(registry.load(), part))


def views():
    """The report's and the figures' views (the registry's ``VIEWS``,
    ``configs/analysis.py``): which experiments each section, figure and claim shows;
    its upper-case names, as plain data."""
    def names():
        found = registry.load().views
        if found is None:
            return None
        return types.SimpleNamespace(**{k: getattr(found, k) for k in dir(found) if k.isupper()})
    return declarations.current().answer("registry", "views", names)


def sections() -> dict:
    """REPORT.md's sections: paper section -> heading (the registry's ``SECTIONS``)."""
    return _registry_part("sections")


def tunings(section=None, runs_root=None) -> list:
    """The declared tuned comparisons; with ``runs_root``, the horizon ladder's rungs
    carry the entrants ``bnn compare`` recorded beside it (``experiments.engine.compare``)."""
    from experiments.engine.compare import ladder, with_entrants

    declared = _registry_part("tunings")
    found = [t for t in declared.values() if section is None or t.section == section]
    entrants = compare_entrants(runs_root) if runs_root else []
    if not entrants:
        return found
    rungs = ladder(types.SimpleNamespace(views=views(), tunings=declared))
    horizon = {t.name: epochs for epochs, t in rungs.items()}
    return [with_entrants(t, horizon[t.name], entrants, views().ENTRANT_BASE)
            if t.name in horizon else t for t in found]


def compare_entrants(runs_root) -> list:
    """The entrants recorded beside ``runs_root``; their plug-in modules are imported
    before any of their runs is built (``declarations.Index.require_plugins``)."""
    from experiments.engine.compare import load_all

    entrants = load_all(runs_root)
    for e in entrants:
        declarations.current().require_plugins(e.plugins)
    return entrants


def horizon_pairs(runs_root) -> tuple:
    """The pairs the ladder follows: the declared ones, then each entrant against Bop."""
    return tuple(views().HORIZON_PAIRS) + tuple((e.label, views().ENTRANT_BASE)
                                                for e in compare_entrants(runs_root))


def groups_training(tuning: str, experiment: str) -> list:
    """The groups (the registry's ``GROUPS``) that train ``experiment``'s arm of the tuned
    comparison ``tuning``: members ``tuning`` (every arm) or ``tuning arms=a,b`` naming it."""
    found = []
    for group, members in _registry_part("groups").items():
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
            # the experiment's own point stays in its table
            if _point_text(sweep.experiment, point) != default:
                owned.add(os.path.abspath(exp.run_dir()))
    return owned


def _semantic_text(exp) -> str:
    """An experiment's semantic config without seed, as comparable JSON text."""
    config = {k: v for k, v in runs.semantic(exp.resolved_config()).items()
              if not seed_free(k)}
    return json.dumps(json.loads(json.dumps(config, default=str)), sort_keys=True)


def _point_text(name, overrides) -> str:
    """``_semantic_text`` of a declared run."""
    return declarations.current().answer(
        "semantic", _key(name, overrides), lambda: _semantic_text(_built(name, overrides)))


@functools.lru_cache(maxsize=None)
def default_config(experiment: str, scale: str):
    """The experiment's own config at ``scale`` without seed and paths, as JSON text
    (the form ``Run.semantic_config`` compares in); None for an unknown experiment or
    scale."""
    def compute():
        cls = registry.load().experiments.get(experiment)
        if cls is None or scale not in cls.scales:
            return None
        try:
            return _semantic_text(_built(experiment, {"scale": scale}))
        except SuiteError:
            return None
    return declarations.current().answer("default config", f"{experiment} {scale}", compute)


def _dataset_facts(cls):
    """What the report reads of a dataset component class: its name, label and whether
    its tables show top-5 accuracy."""
    if cls is None:
        return None
    return types.SimpleNamespace(__name__=cls.__name__, label=cls.label,
                                 top5_in_tables=cls.top5_in_tables)


@functools.lru_cache(maxsize=None)
def dataset_of(experiment: str):
    """The dataset component (``__name__``, ``label``, ``top5_in_tables``) of a registered
    experiment, or None for an unknown one."""
    def compute():
        cls = registry.load().experiments.get(experiment)
        return _dataset_facts(type(cls().dataset) if cls else None)
    return declarations.current().answer("dataset of", experiment, compute)


def dataset_named(name: str):
    """The dataset component called ``name`` (a run's ``summary["dataset"]``), as
    ``dataset_of`` gives it, or None."""
    def compute():
        from experiments.datasets import Dataset
        from zookeeper.core.utils import generate_subclasses

        registry.load()  # every declared experiment's dataset imported
        return _dataset_facts(next((c for c in generate_subclasses(Dataset)
                                    if c.__name__ == name), None))
    return declarations.current().answer("dataset named", name, compute)


def sweeps() -> list:
    return list(_registry_part("sweeps").values())


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
