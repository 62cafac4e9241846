"""Bop2ndOrder (Suarez-Ramirez, Gonzalez-Mendoza, Chang and Ramirez-Mendoza, "Bop and
Beyond", 2021): Bop with a second-moment normaliser, in one file.

Per binary weight two states, both 0 at the start::

    m <- m + gamma * (g - m)          # first moment, as Bop
    v <- v + sigma * (g*g - v)        # second moment
    flip w  iff  w * m / (sqrt(v) + 1e-10) > tau

The flip rule is Bop's in larq, ``w <- sign(-sign(w * m_hat - tau) * w)`` with larq's
sign(0) = +1, so a weight exactly at the threshold becomes +1 (the same tie rule as
larq's Bop; weights are ±1 after the first step). It is applied by ``flip_rule``, which
also counts the flips. This is the *biased* form, class ``Bop2ndOrder`` of their
``bnn_optimization/optimizers.py`` (CuauSuarez/Bop2ndOrder: commit b2c314c on
``master``, the same update on the ``conference`` branch). That file on ``conference``
(from commit b2f8b18) also has ``Bop2ndOrder_unbiased``, which rescales both moments by
the current gamma and sigma before the rule: the suite's ``Bop2ndOrderUnbiased``
(``bop2ndorder_unbiased.py``), which differs from this class in :meth:`signal` only.

Selected like any optimizer component: ``optimizer=Bop2ndOrder``. Binary kernels are
Bop's ``NoOp(precision=1)`` weights; batch-norm variables use Adam(``real_lr``).
"""
import math

import larq as lq
import tensorflow as tf
from zookeeper import ComponentField, component

from experiments.optimizers.base import Optimizer, binary_marker, check_range
from experiments.optimizers.flip_rule import ReportsFlips
from experiments.optimizers.schedules import Linear, Schedule

EPSILON = 1e-10  # theirs: added to sqrt(v) before dividing


class Bop2ndOrderKeras(ReportsFlips, tf.keras.optimizers.legacy.Optimizer):
    """The update above as a legacy Keras optimizer (larq's ``CaseOptimizer`` needs the
    legacy interface). ``gamma``, ``sigma`` and ``threshold`` may be schedules."""

    _HAS_AGGREGATE_GRAD = True

    def __init__(self, threshold=1e-6, gamma=1e-6, sigma=1e-2, name="Bop2ndOrder", **kwargs):
        super().__init__(name=name, **kwargs)
        self._set_hyper("threshold", threshold)
        self._set_hyper("gamma", gamma)
        self._set_hyper("sigma", sigma)

    def _create_slots(self, var_list):
        for var in var_list:
            self.add_slot(var, "m")
            self.add_slot(var, "v")

    def _hyper_now(self, name, dtype):
        """A hyperparameter at the current step (schedules are called with it)."""
        value = self._get_hyper(name, dtype)
        if isinstance(value, tf.keras.optimizers.schedules.LearningRateSchedule):
            value = tf.cast(value(tf.cast(self.iterations, dtype)), dtype)
        return value

    def _resource_apply_dense(self, grad, var, apply_state=None):
        dtype = var.dtype.base_dtype
        gamma, sigma = self._hyper_now("gamma", dtype), self._hyper_now("sigma", dtype)
        threshold = self._hyper_now("threshold", dtype)
        m, v = self.get_slot(var, "m"), self.get_slot(var, "v")
        m_t = m.assign_add(gamma * (grad - m))
        v_t = v.assign_add(sigma * (tf.math.square(grad) - v))
        return self.apply_flip_rule(var, self.signal(m_t, v_t, gamma, sigma),
                                    threshold)  # larq's Bop rule, fused

    def signal(self, m_t, v_t, gamma, sigma):
        """What the flip rule compares with tau (times w): their biased ``m / (sqrt(v) +
        1e-10)``. ``gamma`` and ``sigma`` are this step's values."""
        return m_t / (tf.math.sqrt(v_t) + EPSILON)

    def _resource_apply_sparse(self, grad, var, indices, apply_state=None):
        raise NotImplementedError("Bop2ndOrder updates dense binary kernels only")

    def get_config(self):
        return {**super().get_config(),
                **{k: self._serialize_hyperparameter(k) for k in ("threshold", "gamma", "sigma")}}


@component
class Bop2ndOrder(Optimizer):
    """Bop2ndOrder (biased) for binary kernels, Adam for real-valued variables.

    Defaults: their CIFAR-10 preset ``bop2ndOrder_CIFAR`` (``binarynet_batch.py``):
    every hyperparameter linear over the whole run (Keras ``PolynomialDecay``, power 1)
    - gamma 1e-2 -> 1e-5, sigma 1e-7 -> 1e-2, tau 1e-5 -> 1e-8, Adam 1e-2 -> 1e-3.
    """

    gamma: Schedule = ComponentField(Linear, value=1e-2, end=1e-5)
    sigma: Schedule = ComponentField(Linear, value=1e-7, end=1e-2)
    tau: Schedule = ComponentField(Linear, value=1e-5, end=1e-8)
    real_lr: Schedule = ComponentField(Linear, value=1e-2, end=1e-3)
    keras_optimizer = Bop2ndOrderKeras  # the update; a variant changes this only

    def represent(self, layer):
        return binary_marker(layer)  # the weights *are* binary, as under Bop

    def check(self) -> None:
        check_range("optimizer.gamma", self.gamma, 0.0, 1.0, low_open=True)
        check_range("optimizer.sigma", self.sigma, 0.0, 1.0, low_open=True)
        check_range("optimizer.tau", self.tau, 0.0, math.inf, low_open=False)
        check_range("optimizer.real_lr", self.real_lr, 0.0, math.inf, low_open=True)

    def build(self, model, steps_per_epoch, epochs):
        schedules = {name: getattr(self, name).build(steps_per_epoch, epochs)
                     for name in ("gamma", "sigma", "tau", "real_lr")}
        optimizer = lq.optimizers.CaseOptimizer(
            (lq.optimizers.Bop.is_binary_variable,
             self.keras_optimizer(threshold=schedules["tau"], gamma=schedules["gamma"],
                                  sigma=schedules["sigma"])),
            default_optimizer=tf.keras.optimizers.legacy.Adam(schedules["real_lr"]),
        )
        return optimizer, schedules
