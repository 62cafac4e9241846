"""Bop2ndOrder, biased and unbiased, through the suite's own code path (component ->
CaseOptimizer -> update) against NumPy transcriptions of their update rules
(``docs/methods.md#bop2ndorder-bop-and-beyond``)."""
import numpy as np
import pytest
import tensorflow as tf
from zookeeper import configure

from experiments.errors import ConfigError
from experiments.optimizers.bop2ndorder import Bop2ndOrder
from experiments.optimizers.bop2ndorder_unbiased import Bop2ndOrderUnbiased
from experiments.optimizers.schedules import Constant, Linear
from tests.resume import straight_and_resumed
from tests.transcription import assert_same_steps


def larq_sign(x):
    return np.where(x >= 0, 1.0, -1.0)


def numpy_bop2ndorder(w0, grads, gammas, sigmas, taus):
    """m <- m + gamma (g - m); v <- v + sigma (g^2 - v); flip iff w m / (sqrt(v) + 1e-10)
    > tau, with larq's tie rule (sign(0) = +1)."""
    w = w0.astype(np.float64)
    m, v = np.zeros_like(w), np.zeros_like(w)
    history = []
    for g, gamma, sigma, tau in zip(grads, gammas, sigmas, taus):
        m = m + gamma * (g - m)
        v = v + sigma * (g * g - v)
        w = larq_sign(-np.sign(w * (m / (np.sqrt(v) + 1e-10)) - tau) * w)
        history.append((w.copy(), m.copy(), v.copy()))
    return history


def problem(seed, shape, n):
    """Starting real-valued weights and n small gradients, reproducibly from ``seed``."""
    rng = np.random.default_rng(seed)
    w0 = rng.normal(size=shape)
    return w0, [rng.normal(scale=0.05, size=shape) for _ in range(n)]


def run(component, w0, grads, steps_per_epoch, epochs=10):
    var = tf.Variable(w0, dtype=tf.float32)
    var.precision = 1  # what NoOp(precision=1) marks on a quantized layer's kernel
    optimizer, schedules = component.build(None, steps_per_epoch, epochs)
    history = []
    for g in grads:
        optimizer.apply_gradients([(tf.constant(g, tf.float32), var)])
        inner = optimizer.optimizers[0]
        history.append((var.numpy().copy(), inner.get_slot(var, "m").numpy().copy(),
                        inner.get_slot(var, "v").numpy().copy()))
    return history, schedules


def _compare(got, want, taus):
    flips = 0
    for step, ((w, m, v), (w_ref, m_ref, v_ref)) in enumerate(zip(got, want)):
        np.testing.assert_allclose(m, m_ref, rtol=1e-4, atol=1e-8, err_msg=f"m, step {step}")
        # float32: v + (g^2 - v) loses ~1e-7 of the larger of the two
        np.testing.assert_allclose(v, v_ref, rtol=1e-4, atol=1e-8, err_msg=f"v, step {step}")
        score = w_ref * m_ref / (np.sqrt(v_ref) + 1e-10)
        ambiguous = np.abs(score - taus[step]) < 1e-4 * np.maximum(1.0, np.abs(taus[step]))
        assert np.array_equal(w[~ambiguous], w_ref[~ambiguous]), f"weights differ at step {step}"
        assert set(np.unique(w)) <= {-1.0, 1.0}
        if step:
            flips += int((got[step - 1][0] != w).sum())
    assert flips > 0, "the test sequence must exercise flips"


@pytest.mark.parametrize("gamma,sigma,tau", [(1e-1, 1e-2, 1e-2), (1e-2, 1e-3, 0.0), (1.0, 1.0, 0.5)])
def test_bop2ndorder_matches_its_update_rule_with_constant_hyperparameters(gamma, sigma, tau):
    w0, grads = problem(0, (64, 8), 30)
    component = Bop2ndOrder(gamma=Constant(value=gamma), sigma=Constant(value=sigma),
                            tau=Constant(value=tau), real_lr=Constant(value=1e-2))
    configure(component, {})
    got, _ = run(component, w0, grads, steps_per_epoch=5)
    _compare(got, numpy_bop2ndorder(w0, grads, [gamma] * 30, [sigma] * 30, [tau] * 30), [tau] * 30)


