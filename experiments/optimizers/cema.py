"""CEMA, the cascaded exponential moving average of Quist, Li and van Gemert,
"Understanding weight-magnitude hyperparameters in training binary networks" (ICLR 2023),
in one file.

Their view: with binary weights, what latent-weight training calls initialisation,
learning rate, its decay and weight decay acts only as a filter on the gradients; CEMA is
that filter with two hyperparameters. Per binary weight ``w`` two states, both 0 at the
start::

    m <- (1 - gamma) * m + gamma * g          # a first filter, like momentum
    v <- (1 - alpha_t) * v + alpha_t * m      # a second one, the "inertia"
    flip w  iff  v * w > 0                    # no threshold

``alpha_t`` is ``alpha`` times the learning-rate schedule's factor of that epoch, and the
weights are set to their sign when the optimizer is made.

Transcribed from ``optimizers/cema_optimizer.py`` of jorisquist/Understanding-WM-HP-in-BNNs
at commit bef182c700f9349921f0db1e905cada5e83964c0 (the file is unchanged at the newest
commit, 077979a), with the schedule of their ``imagenet/step2/train.py``: a
``LambdaLR(lambda e: 1 - e / epochs)`` on the optimizer's ``lr``, which the optimizer
multiplies into its initial alpha, stepped once per epoch. Here ``alpha`` is a schedule
whose value is that product (default :class:`~experiments.optimizers.schedules.EpochLinear`
from ``alpha`` to 0: epoch ``e`` runs at ``alpha * (1 - e / epochs)``). Their real-valued
variables use Adam with the same per-epoch linear decay, lr 1e-3 (their script's default
``--learning_rate``), the default of ``real_lr`` here.

Where this differs from their code, and why:

* Their ``p.sign_()`` is PyTorch's sign, which keeps an exact 0 at 0 (a weight that then
  never flips, since ``v * 0 > 0`` is false); here a 0 becomes +1, larq's sign(0) and the
  suite's definition of a binary weight. Real initialisers almost never draw an exact 0.
* Their optimizer has no default alpha or gamma and the paper's values were not read for
  this file; the defaults below are the suite's (``docs/successors.md``).

Ties follow their rule: ``v * w == 0`` (``v`` exactly 0, e.g. before any gradient) keeps
the weight; NaN keeps it too, since ``NaN > 0`` is false. Selected as ``optimizer=Cema``;
binary kernels are Bop's ``NoOp(precision=1)`` weights, their flips counted in the update.
"""
import math

import larq as lq
import tensorflow as tf
from zookeeper import ComponentField, component

from experiments.errors import ConfigError
from experiments.optimizers.base import (Optimizer, binary_kernels, binary_marker,
                                         check_range)
from experiments.optimizers.flip_rule import ReportsFlips, sign_bits
from experiments.optimizers.schedules import Constant, EpochLinear, Schedule, at_step


@tf.function(jit_compile=True)
def cema_rule(w, v):
    """Their flip: ``w <- -w`` where ``v * w > 0``; and how many weights it flips (int32)."""
    w_t = tf.where(v * w > 0, -w, w)
    flips = tf.reduce_sum(tf.cast(tf.not_equal(sign_bits(w), sign_bits(w_t)), tf.int32))
    return w_t, flips


def to_sign(kernels) -> None:
    """Set each kernel to its sign (larq's: 0 -> +1), as their optimizer does when made."""
    for kernel in kernels:
        kernel.assign(tf.where(kernel >= 0, tf.ones_like(kernel), -tf.ones_like(kernel)))


class CemaKeras(ReportsFlips, tf.keras.optimizers.legacy.Optimizer):
    """The update above as a legacy Keras optimizer (larq's ``CaseOptimizer`` needs the
    legacy interface); ``alpha`` and ``gamma`` may be schedules of the step."""

    _HAS_AGGREGATE_GRAD = True

    def __init__(self, alpha, gamma, name="Cema", **kwargs):
        super().__init__(name=name, **kwargs)
        self._set_hyper("alpha", alpha)
        self._set_hyper("gamma", gamma)

    def _create_slots(self, var_list):
        for var in var_list:
            self.add_slot(var, "m")  # their momentum_buffer
            self.add_slot(var, "v")  # their inertia_buffer

    def _resource_apply_dense(self, grad, var, apply_state=None):
        dtype = var.dtype.base_dtype
        alpha = at_step(self._get_hyper("alpha", dtype), self.iterations, dtype)
        gamma = at_step(self._get_hyper("gamma", dtype), self.iterations, dtype)
        m, v = self.get_slot(var, "m"), self.get_slot(var, "v")
        # their m.mul_(1 - gamma).add_(g, alpha=gamma), then the same for v with m
        m_t = m.assign(m * (1 - gamma) + gamma * grad)
        v_t = v.assign(v * (1 - alpha) + alpha * tf.convert_to_tensor(m_t))
        w_t, flips = cema_rule(var.value(), tf.convert_to_tensor(v_t))
        return self.assign_counted(var, w_t, flips)

    def _resource_apply_sparse(self, grad, var, indices, apply_state=None):
        raise NotImplementedError("CEMA updates dense binary kernels only")

    def get_config(self):
        return {**super().get_config(),
                **{k: self._serialize_hyperparameter(k) for k in ("alpha", "gamma")}}


def check_decaying(name: str, schedule: Schedule, high: float) -> None:
    """A schedule that starts above 0 and may decay to 0 (their ``alpha > 0`` check is on
    the initial value; the factor reaches 0 only after the run)."""
    check_range(name, schedule, 0.0, high, low_open=False)
    if not schedule.value > 0:
        raise ConfigError(f"{name} must start above 0, got {schedule.value!r}")


@component
class Cema(Optimizer):
    """CEMA for binary kernels, Adam for real-valued variables.

    ``alpha``: the second filter's rate times the per-epoch factor (their runs: linear
    1 -> 0); ``gamma``: the first filter's rate. The grid of the ladder varies
    ``optimizer.alpha.value`` (``configs/cifar10.py``, SUCCESSORS).
    """

    alpha: Schedule = ComponentField(EpochLinear, value=1e-3, end=0.0)
    gamma: Schedule = ComponentField(Constant, value=1e-1)
    real_lr: Schedule = ComponentField(EpochLinear, value=1e-3, end=0.0)

    def represent(self, layer):
        return binary_marker(layer)  # the kernel is the binary weight, as under Bop

    def check(self) -> None:
        check_decaying("optimizer.alpha", self.alpha, 1.0)
        check_range("optimizer.gamma", self.gamma, 0.0, 1.0, low_open=True)
        check_decaying("optimizer.real_lr", self.real_lr, math.inf)

    def build(self, model, steps_per_epoch, epochs):
        schedules = {name: getattr(self, name).build(steps_per_epoch, epochs)
                     for name in ("alpha", "gamma", "real_lr")}
        if model is not None:
            to_sign(binary_kernels(model))
        optimizer = lq.optimizers.CaseOptimizer(
            (lq.optimizers.Bop.is_binary_variable,
             CemaKeras(alpha=schedules["alpha"], gamma=schedules["gamma"])),
            default_optimizer=tf.keras.optimizers.legacy.Adam(schedules["real_lr"]),
        )
        return optimizer, schedules
