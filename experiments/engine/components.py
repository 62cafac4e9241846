"""The experiment's three component slots, each with its contract, and what the
component classes declare about the run id.

An experiment has a ``dataset``, a ``model`` and an ``optimizer`` (``Experiment``'s
component fields); each slot takes any discovered subclass of its contract. Importing
this module imports the three component packages, which find every component there is
(their own modules, the ``bnn.models`` packages; ``BNN_PLUGINS`` modules once loaded).
Run folders are read without it: ``experiments.engine.runs`` imports it only when a
config's semantic part is asked for.
"""
from zookeeper.core.utils import generate_subclasses

from experiments.datasets import Dataset
from experiments.models import Model
from experiments.optimizers import Optimizer

# slot (the experiment's field) -> the contract its components implement
SLOTS = {"dataset": Dataset, "model": Model, "optimizer": Optimizer}


def component_rules() -> tuple[set, dict, dict]:
    """``(non-semantic keys, neutral defaults, renamed keys)`` declared by the component
    classes (``Dataset.source_fields``, ``neutral_defaults``, ``neutral_choice``), as
    flat dotted keys of their slot (``dataset.archive``): what ``runs.semantic`` leaves
    out besides the experiment's own fields. ``renamed``: an experiment-level key a
    component field replaced (``cifar10_archive`` -> ``dataset.archive``), refused on the
    command line and left out of old configs' comparisons."""
    non_semantic, neutral, renamed = set(), {}, {}
    for slot, contract in SLOTS.items():
        for cls in [contract, *generate_subclasses(contract)]:
            for name, former in getattr(cls, "source_fields", {}).items():
                non_semantic.add(f"{slot}.{name}")
                if former:
                    renamed[former] = f"{slot}.{name}"
            declared = dict(getattr(cls, "neutral_defaults", {}))
            if cls.__dict__.get("neutral_choice"):
                declared[""] = cls.__name__
            for name, value in declared.items():
                key = f"{slot}.{name}" if name else slot
                if neutral.get(key, value) != value:
                    raise ValueError(f"{cls.__name__} declares {key}={value!r} neutral, another "
                                     f"component {neutral[key]!r}: one value only")
                neutral[key] = value
    return non_semantic | set(renamed), neutral, renamed
