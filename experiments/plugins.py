"""Components kept outside the suite: ``BNN_PLUGINS=pkg.module[,other.module]`` imports
those modules before a command line is read, so the optimizers (or models, datasets)
they define are selectable by class name, as the suite's own are."""
import importlib
import os

from experiments.errors import ConfigError

VARIABLE = "BNN_PLUGINS"


def load(value: str | None = None) -> list:
    """Import every module named in ``BNN_PLUGINS`` (comma-separated); returns the names.
    A module that cannot be imported is a ``ConfigError`` naming it and the reason."""
    value = os.environ.get(VARIABLE, "") if value is None else value
    names = [n.strip() for n in value.split(",") if n.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 -- any failure is the plug-in's to report
            raise ConfigError(
                f"{VARIABLE}: could not import {name!r} ({type(e).__name__}: {e}); give "
                "importable module names, comma-separated (is its folder on PYTHONPATH?)"
            ) from None
    return names
