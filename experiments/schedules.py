"""Hyperparameter schedules for gamma, tau and learning rates, as zookeeper components.

The paper uses three shapes: constant (§5.1), staircase x0.1 every 100 epochs (§5.2) and
linear decay over the whole run (§5.3, ``PolynomialDecay`` with power 1 in the authors'
code). Schedules are defined in epochs and built into Keras schedules of optimizer
steps once the number of steps per epoch is known; larq's ``Bop`` evaluates a schedule
for gamma or tau at its own step counter, which is checkpointed with it.
"""

from experiments import _keras2  # noqa: F401
import tensorflow as tf
from zookeeper import Field, component

from experiments.errors import ConfigError


@component
class Schedule:
    """Base class: ``value`` is the value at step 0."""

    abstract = True  # not selectable itself

    value: float = Field()

    def build(self, steps_per_epoch: int, epochs: int):
        """A float or a ``tf.keras.optimizers.schedules.LearningRateSchedule``."""
        raise NotImplementedError

    def values(self) -> list[float]:
        """Every value the schedule can take (its range), for validation."""
        return [self.value]

    def check_schedule(self, name: str) -> None:
        """Schedule-shape constraints; the owner checks the range of its values."""


@component
class Constant(Schedule):
    """The same value at every step (§5.1)."""

    def build(self, steps_per_epoch: int, epochs: int):
        return float(self.value)


@component
class Staircase(Schedule):
    """``value * factor ** floor(epoch / every_epochs)`` (§5.2: x0.1 every 100 epochs)."""

    every_epochs: int = Field(100)
    factor: float = Field(0.1)

    def build(self, steps_per_epoch: int, epochs: int):
        return tf.keras.optimizers.schedules.ExponentialDecay(
            float(self.value),
            decay_steps=self.every_epochs * steps_per_epoch,
            decay_rate=float(self.factor),
            staircase=True,
        )

    def check_schedule(self, name: str) -> None:
        if self.every_epochs < 1:
            raise ConfigError(f"{name}.every_epochs must be >= 1, got {self.every_epochs}")
        if not 0 < self.factor <= 1:
            raise ConfigError(f"{name}.factor must be in (0, 1], got {self.factor}")

    def values(self) -> list[float]:
        return [self.value, self.value * self.factor]


@component
class Linear(Schedule):
    """Linear from ``value`` to ``end`` over the whole run (§5.3)."""

    end: float = Field()

    def build(self, steps_per_epoch: int, epochs: int):
        return tf.keras.optimizers.schedules.PolynomialDecay(
            float(self.value), decay_steps=epochs * steps_per_epoch,
            end_learning_rate=float(self.end), power=1.0,
        )

    def values(self) -> list[float]:
        return [self.value, self.end]


class ScaledSchedule(tf.keras.optimizers.schedules.LearningRateSchedule):
    """``factor * schedule(step)``: one layer's share of a schedule under Xavier scaling."""

    def __init__(self, schedule, factor: float):
        self.schedule = schedule
        self.factor = float(factor)

    def __call__(self, step):
        return self.factor * self.schedule(step)

    def get_config(self):
        return {
            "schedule": tf.keras.optimizers.schedules.serialize(self.schedule),
            "factor": self.factor,
        }


def scaled(schedule, factor: float):
    """Scale a built schedule (float or Keras schedule) by a constant factor."""
    if isinstance(schedule, (int, float)):
        return float(schedule) * factor
    return ScaledSchedule(schedule, factor)


def evaluate(schedule, step: int) -> float:
    """The value of a built schedule at ``step`` (for logging the current lr / gamma)."""
    if isinstance(schedule, (int, float)):
        return float(schedule)
    return float(schedule(step))
