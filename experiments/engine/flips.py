"""Flip statistics: how many binary weights change sign per step (paper eq. 7).

A *flip* is a sign change of a binary weight between two consecutive steps, with
larq's convention sign(0) = +1. The same definition serves Bop (whose weights are ±1)
and latent-weight optimizers (a flip is a sign change of the latent weight), so the two
can be compared on one axis. Counting happens inside the compiled training step (one
comparison per weight), which keeps it cheap enough to leave on.

The paper plots ``pi_t = ln(flips_t / total + e^-9)`` per step for the last layer (the
``e^-9`` keeps steps without flips finite: they sit at -9). larq's ``FlipRatio`` metric
is instead a running average of the plain fraction; the suite records per-step counts
from which both follow.
"""
import math

import numpy as np

PI_T_FLOOR = math.exp(-9.0)


def pi_t(flips, total):
    """The paper's log flip ratio, eq. 7: ``ln(flips / total + e^-9)`` (elementwise)."""
    ratio = np.asarray(flips, dtype=np.float64) / np.asarray(total, dtype=np.float64)
    return np.log(ratio + PI_T_FLOOR)


def sign_bits(variable):
    """``variable >= 0``: the binary weight's sign as a bool tensor (larq: sign(0) = +1)."""
    import tensorflow as tf

    return tf.greater_equal(variable, 0)


def count_flips(before, variable):
    """Number of weights whose sign bit differs from ``before`` (a float32 scalar)."""
    import tensorflow as tf

    changed = tf.not_equal(before, sign_bits(variable))
    return tf.reduce_sum(tf.cast(changed, tf.float32))
