"""CEMA through the suite's own code path (component -> CaseOptimizer -> update) against a
NumPy transcription of their ``cema_optimizer.py`` (docs/successors.md), step by step and bit for bit."""
import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from zookeeper import configure

from experiments.errors import ConfigError
from experiments.optimizers.cema import Cema
from experiments.optimizers.schedules import Constant, EpochLinear, Linear
from tests.resume import straight_and_resumed
from tests.transcription import assert_same_steps

F32 = np.float32


def numpy_cema(w0, grads, alphas, gammas):
    """Their rule in float32, one operation at a time: weights to their sign first (larq's,
    0 -> +1); m <- m (1 - gamma) + gamma g; v <- v (1 - alpha) + alpha m; w <- -w where
    v w > 0. Returns ``[(w, m, v, flips), ...]`` per step (a flip: ``w >= 0`` changes)."""
    w = np.where(np.asarray(w0, F32) >= 0, F32(1), F32(-1))
    m, v = np.zeros_like(w), np.zeros_like(w)
    history = []
    for g, alpha, gamma in zip(grads, alphas, gammas):
        g, alpha, gamma = np.asarray(g, F32), F32(alpha), F32(gamma)
        m = m * (F32(1) - gamma) + gamma * g
        v = v * (F32(1) - alpha) + alpha * m
        new = np.where(v * w > 0, -w, w)
        history.append((new, m, v, int(((w >= 0) != (new >= 0)).sum())))
        w = new
    return history


def cema(alpha=None, gamma=None) -> Cema:
    fields = {}
    if alpha is not None:
        fields["alpha"] = alpha
    if gamma is not None:
        fields["gamma"] = gamma
    component = Cema(**fields)
    configure(component, {})
    return component


def binary_model(kernel):
    """One larq dense layer marked binary as Cema represents it, with ``kernel`` in it."""
    layer = lq.layers.QuantDense(kernel.shape[1], use_bias=False, **Cema().represent(None))
    model = tf.keras.Sequential([tf.keras.Input((kernel.shape[0],)), layer])
    layer.kernel.assign(kernel)
    return model


def steps(component, w0, grads, steps_per_epoch, epochs):
    """``[(w, m, v, flips reported), ...]`` per step and the built schedules, through
    ``component.build`` (which sets the kernel to its sign) and larq's CaseOptimizer."""
    model = binary_model(np.asarray(w0, F32))
    var = model.layers[0].kernel
    optimizer, schedules = component.build(model, steps_per_epoch, epochs)
    inner = optimizer.optimizers[0]
    history = []
    for g in grads:
        optimizer.apply_gradients([(tf.constant(g, tf.float32), var)])
        history.append((var.numpy(), inner.get_slot(var, "m").numpy(),
                        inner.get_slot(var, "v").numpy(), int(inner.flips_of(var))))
    return history, schedules


def problem(seed, shape, n, drift=0.0):
    """Real starting weights (one exact 0 among them) and ``n`` gradients whose mean
    turns slowly, so that the cascade's output changes sign and weights flip."""
    rng = np.random.default_rng(seed)
    w0 = rng.normal(size=shape).astype(F32)
    w0.flat[0] = 0.0
    turn = np.sin(np.linspace(0, 6 * np.pi, n))
    mean = rng.normal(size=shape)
    return w0, [(drift * t * mean + rng.normal(scale=0.05, size=shape)).astype(F32)
                for t in turn]