def test_bop2ndorder_follows_its_linear_schedules_step_by_step():
    """Their CIFAR-10 preset decays every hyperparameter linearly over the run; the
    update at step t must use the schedules' values at t (Keras counts from 0)."""
    steps_per_epoch, epochs = 4, 5
    n = steps_per_epoch * epochs
    w0, grads = problem(1, (32, 4), n)
    component = Bop2ndOrder()
    configure(component, {})
    got, schedules = run(component, w0, grads, steps_per_epoch, epochs)

    def linear(start, end):
        return [start + (end - start) * t / n for t in range(n)]

    built = {}
    for name, (start, end) in (("gamma", (1e-2, 1e-5)), ("sigma", (1e-7, 1e-2)),
                               ("tau", (1e-5, 1e-8))):
        built[name] = [float(schedules[name](t)) for t in range(n)]
        # Keras evaluates (start - end) * (1 - t/T) + end in float32: sigma's 1e-7 start
        # comes out as 9.97e-8 (cancellation against 1e-2), in their runs as here
        np.testing.assert_allclose(built[name], linear(start, end), rtol=1e-4, atol=1e-9,
                                   err_msg=name)
    _compare(got, numpy_bop2ndorder(w0, grads, built["gamma"], built["sigma"], built["tau"]),
             built["tau"])


def test_bop2ndorder_refuses_values_outside_its_ranges():
    component = Bop2ndOrder(sigma=Constant(value=0.0))
    configure(component, {})
    with pytest.raises(ConfigError, match=r"optimizer.sigma must lie in \(0, 1\]"):
        component.check()


# --- the unbiased form ---------------------------------------------------------------------
F32 = np.float32


def numpy_unbiased(w0, grads, gammas, sigmas, taus):
    """The unbiased rule (``docs/methods.md``) in float32, one operation at a time as they
    write it: m <- m + gamma (g - m); v <- v + sigma (g^2 - v); flip iff
    w (m / gamma) / (sqrt(v / sigma) + 1e-10) > tau; at a tie (the product equals tau) the weight becomes +1, as larq's sign(0)
    = +1 makes it. Float32 throughout, so that ties are ties here as on the device.
    Returns ``[(w, m, v, flips), ...]`` per step; a flip is a change of ``w >= 0``."""
    w = np.asarray(w0, F32)
    m, v = np.zeros_like(w), np.zeros_like(w)
    history = []
    for g, gamma, sigma, tau in zip(grads, gammas, sigmas, taus):
        g, gamma, sigma, tau = np.asarray(g, F32), F32(gamma), F32(sigma), F32(tau)
        m = m + gamma * (g - m)
        v = v + sigma * (g * g - v)
        p = w * ((m / gamma) / (np.sqrt(v / sigma) + F32(1e-10)))
        flipped, kept = np.where(w > 0, F32(-1), F32(1)), np.where(w < 0, F32(-1), F32(1))
        new = np.where(p > tau, flipped, np.where(p < tau, kept, F32(1)))
        history.append((new, m, v, int(((w >= 0) != (new >= 0)).sum())))
        w = new
    return history


def steps(component, w0, grads, steps_per_epoch=5, epochs=10):
    """``[(w, m, v, flips reported by the optimizer), ...]`` per step, and the built
    schedules, through ``component.build`` and larq's ``CaseOptimizer``."""
    var = tf.Variable(np.asarray(w0, F32))
    var.precision = 1  # what NoOp(precision=1) marks on a quantized layer's kernel
    optimizer, schedules = component.build(None, steps_per_epoch, epochs)
    history = []
    for g in grads:
        optimizer.apply_gradients([(tf.constant(g, tf.float32), var)])
        inner = optimizer.optimizers[0]
        history.append((var.numpy(), inner.get_slot(var, "m").numpy(),
                        inner.get_slot(var, "v").numpy(), int(inner.flips_of(var))))
    return history, schedules


def unbiased(gamma, sigma, tau) -> Bop2ndOrderUnbiased:
    component = Bop2ndOrderUnbiased(gamma=Constant(value=gamma), sigma=Constant(value=sigma),
                                    tau=Constant(value=tau), real_lr=Constant(value=1e-2))
    configure(component, {})
    return component


@pytest.mark.parametrize("gamma,sigma,tau", [(1e-1, 1e-2, 1.0), (1e-2, 1e-3, 0.0),
                                             (1.0, 1.0, 0.5), (1e-3, 1e-1, 1e-2)])
def test_unbiased_matches_its_update_rule_with_constant_hyperparameters(gamma, sigma, tau):
    w0, grads = problem(2, (64, 8), 30)
    got, _ = steps(unbiased(gamma, sigma, tau), w0, grads)
    assert_same_steps(got, numpy_unbiased(w0, grads, [gamma] * 30, [sigma] * 30, [tau] * 30),
                      flips_after=1)


