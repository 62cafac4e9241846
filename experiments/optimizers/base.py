"""The optimizer plug-in contract: what every optimizer component declares.

An optimizer decides two things that only make sense together, and nothing else in the
suite names it:

* ``represent(layer)``: how each binary kernel is represented, asked *per layer* by the
  model builder (``experiments.models.base.BinaryLayer`` -> ``{"kernel_quantizer": ...,
  "kernel_constraint": ...}``). Bop-like optimizers mark every kernel binary
  (:func:`binary_marker`); latent-weight optimizers put a quantizer on a real latent
  weight, which may be the model's own for that layer (``layer.own()``, e.g. XNOR-Net's
  scaled sign);
* ``build(model, steps_per_epoch, epochs)``: its Keras (legacy, Keras 2) optimizer and the
  built schedules, which the engine logs every epoch;

and validates its own fields in ``check()`` before any data is read. One more decision
is optional: ``evaluation_weights(model, optimizer)``, a context manager inside which the
binary kernels hold the weights to *evaluate* with, restored to the training weights on
exit. The training loop wraps every evaluation in it; by default the kernels are used as
they are. BayesBiNN needs it: its kernels hold a random sample during training and the
sign of the distribution's mean at test time. One module in
``experiments/optimizers/`` is one optimizer: the package imports every module in it, so
a new file is selectable as ``optimizer=ClassName`` with no registry to edit (modules
elsewhere: ``BNN_PLUGINS=package.module``, see ``experiments.plugins``).
"""
import contextlib

import larq as lq
import tensorflow as tf

from experiments.errors import ConfigError
from experiments.optimizers.schedules import Schedule
from experiments.models.base import MODEL_DEFAULT, BinaryLayer  # noqa: F401  (re-exported for plug-ins)


def binary_layers(model: tf.keras.Model) -> list:
    """The model's quantized layers with a kernel (a larq ``Quant*`` layer with a kernel
    quantizer), in layer order: whatever each layer's representation, Bop's
    ``NoOp(precision=1)`` marker or a latent weight behind a quantizer."""
    return [layer for layer in model.layers
            if getattr(layer, "kernel_quantizer", None) is not None and hasattr(layer, "kernel")]


def binary_kernels(model: tf.keras.Model) -> list:
    """The kernels of :func:`binary_layers`: the binary weights."""
    return [layer.kernel for layer in binary_layers(model)]


def is_binary_marker(quantizer) -> bool:
    """Bop's marker: the kernel *is* the binary weight (``NoOp(precision=1)``)."""
    return isinstance(quantizer, lq.quantizers.NoOp) and getattr(quantizer, "precision", None) == 1


def binary_marker(layer: BinaryLayer | None = None) -> dict:
    """The representation of Bop-like optimizers for every layer: the kernel is the
    binary weight itself, marked ``NoOp(precision=1)`` (what ``Bop.is_binary_variable``
    selects), with no constraint."""
    return {"kernel_quantizer": lq.quantizers.NoOp(precision=1), "kernel_constraint": None}


def check_range(name: str, schedule: Schedule, low: float, high: float, low_open: bool):
    schedule.check_schedule(name)
    for v in schedule.values():
        ok = (low < v if low_open else low <= v) and v <= high
        if not ok:
            bracket = "(" if low_open else "["
            raise ConfigError(
                f"{name} must lie in {bracket}{low:g}, {high:g}] at every step, but the "
                f"{type(schedule).__name__} schedule takes the value {v!r}"
            )


class Optimizer:
    """Base class of the suite's optimizer components (subclasses are @component)."""

    def represent(self, layer: BinaryLayer) -> dict:
        """``{"kernel_quantizer": ..., "kernel_constraint": ...}`` for one binary layer."""
        raise NotImplementedError

    def build(self, model: tf.keras.Model, steps_per_epoch: int, epochs: int):
        """Return ``(keras_optimizer, {name: built_schedule})``; the schedules are logged."""
        raise NotImplementedError

    def check(self) -> None:
        """Raise ``ConfigError`` for an invalid hyperparameter."""

    def evaluation_weights(self, model: tf.keras.Model, optimizer):
        """A context manager inside which ``model``'s binary kernels hold the weights to
        evaluate with, and on whose exit they hold the training weights again, bit for
        bit (the next step and the checkpoint see those). ``optimizer`` is what
        :meth:`build` returned. Default: the kernels as they are."""
        return contextlib.nullcontext()
