"""Flip statistics: how many binary weights change sign per step (paper eq. 7).

A *flip* is a sign change of a binary weight between two consecutive steps, with
larq's convention sign(0) = +1. The same definition serves Bop (whose weights are ±1)
and latent-weight optimizers (a flip is a sign change of the latent weight), so the two
can be compared on one axis. Counting happens inside the compiled training step, which
keeps it cheap enough to leave on (:class:`FlipCounter`):

* an optimizer whose update ends in the flip rule (Bop, Bop2ndOrder:
  ``experiments.optimizers.flip_rule.ReportsFlips``) counts its flips in the same fused
  pass that applies the rule, and the step reads the counts;
* for any other optimizer, the sign bits of its kernels before the update and the
  per-layer counts after it are each one XLA-compiled function over all kernels
  (:func:`sign_bits_all`, :func:`count_flips_all`): one pass over the weights each,
  instead of five separate kernels.

Counts are int32, exact for any layer size a model here has (float32 sums stop being
exact above 2^24 = 16.8 M flips, which Binary AlexNet's 37.7 M-weight dense layer exceeds
at its first step).

The paper plots ``pi_t = ln(flips_t / total + e^-9)`` per step for the last layer (the
``e^-9`` keeps steps without flips finite: they sit at -9). larq's ``FlipRatio`` metric
is instead a running average of the plain fraction; the suite records per-step counts
from which both follow.
"""
import math

from experiments import _keras2
import numpy as np
import tensorflow as tf

from experiments.optimizers.flip_rule import ReportsFlips, sign_bits

PI_T_FLOOR = math.exp(-9.0)


def pi_t(flips, total):
    """The paper's log flip ratio, eq. 7: ``ln(flips / total + e^-9)`` (elementwise)."""
    ratio = np.asarray(flips, dtype=np.float64) / np.asarray(total, dtype=np.float64)
    return np.log(ratio + PI_T_FLOOR)


def count_flips(before, variable):
    """Number of weights whose sign bit differs from ``before`` (a float32 scalar)."""
    changed = tf.not_equal(before, sign_bits(variable))
    return tf.reduce_sum(tf.cast(changed, tf.float32))


@tf.function(jit_compile=True)
def sign_bits_all(values):
    """:func:`sign_bits` of every kernel value, in one compiled call."""
    return [sign_bits(v) for v in values]


@tf.function(jit_compile=True)
def count_flips_all(before, values):
    """Per-kernel number of sign changes from ``before`` (bools) to ``values``, as an
    int32 vector: exact counts, one fused pass per kernel."""
    return tf.stack([tf.reduce_sum(tf.cast(tf.not_equal(b, sign_bits(v)), tf.int32))
                     for b, v in zip(before, values)])


def updater_of(optimizer, variable):
    """The Keras optimizer that updates ``variable``: ``optimizer`` itself, or under larq's
    ``CaseOptimizer`` the first whose predicate claims it (else its default), as the
    ``CaseOptimizer`` decides at its first step."""
    pairs = getattr(optimizer, "pred_opt_pairs", None)
    if pairs is None:
        return optimizer
    return next((opt for predicate, opt in pairs if predicate(variable)), optimizer.default)


class FlipCounter:
    """Each binary kernel's flips in one training step, in kernel order (an int32 vector).

    Kernels whose optimizer reports its flips are read from it after the update; the
    others are compared with their sign bits from before it (:meth:`before`, called
    before the update in program order: TensorFlow orders a variable's reads and writes
    so, and a read is a snapshot, so no explicit dependency has to hold the update back)."""

    def __init__(self, optimizer, kernels):
        self.kernels = list(kernels)
        updaters = [updater_of(optimizer, k) for k in self.kernels]
        self.reporters = [u if isinstance(u, ReportsFlips) else None for u in updaters]
        self.compared = [i for i, r in enumerate(self.reporters) if r is None]

    def before(self):
        """Sign bits of the kernels whose flips are compared (none when all report)."""
        if not self.compared:
            return []
        return sign_bits_all([self.kernels[i].value() for i in self.compared])

    def after(self, before):
        """The step's flips per kernel, given :meth:`before`'s result."""
        counts = [None] * len(self.kernels)
        if self.compared:
            compared = count_flips_all(before, [self.kernels[i].value() for i in self.compared])
            for j, i in enumerate(self.compared):
                counts[i] = compared[j]
        for i, reporter in enumerate(self.reporters):
            if reporter is not None:
                counts[i] = reporter.flips_of(self.kernels[i])
        return tf.stack(counts)


_XLA_STARTED = False


def start_xla_quietly() -> None:
    """XLA announces its first compilation with C++ log lines that TF_CPP_MIN_LOG_LEVEL
    does not silence ("XLA service ... initialized", "Compiled cluster using XLA!");
    compile a trivial count once per process, quietly, so that training output starts
    clean. Called by the training loop after the distribution strategy exists: touching
    the runtime earlier (e.g. at import) would stop a multi-worker strategy from
    configuring its collective ops."""
    global _XLA_STARTED
    if not _XLA_STARTED:
        with _keras2.quiet_fd2():
            count_flips_all([tf.zeros([1], tf.bool)], [tf.zeros([1])])
        _XLA_STARTED = True
