"""Hyperparameter schedules for gamma, tau and learning rates, as zookeeper components.

The paper uses three shapes: constant (§5.1), staircase x0.1 every 100 epochs (§5.2) and
linear decay over the whole run (§5.3, ``PolynomialDecay`` with power 1 in the authors'
code); larq-zoo's latent-weight recipes add piecewise-constant steps. Schedules are
defined in epochs and built into Keras schedules of optimizer steps once the number of
steps per epoch is known. That number comes as ``n_train / batch_size``, which need not
be whole: epoch boundaries (staircase) fall on the loop's whole-step epochs,
``int(steps_per_epoch)``, while linear decay spans the authors' ``epochs * n // batch``
steps; larq's ``Bop`` evaluates a schedule
for gamma or tau at its own step counter, which is checkpointed with it.
"""

import math

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
            decay_steps=self.every_epochs * int(steps_per_epoch),
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
            float(self.value), decay_steps=int(epochs * steps_per_epoch),
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


def at_step(value, step, dtype):
    """A Keras optimizer's hyperparameter at ``step`` inside its update: a built schedule
    is called with the step, a number is used as it is."""
    if isinstance(value, tf.keras.optimizers.schedules.LearningRateSchedule):
        return tf.cast(value(tf.cast(step, dtype)), dtype)
    return value


def evaluate(schedule, step: int) -> float:
    """The value of a built schedule at ``step`` (for logging the current lr / gamma)."""
    if isinstance(schedule, (int, float)):
        return float(schedule)
    return float(schedule(step))


@component
class PiecewiseConstant(Schedule):
    """``value * multipliers[i]`` from epoch ``boundary_epochs[i - 1]`` on (``multipliers[0]``
    before the first boundary): an epoch-indexed step function such as larq-zoo's
    ``TrainXNORNet.learning_rate_schedule`` (§5.3 latent-weight baseline). A boundary may
    be a fraction of an epoch (reduced scales); it becomes step
    ``int(boundary * int(steps_per_epoch))`` (whole-step epochs, as the training loop
    counts them), the first step that uses the next value."""

    boundary_epochs: tuple = Field(())
    multipliers: tuple = Field((1.0,))

    def boundary_steps(self, steps_per_epoch) -> list[int]:
        return [int(b * int(steps_per_epoch)) for b in self.boundary_epochs]

    def build(self, steps_per_epoch, epochs: int):
        values = [float(self.value * m) for m in self.multipliers]
        if not self.boundary_epochs:
            return values[0]
        steps = self.boundary_steps(steps_per_epoch)
        if any(b < 1 for b in steps) or any(a >= b for a, b in zip(steps, steps[1:])):
            raise ConfigError(
                f"boundary_epochs {tuple(self.boundary_epochs)} give boundary steps {steps} "
                f"at {steps_per_epoch} steps per epoch; they must be >= 1 and increasing")
        # Keras switches to values[i + 1] at step > boundaries[i]; here the switch is *at*
        # the boundary step (the first step of that epoch), as a per-epoch scheduler does.
        return tf.keras.optimizers.schedules.PiecewiseConstantDecay(
            [b - 1 for b in steps], values)

    def check_schedule(self, name: str) -> None:
        bounds, mults = tuple(self.boundary_epochs), tuple(self.multipliers)
        if len(mults) != len(bounds) + 1:
            raise ConfigError(
                f"{name}.multipliers needs one value more than {name}.boundary_epochs "
                f"(one per interval), got {len(mults)} and {len(bounds)}")
        if any(b <= 0 for b in bounds) or any(a >= b for a, b in zip(bounds, bounds[1:])):
            raise ConfigError(
                f"{name}.boundary_epochs must be positive and increasing, got {bounds}")
        if any(m <= 0 for m in mults):
            raise ConfigError(f"{name}.multipliers must be > 0, got {mults}")

    def values(self) -> list[float]:
        return [self.value * m for m in self.multipliers]


class _ByEpoch(tf.keras.optimizers.schedules.LearningRateSchedule):
    """A schedule that is constant within each whole-step epoch: ``shape(e + offset)``
    at every step of epoch ``e`` (``e = step // steps_per_epoch``), as a PyTorch
    scheduler stepped once per epoch gives it."""

    def __init__(self, value, end, steps_per_epoch, epochs, offset, kind):
        self.value, self.end = float(value), float(end)
        self.steps_per_epoch, self.epochs = int(steps_per_epoch), int(epochs)
        self.offset, self.kind = int(offset), kind

    def __call__(self, step):
        epoch = tf.math.floordiv(tf.cast(step, tf.int64), self.steps_per_epoch)
        progress = tf.cast(epoch + self.offset, tf.float32) / float(self.epochs)
        if self.kind == "linear":
            return self.value + (self.end - self.value) * progress
        return self.end + (self.value - self.end) * (1.0 + tf.cos(math.pi * progress)) / 2.0

    def get_config(self):
        return {"value": self.value, "end": self.end, "steps_per_epoch": self.steps_per_epoch,
                "epochs": self.epochs, "offset": self.offset, "kind": self.kind}


@component
class EpochLinear(Schedule):
    """Linear from ``value`` towards ``end`` in whole epochs: ``value + (end - value) *
    (e + offset) / epochs`` throughout epoch ``e``. With ``offset=0`` the last epoch runs
    at ``value + (end - value) * (epochs - 1) / epochs``, never at ``end`` itself: a
    PyTorch ``LambdaLR(lambda e: 1 - e / epochs)`` stepped after each epoch (CEMA's
    training script)."""

    end: float = Field(0.0)
    offset: int = Field(0)

    def build(self, steps_per_epoch, epochs: int):
        return _ByEpoch(self.value, self.end, int(steps_per_epoch), epochs, self.offset, "linear")

    def check_schedule(self, name: str) -> None:
        if self.offset not in (0, 1):
            raise ConfigError(f"{name}.offset must be 0 or 1, got {self.offset}")

    def values(self) -> list[float]:
        return [self.value, self.end]


@component
class EpochCosine(Schedule):
    """Cosine from ``value`` to ``end`` in whole epochs: ``end + (value - end) * (1 +
    cos(pi * (e + offset) / epochs)) / 2`` throughout epoch ``e``. ``offset=1`` is a
    PyTorch ``CosineAnnealingLR(T_max=epochs)`` stepped at the *start* of every epoch
    (BayesBiNN's training loop): the first epoch already runs one step down the
    cosine, and the last one at ``end``."""

    end: float = Field(0.0)
    offset: int = Field(0)

    def build(self, steps_per_epoch, epochs: int):
        return _ByEpoch(self.value, self.end, int(steps_per_epoch), epochs, self.offset, "cosine")

    def check_schedule(self, name: str) -> None:
        if self.offset not in (0, 1):
            raise ConfigError(f"{name}.offset must be 0 or 1, got {self.offset}")

    def values(self) -> list[float]:
        return [self.value, self.end]