def test_cema_follows_its_rule_for_300_steps_under_the_per_epoch_linear_alpha():
    """Their schedule: alpha times LambdaLR's 1 - e/epochs, stepped once per epoch, so
    alpha is constant within an epoch and epoch e runs at alpha (1 - e/E)."""
    steps_per_epoch, epochs = 30, 10
    n = steps_per_epoch * epochs
    w0, grads = problem(0, (48, 8), n, drift=0.2)
    component = cema(alpha=EpochLinear(value=0.05, end=0.0), gamma=Constant(value=0.3))
    got, schedules = steps(component, w0, grads, steps_per_epoch, epochs)
    alphas = [float(schedules["alpha"](t)) for t in range(n)]
    want_alphas = [0.05 * (1 - (t // steps_per_epoch) / epochs) for t in range(n)]
    np.testing.assert_allclose(alphas, want_alphas, rtol=1e-6)
    assert len(set(alphas[:steps_per_epoch])) == 1 and alphas[-1] == pytest.approx(0.005)
    want = numpy_cema(w0, grads, alphas, [0.3] * n)
    assert_same_steps(got, want)
    assert sum(s[3] for s in want[n // 2:]) > 0, "flips must also happen late in the run"


@pytest.mark.parametrize("alpha,gamma", [(1.0, 1.0), (1e-2, 1e-1), (0.5, 1e-3)])
def test_cema_follows_its_rule_with_constant_rates(alpha, gamma):
    w0, grads = problem(1, (32, 8), 60, drift=0.3)
    got, _ = steps(cema(Constant(value=alpha), Constant(value=gamma)), w0, grads, 10, 6)
    assert_same_steps(got, numpy_cema(w0, grads, [alpha] * 60, [gamma] * 60))


def test_cema_also_follows_a_per_step_linear_alpha():
    w0, grads = problem(2, (16, 4), 40, drift=0.3)
    got, schedules = steps(cema(Linear(value=0.2, end=0.01), Constant(value=0.5)),
                           w0, grads, 4, 10)
    alphas = [float(schedules["alpha"](t)) for t in range(40)]
    assert alphas[0] > alphas[20] > alphas[39]
    assert_same_steps(got, numpy_cema(w0, grads, alphas, [0.5] * 40))


def test_ties_keep_the_weight_and_the_start_is_the_sign():
    """``v * w == 0`` keeps the weight (their strict ``> 0``): a zero gradient leaves m and
    v at 0 and nothing flips, also with alpha = gamma = 1; an exact 0 in the initial
    weights becomes +1 (larq's sign), -0.3 becomes -1."""
    w0 = np.array([[0.0, -0.3, 2.0, -1.0]], F32)
    g = np.array([[0.0, 0.0, 1.0, 1.0]], F32)
    (step,), _ = steps(cema(Constant(value=1.0), Constant(value=1.0)), w0, [g], 1, 1)
    # v = g: the +2 (now +1) with g = 1 has v w = 1 > 0 and flips; the -1 has v w = -1
    np.testing.assert_array_equal(step[0], [[1.0, -1.0, -1.0, -1.0]])
    assert step[3] == 1
    assert_same_steps([step], numpy_cema(w0, [g], [1.0], [1.0]))
    (zero,), _ = steps(cema(Constant(value=1.0), Constant(value=1.0)), w0,
                       [np.zeros_like(g)], 1, 1)
    np.testing.assert_array_equal(zero[0], [[1.0, -1.0, 1.0, -1.0]])
    assert zero[3] == 0


def test_cema_resumes_bit_identically_from_a_checkpoint(tmp_path):
    """m, v, both step counters (alpha's epoch) and Adam's state are in a
    ``tf.train.Checkpoint``: 5 steps + save + restore into fresh objects + 5 steps end
    exactly where 10 uninterrupted steps do, across an epoch boundary of alpha."""
    rng = np.random.default_rng(4)
    w0 = rng.normal(size=(16, 4)).astype(F32)
    b0 = rng.normal(size=(4,)).astype(F32)  # a real-valued variable, for Adam
    grads = [(rng.normal(scale=0.05, size=w0.shape), rng.normal(size=b0.shape))
             for _ in range(10)]

    def fresh():
        model = binary_model(w0)
        optimizer, _ = cema(EpochLinear(value=0.3, end=0.0), Constant(value=0.5)).build(
            model, steps_per_epoch=3, epochs=4)
        return optimizer, model.layers[0].kernel, tf.Variable(b0)

    def train(optimizer, kernel, bias, batch):
        for g, h in batch:
            optimizer.apply_gradients([(tf.constant(g, tf.float32), kernel),
                                       (tf.constant(h, tf.float32), bias)])

    def state(optimizer, kernel, bias):
        inner = optimizer.optimizers[0]
        return [kernel.numpy(), bias.numpy(), inner.get_slot(kernel, "m").numpy(),
                inner.get_slot(kernel, "v").numpy(), int(inner.iterations.numpy()),
                int(optimizer.optimizers[-1].iterations.numpy())]

    straight, resumed = straight_and_resumed(fresh, train, grads, tmp_path)
    a, b = state(*straight), state(*resumed)
    assert a[4:] == b[4:] == [10, 10]
    for x, y in zip(a[:4], b[:4]):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], np.where(w0 >= 0, 1, -1)), "the run must flip something"


@pytest.mark.parametrize("overrides,message", [
    ({"optimizer.alpha.value": 0.0}, r"optimizer.alpha must start above 0"),
    ({"optimizer.alpha.value": 1.5}, r"optimizer.alpha must lie in \[0, 1\]"),
    ({"optimizer.alpha.end": -0.1}, r"optimizer.alpha must lie in \[0, 1\]"),
    ({"optimizer.gamma.value": 0.0}, r"optimizer.gamma must lie in \(0, 1\]"),
    ({"optimizer.real_lr.value": 0.0}, r"optimizer.real_lr must start above 0"),
])
def test_cema_is_selectable_and_refuses_bad_rates_before_any_data(overrides, message):
    from configs import EXPERIMENTS
    from experiments.engine.experiment import build

    exp = build(EXPERIMENTS["sec52_bop"], {"optimizer": "Cema"})
    assert type(exp.optimizer) is Cema
    with pytest.raises(ConfigError, match=message):
        build(EXPERIMENTS["sec52_bop"], {"optimizer": "Cema", **overrides})
