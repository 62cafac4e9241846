"""``experiments.engine.components.flatten_lookups``: a component hierarchy read through
its base-most zookeeper wrapper gives every field the value zookeeper's own stack of
wrappers gives, from each of zookeeper's sources (configured here or on a parent,
given at instantiation, a default computed from other fields, inherited from the
nearest parent with the field, an ``@factory``), and still refuses a write."""
import os

import pytest
from zookeeper import ComponentField, Field, component, configure, factory

from configs import EXPERIMENTS
from experiments.engine import components
from experiments.engine.experiment import build, flatten


def family():
    """A fresh set of component classes, four @component classes deep on both sides."""

    @factory
    class Width:
        base: int = Field(8)

        def build(self) -> int:
            return self.base * 4

    @component
    class Part:
        size: int = Field(3)
        scale: float = Field()  # from the nearest parent that has it
        width: int = ComponentField(Width)

    @component
    class PartMiddle(Part):
        double: int = Field(lambda self: self.size * 2)

    @component
    class PartDeep(PartMiddle):
        label: str = Field("deep")

    @component
    class PartDeepest(PartDeep):
        pass

    @component
    class Whole:
        scale: float = Field(0.5)
        part: Part = ComponentField(PartDeepest)
        other: Part = ComponentField(PartDeepest, size=7)

    @component
    class WholeMiddle(Whole):
        name: str = Field("x")

    @component
    class WholeDeep(WholeMiddle):
        count: int = Field(lambda self: len(self.name))

    @component
    class WholeDeepest(WholeDeep):
        pass

    return WholeDeepest, PartDeepest, Whole, Part


CONFIG = {"part.size": 5, "name": "yyy", "part.width.base": 2, "other.label": "set"}


def values(cls, flat: bool) -> dict:
    if flat:
        components.flatten_lookups(cls)
    instance = cls()
    configure(instance, dict(CONFIG), name="whole")
    return flatten(instance)


def test_a_flattened_hierarchy_reads_every_value_the_wrapper_stack_reads():
    stacked_cls, stacked_part, *_ = family()
    flat_cls, flat_part, flat_base, flat_part_base = family()
    stacked, flat = values(stacked_cls, False), values(flat_cls, True)
    assert flat == stacked
    assert flat["part.size"] == 5 and flat["part.double"] == 10  # configured; derived default
    assert flat["other.size"] == 7 and flat["other.label"] == "set"  # instantiated; configured
    assert flat["part.scale"] == 0.5 and flat["count"] == 3  # from the parent; derived
    assert stacked_cls.__getattribute__ is not stacked_cls.__mro__[3].__getattribute__
    assert flat_cls.__getattribute__ is flat_base.__getattribute__  # one wrapper, not four
    assert flat_part.__getattribute__ is flat_part_base.__getattribute__  # the field's class too


def test_a_flattened_component_still_refuses_writes_and_builds_factories():
    flat_cls, *_ = family()
    components.flatten_lookups(flat_cls)
    instance = flat_cls()
    configure(instance, dict(CONFIG), name="whole")
    assert instance.part.width == 2 * 4 and instance.other.width == 8 * 4  # built on read
    with pytest.raises(ValueError, match="prohibited"):
        instance.name = "z"
    with pytest.raises(ValueError, match="prohibited"):
        instance.part.size = 1


def test_a_class_with_its_own_getattribute_keeps_its_stack():
    @component
    class Base:
        a: int = Field(1)

    @component
    class Middle(Base):
        def __getattribute__(self, name):
            return object.__getattribute__(self, name)

    @component
    class Top(Middle):
        b: int = Field(2)

    wrapper = Top.__getattribute__
    components.flatten_lookups(Top)
    assert Top.__getattribute__ is wrapper


def test_experiments_built_with_flat_lookups_keep_their_run_ids():
    """Every declared CIFAR-10 §5.2 arm gives the run folder its committed runs carry
    (``results/runs``), built through the flattened classes."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    checked = 0
    for name in ("sec52_bop", "sec52_adam", "sec52_bop2ndorder"):
        exp = build(EXPERIMENTS[name], {"scale": "quick", "seed": 0})
        assert type(exp).__getattribute__ is EXPERIMENTS[name].__mro__[-2].__getattribute__
        folder = os.path.join(repo, exp.run_dir())
        if os.path.isdir(os.path.join(repo, "results", "runs", exp.folder or exp.name)):
            assert os.path.isdir(folder), folder
            checked += 1
    assert checked >= 1
