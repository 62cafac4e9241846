"""Bop (Algorithm 2 of the paper): larq's ``lq.optimizers.Bop`` on the binary kernels.

Binary kernels are marked ``NoOp(precision=1)`` so that ``lq.optimizers.Bop.is_binary_variable``
selects them; they *are* the binary weights (±1 after the first step). Real-valued
variables (batch-norm offsets) use Adam.
"""
import math

import larq as lq
import tensorflow as tf
from zookeeper import ComponentField, component

from experiments.optimizers.base import Optimizer, binary_marker, check_range
from experiments.optimizers.flip_rule import ReportsFlips
from experiments.optimizers.schedules import Constant, Schedule

legacy = tf.keras.optimizers.legacy


class CountingBop(ReportsFlips, lq.optimizers.Bop):
    """larq's Bop with its last line, the flip rule, applied by
    :func:`~experiments.optimizers.flip_rule.flip_rule`: the same weights and ``m`` bit
    for bit (``tests/test_flip_rule.py``), in one pass that also counts the flips.
    Everything else (hyperparameters, schedules, the ``m`` slot, its checkpoint names)
    is larq's."""

    def _resource_apply_dense(self, grad, var):
        var_dtype = var.dtype.base_dtype
        gamma = self._get_decayed_hyper("gamma", var_dtype)
        threshold = self._get_decayed_hyper("threshold", var_dtype)
        m = self.get_slot(var, "m")
        m_t = m.assign_add(gamma * (grad - m))  # larq's first line, unchanged
        return self.apply_flip_rule(var, m_t, threshold)


@component
class Bop(Optimizer):
    """Bop (Algorithm 2) for binary kernels, Adam for real-valued variables.

    ``m <- (1 - gamma) m + gamma g``; flip ``w`` iff ``|m| > tau`` and
    ``sign(m) == sign(w)``. The defaults are the §5.2 values.
    """

    gamma: Schedule = ComponentField(Constant, value=1e-4)
    tau: Schedule = ComponentField(Constant, value=1e-8)
    real_lr: Schedule = ComponentField(Constant, value=1e-2)

    def represent(self, layer):
        return binary_marker(layer)

    def check(self) -> None:
        check_range("optimizer.gamma", self.gamma, 0.0, 1.0, low_open=True)
        check_range("optimizer.tau", self.tau, 0.0, math.inf, low_open=False)
        check_range("optimizer.real_lr", self.real_lr, 0.0, math.inf, low_open=True)

    def build(self, model, steps_per_epoch, epochs):
        schedules = {
            "gamma": self.gamma.build(steps_per_epoch, epochs),
            "tau": self.tau.build(steps_per_epoch, epochs),
            "real_lr": self.real_lr.build(steps_per_epoch, epochs),
        }
        optimizer = lq.optimizers.CaseOptimizer(
            (
                lq.optimizers.Bop.is_binary_variable,
                CountingBop(threshold=schedules["tau"], gamma=schedules["gamma"]),
            ),
            default_optimizer=legacy.Adam(schedules["real_lr"]),
        )
        return optimizer, schedules
