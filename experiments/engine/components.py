"""The experiment's three component slots, each with its contract, and what the
component classes declare about the run id.

An experiment has a ``dataset``, a ``model`` and an ``optimizer`` (``Experiment``'s
component fields); each slot takes any discovered subclass of its contract. Importing
this module imports the three component packages, which find every component there is
(their own modules, the ``bnn.models`` packages; ``BNN_PLUGINS`` modules once loaded).
Run folders are read without it: ``experiments.engine.runs`` imports it only when a
config's semantic part is asked for.
"""
from zookeeper.core.component import base_getattr
from zookeeper.core.field import ComponentField
from zookeeper.core.utils import generate_subclasses, is_component_class

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


_FLAT = set()
_ZOOKEEPER = base_getattr.__code__.co_filename  # the file of zookeeper's wrappers


def flatten_lookups(cls) -> None:
    """Give ``cls`` and every component class its fields can hold (recursively) the
    field lookup of their base-most component class.

    zookeeper's ``@component`` wraps a class's ``__getattribute__`` around the one it
    inherits, so a component that subclasses components runs every wrapper of its
    ancestry on each attribute read, and each wrapper reads the instance's own
    attributes through the whole stack again: the cost of one read grows exponentially
    with the depth of the class hierarchy (experiment configs are several classes deep).
    The wrapper's logic depends only on the instance, never on the class it was made
    for, so the base-most wrapper alone resolves every field exactly as the stack does;
    reading and building experiments (the report, sweeps, run ids) were dominated by
    these reads. ``__setattr__`` wrappers, which do depend on their class, are kept."""
    todo = [cls]
    while todo:
        current = todo.pop()
        if current in _FLAT or not is_component_class(current):
            continue
        _FLAT.add(current)
        wrapped = [c for c in current.__mro__ if "__base_getattribute__" in c.__dict__]
        inner = [c.__dict__["__base_getattribute__"].__wrapped__ for c in wrapped]
        own = [f for f in inner if f is not object.__getattribute__
               and getattr(getattr(f, "__code__", None), "co_filename", None) != _ZOOKEEPER]
        if len(wrapped) > 1 and not own:  # a class's own __getattribute__ stays in the stack
            base = wrapped[-1]
            for c in wrapped[:-1]:
                c.__getattribute__ = base.__getattribute__
                c.__base_getattribute__ = base.__base_getattribute__
        for field in current.__component_fields__.values():
            if isinstance(field, ComponentField):  # the field's type and its descendants
                todo.extend(generate_subclasses(field.type))
