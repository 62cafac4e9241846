"""pi_t (eq. 7) and the in-graph flip counter."""
import math

import numpy as np
import pytest
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


def test_fused_counts_match_sign_changes_and_are_exact_in_int32():
    from experiments.engine.flips import count_flips_all, sign_bits_all

    rng = np.random.default_rng(0)
    before = rng.standard_normal(5000).astype(np.float32)
    after = before.copy()
    after[rng.choice(5000, 1234, replace=False)] *= -1
    after[:3] = [0.0, -0.0, 0.5]  # sign(0) = +1, and -0.0 >= 0 too
    bits = sign_bits_all([tf.constant(before)])
    expected = int(np.sum((before >= 0) != (after >= 0)))
    got = count_flips_all(bits, [tf.constant(after)])
    assert got.dtype == tf.int32 and int(got[0]) == expected
    # 2^24 + 1 flips: a float32 sum could not hold this count, int32 does
    n = 2 ** 24 + 1
    ones = tf.ones([n])
    assert int(count_flips_all(sign_bits_all([ones]), [-ones])[0]) == n


@pytest.mark.parametrize("name,precision", [
    ("sec52_bop", "float32"), ("sec52_adam", "float32"), ("sec52_bop", "mixed_bfloat16"),
    ("sec52_adam", "mixed_bfloat16"), ("sec52_bop", "mixed_float16")])
def test_the_training_step_counts_exactly_the_sign_changes_of_each_kernel(name, precision,
                                                                         tiny_overrides):
    """Through the suite's own step (read before, update, count after, no explicit
    dependency): every step's per-layer count equals the sign changes seen on the host,
    in every precision (flips are counted on the float32 variables)."""
    from configs import EXPERIMENTS
    from experiments.engine.experiment import build
    from experiments.engine.pipelines import prepare_data, train_iterator
    from experiments.engine.step import TrainState

    exp = build(EXPERIMENTS[name], {**tiny_overrides, "steps_per_loop": 1,
                                    "precision": precision, "force_precision": True})
    builder, split, _, n_train, _ = prepare_data(exp)
    strategy = tf.distribute.get_strategy()
    state = TrainState(exp, strategy, n_train // exp.batch_size)
    iterator = train_iterator(exp, strategy, builder, split, epoch=0)
    total, sums = 0, np.zeros(len(state.kernels))
    for _ in range(3):
        signs = [k.numpy() >= 0 for k in state.kernels]
        flips, _ = state.train_steps(iterator, tf.constant(1))
        seen = [int(np.sum(s != (k.numpy() >= 0))) for s, k in zip(signs, state.kernels)]
        assert flips.numpy()[0].astype(int).tolist() == seen
        total += sum(seen)
        sums += seen
    assert total > 0, "the steps must flip some weights"
    np.testing.assert_array_equal(state.epoch_flips.numpy(), sums)  # added on the device
