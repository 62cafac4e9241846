"""Bop2ndOrder, unbiased form (Suarez-Ramirez et al., "Bop and Beyond", 2021), in one file.

The same two states and updates as the biased form (``bop2ndorder.py``)::

    m <- m + gamma * (g - m)
    v <- v + sigma * (g*g - v)
    flip w  iff  w * (m / gamma) / (sqrt(v / sigma) + 1e-10) > tau

with larq's sign(0) = +1, so a weight exactly at the threshold becomes +1, as under Bop.
Transcribed from class ``Bop2ndOrder_unbiased`` of their ``bnn_optimization/optimizers.py``
(CuauSuarez/Bop2ndOrder, ``conference`` branch, added in commit b2f8b18; not on
``master``), whose docstring still reads "Biased Algorithm".

Its "bias correction" is not Adam's ``1 - beta^t``: it divides ``m`` by this step's
gamma and ``v`` by this step's sigma. Without the epsilon the rule is the biased one with
tau replaced by ``tau * gamma / sqrt(sigma)``, a ratio that moves whenever the schedules
move; so the two forms flip different weights under the same schedules. Division by
gamma and sigma is why both must stay in (0, 1] at every step (``check``).

Selected like any optimizer component: ``optimizer=Bop2ndOrderUnbiased``; the same fields,
defaults (their ``bop2ndOrder_unbiased_CIFAR`` preset has the numbers of the biased
``bop2ndOrder_CIFAR``), binary-kernel marking and flip counting as ``Bop2ndOrder``.
"""
import tensorflow as tf
from zookeeper import component

from experiments.optimizers.bop2ndorder import EPSILON, Bop2ndOrder, Bop2ndOrderKeras


class Bop2ndOrderUnbiasedKeras(Bop2ndOrderKeras):
    """The biased Keras update with the unbiased signal; slots ``m`` and ``v``, schedules
    and the fused flip rule (``ReportsFlips``) are the biased class's."""

    def __init__(self, threshold=1e-6, gamma=1e-6, sigma=1e-2, name="Bop2ndOrderUnbiased",
                 **kwargs):
        super().__init__(threshold=threshold, gamma=gamma, sigma=sigma, name=name, **kwargs)

    def signal(self, m_t, v_t, gamma, sigma):
        """Their ``(m / gamma) / (sqrt(v / sigma) + 1e-10)``, in their order of operations."""
        return (m_t / gamma) / (tf.math.sqrt(v_t / sigma) + EPSILON)


@component
class Bop2ndOrderUnbiased(Bop2ndOrder):
    """Bop2ndOrder (unbiased) for binary kernels, Adam for real-valued variables.

    Defaults: their CIFAR-10 preset ``bop2ndOrder_unbiased_CIFAR`` (``binarynet_batch.py``,
    ``conference`` branch), every hyperparameter linear over the whole run - gamma
    1e-2 -> 1e-5, sigma 1e-7 -> 1e-2, tau 1e-5 -> 1e-8, Adam 1e-2 -> 1e-3.
    """

    keras_optimizer = Bop2ndOrderUnbiasedKeras
