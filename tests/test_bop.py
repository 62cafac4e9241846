"""larq's Bop under the suite's CaseOptimizer, against a NumPy Algorithm 2."""
import numpy as np
import pytest
import tensorflow as tf
from zookeeper import configure

from experiments.optimizers import Bop, binary_kernels
from experiments.optimizers.schedules import Constant, Linear, Staircase


def larq_sign(x):
    return np.where(x >= 0, 1.0, -1.0)


def numpy_bop(w0, grads, gammas, taus):
    """Algorithm 2 with larq's tie rule: m <- m + gamma (g - m); flip iff w*m > tau.

    larq writes the update as ``sign(-sign(w*m - tau) * w)`` with sign(0) = +1, so a
    weight with w*m == tau becomes +1; weights start real and are ±1 after step 1.
    """
    w, m = w0.astype(np.float64), np.zeros_like(w0, dtype=np.float64)
    history = []
    for g, gamma, tau in zip(grads, gammas, taus):
        m = m + gamma * (g - m)
        w = larq_sign(-np.sign(w * m - tau) * w)
        history.append((w.copy(), m.copy()))
    return history


def run_bop(bop_component, w0, grads, steps_per_epoch):
    var = tf.Variable(w0, dtype=tf.float32)
    var.precision = 1  # what NoOp(precision=1) marks on a quantized layer's kernel
    optimizer, schedules = bop_component.build(None, steps_per_epoch, epochs=10)
    history = []
    for g in grads:
        optimizer.apply_gradients([(tf.constant(g, tf.float32), var)])
        bop = optimizer.optimizers[0]
        history.append((var.numpy().copy(), bop.get_slot(var, "m").numpy().copy()))
    return history, schedules


@pytest.mark.parametrize("gamma,tau", [(1e-1, 1e-3), (1e-2, 0.0), (1.0, 1e-2)])
def test_bop_matches_algorithm_2_with_constant_hyperparameters(gamma, tau):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(64, 8))
    grads = [rng.normal(scale=0.05, size=w0.shape) for _ in range(30)]
    component = Bop(gamma=Constant(value=gamma), tau=Constant(value=tau))
    configure(component, {})
    got, _ = run_bop(component, w0, grads, steps_per_epoch=5)
    want = numpy_bop(w0, grads, [gamma] * 30, [tau] * 30)
    flips_seen = 0
    for step, ((w, m), (w_ref, m_ref)) in enumerate(zip(got, want)):
        np.testing.assert_allclose(m, m_ref, rtol=1e-4, atol=1e-7, err_msg=f"m, step {step}")
        # A weight whose w*m sits within float32 rounding of tau may go either way.
        ambiguous = np.abs(w_ref * m_ref - tau) < 1e-6
        assert np.array_equal(w[~ambiguous], w_ref[~ambiguous]), f"weights differ at step {step}"
        assert set(np.unique(w)) <= {-1.0, 1.0}
        if step:
            flips_seen += int((got[step - 1][0] != w).sum())
    assert flips_seen > 0, "the test sequence must exercise flips"


def test_bop_schedules_follow_the_optimizer_step():
    """gamma staircase x0.1 every 2 epochs of 5 steps, tau linear: §5.2 / §5.3 shapes."""
    rng = np.random.default_rng(1)
    w0 = rng.normal(size=(32, 4))
    grads = [rng.normal(scale=0.1, size=w0.shape) for _ in range(25)]
    component = Bop(gamma=Staircase(value=0.5, every_epochs=2, factor=0.1),
                    tau=Linear(value=1e-2, end=0.0))
    configure(component, {})
    got, schedules = run_bop(component, w0, grads, steps_per_epoch=5)
    gammas = [0.5 * 0.1 ** (t // 10) for t in range(25)]
    taus = [1e-2 * (1 - t / 50) for t in range(25)]  # 10 epochs x 5 steps
    want = numpy_bop(w0, grads, gammas, taus)
    for step, ((w, m), (w_ref, m_ref)) in enumerate(zip(got, want)):
        np.testing.assert_allclose(m, m_ref, rtol=1e-4, atol=1e-7, err_msg=f"m, step {step}")
        ambiguous = np.abs(w_ref * m_ref - taus[step]) < 1e-6
        assert np.array_equal(w[~ambiguous], w_ref[~ambiguous]), f"weights differ at step {step}"
    assert float(schedules["gamma"](10)) == pytest.approx(0.05)


def test_only_binary_kernels_go_to_bop(tiny_binarynet_bop):
    model, optimizer = tiny_binarynet_bop
    kernels = {v.name for v in binary_kernels(model)}
    bop = optimizer.optimizers[0]
    images = tf.random.normal((4, 32, 32, 3), seed=0)
    labels = tf.constant([0, 1, 2, 3])
    before = {v.name: v.numpy().copy() for v in model.trainable_variables}
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, model(images, training=True)))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    assert {v.name for v in model.trainable_variables if _has_m(bop, v)} == kernels
    for v in model.trainable_variables:
        assert not np.array_equal(before[v.name], v.numpy()), f"{v.name} did not train"
        if v.name in kernels:
            assert set(np.unique(v.numpy())) <= {-1.0, 1.0}


def _has_m(bop, var):
    try:
        bop.get_slot(var, "m")
        return True
    except KeyError:
        return False


@pytest.fixture
def tiny_binarynet_bop():
    from models.binarynet import binarynet

    tf.keras.utils.set_random_seed(0)
    component = Bop(gamma=Constant(value=0.5), tau=Constant(value=0.0))
    configure(component, {})
    model = binarynet(represent=component.represent, filters=4, dense_units=8)
    optimizer, _ = component.build(model, steps_per_epoch=1, epochs=1)
    return model, optimizer
