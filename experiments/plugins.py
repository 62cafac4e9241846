"""Components kept outside the suite: ``BNN_PLUGINS=pkg.module[,other.module]`` imports
those modules before a command line is read, so the optimizers (or models, datasets)
they define are selectable by class name, as the suite's own are."""
import hashlib
import importlib
import importlib.util
import os

from experiments.errors import ConfigError

VARIABLE = "BNN_PLUGINS"


def named(value: str | None = None) -> list:
    """The module names in ``BNN_PLUGINS`` (comma-separated), or in ``value``."""
    value = os.environ.get(VARIABLE, "") if value is None else value
    return [n.strip() for n in value.split(",") if n.strip()]


def load(value: str | None = None) -> list:
    """Import every module named in ``BNN_PLUGINS`` (comma-separated); returns the names.
    A module that cannot be imported is a ``ConfigError`` naming it and the reason."""
    names = named(value)
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 -- any failure is the plug-in's to report
            raise ConfigError(
                f"{VARIABLE}: could not import {name!r} ({type(e).__name__}: {e}); give "
                "importable module names, comma-separated (is its folder on PYTHONPATH?)"
            ) from None
    return names


def file_hash(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def provenance(value: str | None = None) -> list:
    """``[{"module", "path", "sha256"}]`` of every ``BNN_PLUGINS`` module: code that a
    run used but the suite's git commit does not hold, so a run records what it was
    (``path`` and ``sha256`` are None for a module that cannot be found; loading it
    then fails with the reason)."""
    found = []
    for name in named(value):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        path = spec.origin if spec is not None and spec.has_location else None
        found.append({"module": name, "path": path and os.path.abspath(path),
                      "sha256": path and file_hash(path)})
    return found
