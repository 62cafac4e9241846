"""The flip rule that ends every Bop-like update, fused with counting the flips.

Bop (and Bop2ndOrder) finish each step with larq's rule ``w <- sign(-sign(w*s - tau) * w)``
(``s``: the optimizer's signal, Bop's ``m``; larq's sign(0) = +1): a weight flips where
``w * s`` exceeds the threshold. larq runs the rule as eight TensorFlow kernels, each a
pass over the weights, after which the training loop needs two more passes to find out
which signs changed. :func:`flip_rule` is one XLA-compiled pass that returns the new
weights *and* their number of flips, so the paper's per-step flip counts cost nothing
extra: in ``results/bench.json`` (``make bench``, 2 CPU cores) the suite's step, counting
flips, is at parity with a plain ``model.fit`` with larq's own Bop on BinaryNet and 1.01x
it on Binary AlexNet at 64 px, where the update weighs most.

The result is larq's bit for bit by construction (tested on CPU): the rule compares
``w*s`` with ``tau`` instead of subtracting, because a compiler may fuse ``w*s - tau``
into one multiply-add, which rounds once instead of twice and so moves a weight whose
product rounds to exactly ``tau``. Ties become +1, as in larq; NaN stays NaN
(``tests/test_flip_rule.py`` checks both against ``lq.optimizers.Bop`` itself).

A flip is a change of the sign bit ``w >= 0`` (:func:`sign_bits`), the one definition the
training loop also uses for latent weights.
"""
from experiments import _keras2
import tensorflow as tf


def sign_bits(variable):
    """``variable >= 0``: the binary weight's sign as a bool tensor (larq: sign(0) = +1)."""
    return tf.greater_equal(variable, 0)


@tf.function(jit_compile=True)
def flip_rule(w, signal, threshold):
    """larq's ``sign(-sign(w * signal - threshold) * w)``, and how many weights it flips
    (an int32 scalar: exact for any layer size)."""
    p = w * signal
    one = tf.ones_like(w)
    flipped = tf.where(w > 0, -one, one)  # larq's sign(-w)
    kept = tf.where(w < 0, -one, one)  # larq's sign(w)
    # p == threshold: sign(0) = 0, so larq's rule gives sign(-0 * w) = +1
    w_t = tf.where(p > threshold, flipped, tf.where(p < threshold, kept, one))
    # p - threshold is NaN where p is NaN or both are the same infinity
    undefined = tf.math.is_nan(p) | (tf.math.is_inf(p) & tf.equal(p, threshold))
    w_t = tf.where(undefined, tf.fill(tf.shape(w), tf.constant(float("nan"), w.dtype)), w_t)
    flips = tf.reduce_sum(tf.cast(tf.not_equal(sign_bits(w), sign_bits(w_t)), tf.int32))
    return w_t, flips


class _Counters:
    """Each variable's flips at its last update, by Keras variable key. A plain object,
    so Keras does not track it: the counts are rewritten every step, not state that a
    checkpoint (or the state digest) should carry."""

    def __init__(self):
        self.by_key = {}


class ReportsFlips:
    """Mixin for a legacy Keras optimizer whose update ends in the flip rule.

    The update calls :meth:`apply_flip_rule` instead of assigning larq's expression, and
    the training loop reads each kernel's flips with :meth:`flips_of` instead of counting
    sign changes itself. Under a ``tf.distribute`` strategy the counters are mirrored like
    slots, and each replica reads the count of its own copy of the weights."""

    def _create_all_weights(self, var_list):
        """Keras's slots and hyperparameters, then one counter per variable."""
        super()._create_all_weights(var_list)
        if not hasattr(self, "_flip_counters"):
            self._flip_counters = _Counters()
        for var in var_list:
            key = _keras2.var_key(var)
            if key in self._flip_counters.by_key:
                continue
            with self._distribution_strategy_scope():  # as Keras creates slot variables
                strategy = tf.distribute.get_strategy()
                with strategy.extended.colocate_vars_with(var):
                    self._flip_counters.by_key[key] = tf.Variable(
                        0, dtype=tf.int32, trainable=False, name="flips",
                        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    def apply_flip_rule(self, var, signal, threshold):
        """Set ``var`` to the flip rule's result and record its number of flips."""
        # a signal fresh from `assign_add` is a variable: read it after that update
        w_t, flips = flip_rule(var.value(), tf.convert_to_tensor(signal), threshold)
        return self.assign_counted(var, w_t, flips)

    def assign_counted(self, var, w_t, flips):
        """Set ``var`` to ``w_t`` and record ``flips`` as its number of flips: for an
        update whose rule is not larq's (CEMA's ``v * w > 0``), counted in its own pass."""
        counter = self._flip_counters.by_key[_keras2.var_key(var)]
        return tf.group(var.assign(w_t), counter.assign(flips))

    def flips_of(self, var):
        """The number of flips of ``var``'s last update (int32)."""
        return self._flip_counters.by_key[_keras2.var_key(var)].value()