def test_unbiased_follows_its_presets_linear_schedules_step_by_step():
    """bop2ndOrder_unbiased_CIFAR: sigma rises 1e-7 -> 1e-2 while gamma (1e-2 -> 1e-5)
    and tau (1e-5 -> 1e-8) fall, each linear over the run; step t uses the values at t
    (Keras counts from 0), and the rescaling by the current gamma and sigma follows them."""
    steps_per_epoch, epochs = 4, 5
    n = steps_per_epoch * epochs
    w0, grads = problem(3, (64, 8), n)
    component = Bop2ndOrderUnbiased()
    configure(component, {})
    got, schedules = steps(component, w0, grads, steps_per_epoch, epochs)
    built = {}
    for name, (start, end) in (("gamma", (1e-2, 1e-5)), ("sigma", (1e-7, 1e-2)),
                               ("tau", (1e-5, 1e-8)), ("real_lr", (1e-2, 1e-3))):
        built[name] = [float(schedules[name](t)) for t in range(n)]
        want = [start + (end - start) * t / n for t in range(n)]
        np.testing.assert_allclose(built[name], want, rtol=1e-4, atol=1e-9, err_msg=name)
        assert float(schedules[name](n)) == pytest.approx(end, rel=1e-4)  # the run's last value
    assert_same_steps(got, numpy_unbiased(w0, grads, built["gamma"], built["sigma"], built["tau"]),
                      flips_after=1)


