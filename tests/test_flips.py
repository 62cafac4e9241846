"""pi_t (eq. 7) and the in-graph flip counter."""
import math

import numpy as np
import tensorflow as tf

from experiments.engine.flips import count_flips, pi_t, sign_bits


def test_pi_t_on_hand_built_counts():
    total = 1000
    np.testing.assert_allclose(pi_t([0], total), [-9.0])  # no flips sits on the floor
    np.testing.assert_allclose(pi_t([10], total), [math.log(0.01 + math.exp(-9))])
    np.testing.assert_allclose(pi_t([1000], total), [math.log(1 + math.exp(-9))])
    # per layer: counts and sizes broadcast
    np.testing.assert_allclose(pi_t([5, 0], [100, 50]), [math.log(0.05 + math.exp(-9)), -9.0])


def test_count_flips_uses_larq_sign_convention():
    before = sign_bits(tf.constant([-1.0, 1.0, 0.3, -0.2, 0.0]))
    after = tf.constant([1.0, 1.0, -0.5, -0.7, -1.0])
    # flips: -1 -> +1, 0.3 -> -0.5, 0 (counts as +1) -> -1
    assert float(count_flips(before, after)) == 3.0
    assert float(count_flips(sign_bits(after), tf.constant([0.0, 1, -1, -1, -1]))) == 0.0
