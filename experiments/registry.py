"""Where the suite finds its declarations: the experiments, groups, tuned comparisons,
sweeps and report views that ``configs/`` declares, without importing ``configs``.

A registry is a module named in the ``bnn.registry`` entry-point group of a package's
``pyproject.toml``; this suite's own is

    [project.entry-points."bnn.registry"]
    paper = "configs"

and another installed package can add its own experiments the same way. A registry
module defines ``EXPERIMENTS`` (name -> experiment class), ``GROUPS`` (name -> members,
each "experiment [key=value ...]"), ``TUNINGS`` and ``SWEEPS`` (name -> declaration), and
may define ``VIEWS`` (what the report and figures show, ``experiments.analysis.views``)
and ``SECTIONS`` (paper section -> REPORT.md heading). Names must not repeat across
registries.

Model packages are found the same way, in the ``bnn.models`` entry-point group (this
suite's: ``models = "models"``; ``experiments.models`` imports each one), so the engine
never imports a model package by name.

Each group is read from the installed packages' metadata (``importlib.metadata``). A
checkout run without installing it, or installed before its ``pyproject.toml`` declared
the group, is read from that file itself, so the declaration has one place either way.
"""
import functools
import importlib
import os
from dataclasses import dataclass, field
from importlib import metadata

from experiments.errors import ConfigError

GROUP = "bnn.registry"
MODELS = "bnn.models"
DISTRIBUTION = "latent-weights-repro"  # this suite's package name (pyproject.toml)
_PYPROJECT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "pyproject.toml")


@dataclass(frozen=True)
class Registry:
    experiments: dict = field(default_factory=dict)
    groups: dict = field(default_factory=dict)
    tunings: dict = field(default_factory=dict)
    sweeps: dict = field(default_factory=dict)
    views: object = None
    sections: dict = field(default_factory=dict)
    modules: tuple = ()  # where the declarations came from

    def experiment(self, name: str):
        """The experiment class ``name``; ``ConfigError`` naming the way to list them."""
        if name not in self.experiments:
            raise ConfigError(f"unknown experiment {name!r}; `bnn list` shows all")
        return self.experiments[name]


def declared(group: str = GROUP) -> list:
    """``[(entry name, module name)]`` of an entry-point ``group`` (the registries, or
    ``MODELS``): the installed packages' metadata, plus this checkout's ``pyproject.toml``
    where this suite's own metadata does not declare the group (not installed, or
    installed before it did)."""
    found = [(ep.name, ep.value, ep.dist.name if ep.dist else None)
             for ep in metadata.entry_points(group=group)]
    out = [(name, value) for name, value, _ in found]
    if not any(dist == DISTRIBUTION for *_, dist in found) and os.path.isfile(_PYPROJECT):
        import tomllib

        with open(_PYPROJECT, "rb") as f:
            project = tomllib.load(f).get("project", {})
        if project.get("name") == DISTRIBUTION:
            own = project.get("entry-points", {}).get(group, {})
            out += [item for item in own.items() if item not in out]
    return out


def _merge(into: dict, new: dict, what: str, module: str, origin: dict) -> None:
    for name, value in new.items():
        if name in into:
            raise ConfigError(f"{what} {name!r} is declared by both {origin[name]} and {module}")
        into[name], origin[name] = value, module


@functools.lru_cache(maxsize=None)
def load() -> Registry:
    """Every declared registry, imported and merged (once per process). With a single
    registry its own dicts are used, not copies: a change to them shows here."""
    entries = declared()
    if not entries:
        raise ConfigError(f"no experiment registry: no package declares the {GROUP!r} entry-point "
                          "group; install the suite (`make install`) or run from its checkout")
    keys = ("EXPERIMENTS", "GROUPS", "TUNINGS", "SWEEPS", "SECTIONS")
    modules = [importlib.import_module(module_name) for _, module_name in entries]
    with_views = [m for m in modules if getattr(m, "VIEWS", None) is not None]
    if len(with_views) > 1:
        raise ConfigError("two registries declare the report's VIEWS: "
                          f"{', '.join(m.__name__ for m in with_views)}")
    if len(modules) == 1:
        parts = {key: getattr(modules[0], key, {}) for key in keys}
    else:
        parts, origins = {key: {} for key in keys}, {key: {} for key in keys}
        for module in modules:
            for key in keys:
                _merge(parts[key], getattr(module, key, {}), key.lower()[:-1], module.__name__,
                       origins[key])
    names = [set(parts[k]) for k in ("EXPERIMENTS", "TUNINGS", "SWEEPS")]
    clash = (names[0] & names[1]) | (names[0] & names[2]) | (names[1] & names[2])
    if clash:
        raise ConfigError(f"{', '.join(sorted(clash))}: an experiment, a tuning and a sweep "
                          "must not share a name")
    return Registry(parts["EXPERIMENTS"], parts["GROUPS"], parts["TUNINGS"], parts["SWEEPS"],
                    with_views[0].VIEWS if with_views else None, parts["SECTIONS"],
                    tuple(m.__name__ for m in modules))