# One step from w0 with gamma 0.5, sigma 1 and g = ±2 (all exact in float32): m / gamma = g
# and sqrt(v / sigma) = |g| = 2 (+ 1e-10 rounds away), so the signal is exactly ±1 (0 where
# g = 0). The biased signal m / sqrt(v) would be ±0.5.
W0 = [1.0, -1.0, -1.0, 1.0, -1.0, 1.0, -0.3, 0.0]
G = [2.0, -2.0, 2.0, -2.0, 0.0, 0.0, 0.0, 0.0]
TIES = {
    # tau 1: w * signal == tau exactly where w and g agree in sign: +1 there, whatever w
    # was (the -1 with g = -2 flips); everything else is below tau and keeps its sign
    1.0: [1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0],
    # tau 0.5: those two cross the threshold and flip; no ties
    0.5: [-1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0],
    # tau 0 with g = 0: m = v = 0, the signal is 0 and w * 0 == tau: sign(0) -> +1, so the
    # weights without gradient all become +1 (the -1, the real -0.3 and the 0)
    0.0: [-1.0, 1.0, -1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
}


@pytest.mark.parametrize("tau", sorted(TIES))
def test_unbiased_ties_and_zero_signal_become_plus_one_as_in_larq(tau):
    (got,), _ = steps(unbiased(0.5, 1.0, tau), [W0], [[G]])
    np.testing.assert_array_equal(got[0], [TIES[tau]])
    want = numpy_unbiased([W0], [[G]], [0.5], [1.0], [tau])
    np.testing.assert_array_equal(got[0], want[0][0])
    flips = sum((a >= 0) != (b >= 0) for a, b in zip(W0, TIES[tau]))
    assert got[3] == want[0][3] == flips  # the -1 -> +1 of a tie counts as a flip


def test_the_rescaling_moves_the_threshold_the_biased_form_sees():
    """At the tie above (tau 1) the biased signal is ±0.5: below tau, so nothing flips."""
    biased = Bop2ndOrder(gamma=Constant(value=0.5), sigma=Constant(value=1.0),
                         tau=Constant(value=1.0), real_lr=Constant(value=1e-2))
    configure(biased, {})
    (got,), _ = steps(biased, [W0], [[G]])
    np.testing.assert_array_equal(got[0], [[1.0, -1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0]])
    (unbiased_step,), _ = steps(unbiased(0.5, 1.0, 1.0), [W0], [[G]])
    assert not np.array_equal(got[0], unbiased_step[0])


def test_unbiased_resumes_bit_identically_from_a_checkpoint(tmp_path):
    """m, v, both step counters (the schedules' position) and Adam's state are in a
    ``tf.train.Checkpoint``: 5 steps + save + restore into fresh objects + 5 steps end
    exactly where 10 uninterrupted steps do."""
    rng = np.random.default_rng(4)
    w0 = rng.normal(size=(16, 4)).astype(F32)
    b0 = rng.normal(size=(4,)).astype(F32)  # a real-valued variable, for Adam
    grads = [(rng.normal(scale=0.05, size=w0.shape), rng.normal(size=b0.shape)) for _ in range(10)]

    def fresh():
        component = Bop2ndOrderUnbiased()
        configure(component, {})
        optimizer, _ = component.build(None, steps_per_epoch=2, epochs=5)
        kernel, bias = tf.Variable(w0), tf.Variable(b0)
        kernel.precision = 1
        return optimizer, kernel, bias

    def train(optimizer, kernel, bias, batch):
        for g, h in batch:
            optimizer.apply_gradients([(tf.constant(g, tf.float32), kernel),
                                       (tf.constant(h, tf.float32), bias)])

    def state(optimizer, kernel, bias):
        inner = optimizer.optimizers[0]
        return [kernel.numpy(), bias.numpy(), inner.get_slot(kernel, "m").numpy(),
                inner.get_slot(kernel, "v").numpy(), int(inner.iterations.numpy()),
                int(optimizer.optimizers[-1].iterations.numpy())]  # Adam

    straight, resumed = straight_and_resumed(fresh, train, grads, tmp_path)
    a, b = state(*straight), state(*resumed)
    assert a[4:] == b[4:] == [10, 10]
    for x, y in zip(a[:4], b[:4]):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("field,schedule,message", [
    ("sigma", Linear(value=0.0, end=1e-2), r"optimizer.sigma must lie in \(0, 1\]"),
    ("sigma", Linear(value=1e-7, end=1.5), r"optimizer.sigma must lie in \(0, 1\]"),
    ("gamma", Linear(value=1e-2, end=0.0), r"optimizer.gamma must lie in \(0, 1\]"),
    ("tau", Constant(value=-1e-6), r"optimizer.tau must lie in \[0, inf\]"),
])
def test_unbiased_refuses_values_it_would_divide_by_or_cannot_use(field, schedule, message):
    component = Bop2ndOrderUnbiased(**{field: schedule})
    configure(component, {})
    with pytest.raises(ConfigError, match=message):
        component.check()


# --- the CIFAR-10 presets as experiments -----------------------------------------------------
# Bop and Beyond, conference branch, bnn_optimization/models/binarynet_batch.py:
# bop2ndOrder_CIFAR (biased) and bop2ndOrder_unbiased_CIFAR (unbiased), the same numbers.
CIFAR_PRESET = {
    "epochs": 500, "batch_size": 50, "model": "BinaryNet", "model.filters": 128,
    "model.dense_units": 1024, "model.first_conv_padding": "valid",
    "optimizer.gamma": "Linear", "optimizer.gamma.value": 1e-2, "optimizer.gamma.end": 1e-5,
    "optimizer.sigma": "Linear", "optimizer.sigma.value": 1e-7, "optimizer.sigma.end": 1e-2,
    "optimizer.tau": "Linear", "optimizer.tau.value": 1e-5, "optimizer.tau.end": 1e-8,
    "optimizer.real_lr": "Linear", "optimizer.real_lr.value": 1e-2, "optimizer.real_lr.end": 1e-3,
}
CIFAR_EXPERIMENTS = {"sec52_bop2ndorder": "Bop2ndOrder",
                     "sec52_bop2ndorder_unbiased": "Bop2ndOrderUnbiased"}


@pytest.mark.parametrize("name", sorted(CIFAR_EXPERIMENTS))
def test_the_cifar10_presets_are_their_authors(name):
    from configs import EXPERIMENTS, GROUPS
    from experiments.engine.experiment import build

    exp = build(EXPERIMENTS[name])
    c = exp.resolved_config()
    assert (c["optimizer"], exp.section, c["scale"]) == (CIFAR_EXPERIMENTS[name], "beyond", "paper")
    assert {k: c[k] for k in CIFAR_PRESET} == CIFAR_PRESET
    assert name in GROUPS["beyond"]  # `make run-beyond`
    # their decay_steps = epochs_decay * train_samples // batch_size = 500 * 50000 // 50
    steps = 500 * 50000 // 50
    assert exp.plan_data().n_train == 50000
    for key in ("gamma", "sigma", "tau", "real_lr"):
        schedule = getattr(exp.optimizer, key)
        built = schedule.build(exp.plan_data().n_train / exp.batch_size, exp.epochs)
        assert float(built(steps)) == pytest.approx(schedule.end, rel=1e-5), key
        last = float(built(steps - 1))
        assert (last < schedule.end) if schedule.end > schedule.value else (last > schedule.end)
    # the reduced scales are the biased preset's (§5.2 quick: quarter width, 8 epochs)
    for scale in ("quick", "tiny"):
        mine = build(EXPERIMENTS[name], {"scale": scale}).resolved_config()
        theirs = build(EXPERIMENTS["sec52_bop2ndorder"], {"scale": scale}).resolved_config()
        assert {k: v for k, v in mine.items() if k != "optimizer"} == {
            k: v for k, v in theirs.items() if k != "optimizer"}
    quick = build(EXPERIMENTS[name], {"scale": "quick"}).resolved_config()
    assert (quick["epochs"], quick["train_subset"], quick["model.filters"]) == (8, 20000, 32)
    assert {k: quick[k] for k in CIFAR_PRESET if k.startswith("optimizer.")} == {
        k: v for k, v in CIFAR_PRESET.items() if k.startswith("optimizer.")}
