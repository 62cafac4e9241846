"""The fused flip rule is larq's, bit for bit, and its flip counts are the sign changes.

Bop's last line in larq is ``var <- sign(-sign(var * m - tau) * var)``; the suite applies it
as one XLA-compiled pass that also counts flips. These tests hold it to larq's own
kernels: on the edge cases a compiler could move (products that round to exactly tau,
zeros of either sign, infinities, NaN) and over whole training runs of larq's Bop."""
import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from experiments.optimizers.bop import CountingBop
from experiments.optimizers.flip_rule import flip_rule


def larq_rule(w, signal, threshold):
    """The last line of ``lq.optimizers.Bop._resource_apply_dense``, as larq runs it."""
    return lq.math.sign(-tf.sign(w * signal - threshold) * w)


def same_bits(a, b) -> bool:
    """Equal bit patterns, NaN matching NaN."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    nan = np.isnan(a)
    return bool(np.array_equal(nan, np.isnan(b)) and
                np.array_equal(a[~nan].view(np.int32), b[~nan].view(np.int32)))


def edge_cases(threshold):
    """Every (w, signal) pair from values that hit each branch of the rule at
    ``threshold``: ties, just above and below, signed zeros, infinities and NaN."""
    t = np.float32(threshold)
    ws = np.array([1, -1, 0.0, -0.0, 0.5, -2.5, 3e-39, np.inf, -np.inf, np.nan], np.float32)
    signals = [0.0, -0.0, t, -t, np.nextafter(t, np.float32(np.inf)),
               np.nextafter(t, np.float32(-np.inf)), 2 * t, t / 0.5, -t / 2.5, 1.0, -1.0,
               1e38, -1e38, np.inf, -np.inf, np.nan]
    signals = np.array(signals, np.float32)
    w, s = np.meshgrid(ws, signals)
    return w.ravel(), s.ravel()


@pytest.mark.parametrize("threshold", [0.0, 1e-8, 1e-6, 0.3, np.inf])
def test_flip_rule_is_larqs_rule_bit_for_bit_on_every_edge_case(threshold):
    w, s = edge_cases(threshold)
    rng = np.random.default_rng(1)  # and plain values, whose products round
    w = np.concatenate([w, np.sign(rng.standard_normal(5000)), rng.standard_normal(5000)])
    s = np.concatenate([s, rng.standard_normal(10000) * np.float32(max(threshold, 1e-7))])
    w, s = w.astype(np.float32), s.astype(np.float32)
    t = tf.constant(threshold, tf.float32)
    expected = larq_rule(tf.constant(w), tf.constant(s), t).numpy()
    got, flips = flip_rule(tf.constant(w), tf.constant(s), t)
    assert same_bits(got, expected)
    assert flips.dtype == tf.int32
    assert int(flips) == int(np.sum((w >= 0) != (expected >= 0)))


def test_ties_become_plus_one_as_in_larq():
    """A product exactly at the threshold: larq's sign(0) = 0 makes the weight +1."""
    w = tf.constant([1.0, -1.0, 1.0])
    got, flips = flip_rule(w, tf.constant([1e-6, -1e-6, 1e-6]), tf.constant(1e-6))
    np.testing.assert_array_equal(got.numpy(), [1.0, 1.0, 1.0])
    assert int(flips) == 1


def _train(optimizer, variables, grads_per_step):
    """Apply each step's gradients in a compiled step, as the training loop does;
    the variables and every slot after every step."""
    @tf.function
    def step(grads):
        optimizer.apply_gradients(zip(grads, variables))

    states = []
    for grads in grads_per_step:
        step([tf.constant(g) for g in grads])
        states.append(([v.numpy() for v in variables],
                       [optimizer.get_slot(v, "m").numpy() for v in variables],
                       [int(optimizer.flips_of(v)) for v in variables]
                       if hasattr(optimizer, "flips_of") else None))
    return states


@pytest.mark.parametrize("binary_init", [True, False])
def test_counting_bop_trains_as_larqs_bop_bit_for_bit(binary_init):
    """Same start, same gradients, schedules for gamma and tau: after every step the
    weights and ``m`` of ``CountingBop`` have larq's ``Bop``'s bits, and its flip
    counts are the sign changes of that step. Also from a real-valued start (the first
    step then rounds real products)."""
    rng = np.random.default_rng(0)
    shapes = [(3, 3, 4, 8), (40, 16)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    if binary_init:
        init = [np.where(x >= 0, 1.0, -1.0).astype(np.float32) for x in init]
    # gradients from a small set of magnitudes make exact ties with tau likely
    grads_per_step = [[(rng.choice([-2.0, -1.0, 0.0, 1.0, 2.0], s) * 2.0 ** -rng.integers(0, 4))
                       .astype(np.float32) for s in shapes] for _ in range(12)]
    gamma = tf.keras.optimizers.schedules.PolynomialDecay(0.5, 12, 0.125)
    tau = tf.keras.optimizers.schedules.PolynomialDecay(0.25, 12, 2.0 ** -6)
    ours_vars = [tf.Variable(x) for x in init]
    larq_vars = [tf.Variable(x) for x in init]
    ours = CountingBop(threshold=tau, gamma=gamma)
    ours_states = _train(ours, ours_vars, grads_per_step)
    larq_states = _train(lq.optimizers.Bop(threshold=tau, gamma=gamma), larq_vars,
                         grads_per_step)
    previous = init
    total = 0
    for (ow, om, flips), (lw, lm, _) in zip(ours_states, larq_states):
        for a, b in zip(ow + om, lw + lm):
            assert same_bits(a, b)
        changed = [int(np.sum((p >= 0) != (w >= 0))) for p, w in zip(previous, ow)]
        assert flips == changed
        total += sum(changed)
        previous = ow
    assert total > 0


def test_counting_bop_reports_every_steps_flips_inside_the_step():
    """Read in the same compiled step, after the update (as the training loop does):
    the count of this step, not of the previous one."""
    rng = np.random.default_rng(3)
    var = tf.Variable(np.where(rng.standard_normal(500) >= 0, 1.0, -1.0).astype(np.float32))
    opt = CountingBop(threshold=1e-3, gamma=0.5)

    @tf.function
    def step(grad):
        opt.apply_gradients([(grad, var)])
        return opt.flips_of(var)

    for _ in range(4):
        before = var.numpy() >= 0
        flips = step(tf.constant(rng.standard_normal(500).astype(np.float32)))
        assert int(flips) == int(np.sum(before != (var.numpy() >= 0)))
