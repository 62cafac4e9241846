"""BayesBiNN through the suite's own code path (component -> CaseOptimizer -> update)
against a transcription of their ``optimizers/BayesBiNN.py`` (docs/successors.md), step by step and
bit for bit; its samples reproducible from the run's seed; its test-time weights given to
the training loop's evaluation through the optimizer contract's hook."""
import zlib

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from zookeeper import configure

from experiments.errors import ConfigError
from experiments.optimizers.bayesbinn import BayesBiNN
from experiments.optimizers.schedules import Constant, EpochCosine
from tests.resume import straight_and_resumed

F32 = np.float32


def tanh(x):
    """The elementary functions are TensorFlow's (Eigen's float32 tanh and log are not
    NumPy's to the last bit); the arithmetic around them is NumPy's, in float32."""
    return tf.tanh(tf.constant(x, tf.float32)).numpy()


def log(x):
    return tf.math.log(tf.constant(x, tf.float32)).numpy()


def uniform(shape, seed, name, index):
    """The noise contract: draw ``index`` of a kernel is U[0, 1) from a stateless
    generator keyed by (seed, CRC-32 of the kernel's name), folded with ``index + 1``."""
    base = tf.constant([seed, zlib.crc32(name.encode()) & 0x7FFFFFFF], tf.int64)
    key = tf.random.experimental.stateless_fold_in(base, tf.constant(index + 1, tf.int64))
    return tf.random.stateless_uniform(shape, key, dtype=tf.float32).numpy()


def numpy_bayesbinn(shape, name, seed, grads, lrs, n, tau, beta, lamda_init):
    """Their update in float32: lambda = +-lamda_init (a fair coin from draw -1), mu =
    tanh(lambda); the step that uses sample k draws it as tanh((log(u/(1-u))/2 + lambda)/tau)
    from draw k; then s = (1 - w^2 + 1e-10)/tau/(1 - mu^2 + 1e-10), gh = s g N,
    M = beta M + (1 - beta)(gh + lambda), lambda -= lr M / (1 - beta^t), and mu becomes
    tanh of the lambda *before* the update (their code). ``[(w, lambda, mu, M), ...]``."""
    tau, beta, one, eps = F32(tau), F32(beta), F32(1), F32(1e-10)
    lam = np.where(uniform(shape, seed, name, -1) < 0.5, F32(lamda_init), F32(-lamda_init))
    mu, momentum = tanh(lam), np.zeros(shape, F32)

    def sample(k):
        u = uniform(shape, seed, name, k)
        return tanh((log(u / (one - u)) / F32(2) + lam) / tau)

    w = sample(0)
    history = [(w, lam, mu, momentum)]
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        scale = (one - w * w + eps) / tau / (one - mu * mu + eps)
        grad_hat = (scale * np.asarray(g, F32)) * F32(n)
        momentum = beta * momentum + (one - beta) * (grad_hat + lam)
        correction = one - tf.pow(tf.constant(beta), tf.constant(F32(t))).numpy()
        lam, mu = lam - F32(lr) * momentum / correction, tanh(lam)
        w = sample(t)
        history.append((w, lam, mu, momentum))
    return history


def bayesbinn(seed=0, batch_size=10, **fields) -> BayesBiNN:
    component = BayesBiNN(**fields)
    configure(component, {"seed": seed, "batch_size": batch_size})
    return component


def binary_model(shape):
    """One larq dense layer marked binary as BayesBiNN represents it; layer names from 0,
    as the engine numbers them (the noise is keyed by the kernel's name)."""
    tf.keras.backend.reset_uids()
    layer = lq.layers.QuantDense(shape[1], use_bias=False, **BayesBiNN().represent(None))
    return tf.keras.Sequential([tf.keras.Input((shape[0],)), layer])


def steps(component, shape, grads, steps_per_epoch, epochs):
    model = binary_model(shape)
    var = model.layers[0].kernel
    optimizer, schedules = component.build(model, steps_per_epoch, epochs)
    inner = optimizer.optimizers[0]

    def now():
        return (var.numpy(), *(inner.get_slot(var, s).numpy() for s in ("lamda", "mu",
                                                                          "momentum")))
    history = [now()]
    for g in grads:
        optimizer.apply_gradients([(tf.constant(g, tf.float32), var)])
        history.append(now())
    return history, schedules, var.name, model, optimizer


def assert_same_steps(got, want):
    for step, (a, b) in enumerate(zip(got, want, strict=True)):
        for name, x, y in zip(("w", "lambda", "mu", "momentum"), a, b):
            np.testing.assert_array_equal(x, y, err_msg=f"{name}, after step {step}")
    flips = [int(((p[0] >= 0) != (q[0] >= 0)).sum()) for p, q in zip(want, want[1:])]
    assert sum(flips) > 0, "the test sequence must exercise sample flips"
    return flips


def gradients(seed, shape, n, scale=1e-3):
    rng = np.random.default_rng(seed)
    turn = np.sin(np.linspace(0, 4 * np.pi, n))
    mean = rng.normal(size=shape)
    return [(scale * (t * mean + 0.5 * rng.normal(size=shape))).astype(F32) for t in turn]


def test_bayesbinn_follows_their_cifar10_settings_for_300_steps():
    """Their tau 1e-10, lambda +-10, beta 0, N = images x 10, on their per-epoch cosine
    (stepped at the start of each epoch), with a larger lr so that lambda changes sign
    within 300 steps: the weights, lambda, mu and the momentum of every step."""
    steps_per_epoch, epochs, shape = 30, 10, (24, 6)
    n = steps_per_epoch * epochs
    grads = gradients(0, shape, n)
    component = bayesbinn(seed=7, batch_size=10, lr=EpochCosine(value=0.05, end=1e-16,
                                                               offset=1))
    got, schedules, name, _, _ = steps(component, shape, grads, steps_per_epoch, epochs)
    lrs = [float(schedules["lr"](t)) for t in range(n)]
    epoch = np.arange(n) // steps_per_epoch
    np.testing.assert_allclose(lrs, 0.05 * (1 + np.cos(np.pi * (epoch + 1) / epochs)) / 2
                               + 1e-16, rtol=1e-5, atol=1e-12)
    assert lrs[-1] == pytest.approx(1e-16)  # the last epoch runs at eta_min, as theirs
    want = numpy_bayesbinn(shape, name, 7, grads, lrs, n=steps_per_epoch * 10 * 10.0,
                           tau=1e-10, beta=0.0, lamda_init=10.0)
    flips = assert_same_steps(got, want)
    assert sum(flips[n // 2:]) > 0
    assert set(np.unique(got[-1][0])) <= {-1.0, 1.0}  # tau 1e-10: the samples are binary


@pytest.mark.parametrize("tau,beta,lamda_init", [(0.5, 0.0, 0.3), (1.0, 0.5, 1.0),
                                                 (1e-10, 0.9, 10.0)])
def test_bayesbinn_follows_its_rule_where_the_noise_and_momentum_matter(tau, beta, lamda_init):
    """A warm temperature and a small lambda make real-valued samples whose signs the
    noise decides; momentum with Adam-like bias correction (their ``betas``)."""
    shape, n = (16, 4), 40
    grads = gradients(1, shape, n, scale=1e-2)
    component = bayesbinn(seed=3, batch_size=2, lr=Constant(value=0.05), temperature=tau,
                          beta=beta, lamda_init=lamda_init, trainset_scale=1.0)
    got, _, name, _, _ = steps(component, shape, grads, 10, 4)
    want = numpy_bayesbinn(shape, name, 3, grads, [0.05] * n, n=20.0, tau=tau, beta=beta,
                           lamda_init=lamda_init)
    assert_same_steps(got, want)


def test_the_samples_are_reproducible_from_the_seed():
    shape, grads = (32, 8), gradients(2, (32, 8), 20)
    runs = [steps(bayesbinn(seed=s, lr=Constant(value=0.05)), shape, grads, 10, 2)[0]
            for s in (5, 5, 6)]
    for a, b in zip(runs[0], runs[1]):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    assert not np.array_equal(runs[0][0][1], runs[2][0][1])  # another seed, other signs
    lam0 = runs[0][0][1]
    assert set(np.unique(lam0)) == {-10.0, 10.0}
    assert 0.3 < np.mean(lam0 > 0) < 0.7  # a fair coin per weight


def test_bayesbinn_resumes_bit_identically_from_a_checkpoint(tmp_path):
    """lambda, mu, the momentum, the step counters and the sample in the kernel are in a
    ``tf.train.Checkpoint``, and the noise is keyed by the step: 5 steps + save + restore
    into fresh objects + 5 steps end exactly where 10 uninterrupted steps do."""
    shape = (16, 4)
    rng = np.random.default_rng(4)
    b0 = rng.normal(size=(4,)).astype(F32)
    grads = [(g, rng.normal(size=b0.shape).astype(F32))
             for g in gradients(4, shape, 10, scale=1e-2)]

    def fresh():
        component = bayesbinn(seed=2, lr=Constant(value=0.3), temperature=0.5,
                              lamda_init=0.2, trainset_scale=1.0)
        model = binary_model(shape)
        optimizer, _ = component.build(model, steps_per_epoch=5, epochs=2)
        return optimizer, model.layers[0].kernel, tf.Variable(b0)

    def train(optimizer, kernel, bias, batch):
        for g, h in batch:
            optimizer.apply_gradients([(tf.constant(g), kernel), (tf.constant(h), bias)])

    def state(optimizer, kernel, bias):
        inner = optimizer.optimizers[0]
        return [kernel.numpy(), bias.numpy(),
                *(inner.get_slot(kernel, s).numpy() for s in ("lamda", "mu", "momentum")),
                int(inner.iterations.numpy()), int(optimizer.optimizers[-1].iterations.numpy())]

    straight, resumed = straight_and_resumed(fresh, train, grads, tmp_path)
    a, b = state(*straight), state(*resumed)
    assert a[5:] == b[5:] == [10, 10]
    for x, y in zip(a[:5], b[:5]):
        np.testing.assert_array_equal(x, y)


def test_test_time_weights_are_the_lagging_means_sign_and_the_sample_comes_back():
    """Inside ``evaluation_weights`` the kernel is +1 where mu > 0 and -1 where mu <= 0
    (their ``mu <= 0 -> 0`` then ``2x - 1``); mu is tanh of lambda *before* the last
    update, so with lambda starting at 0 the first step's test weights are all -1 whatever
    lambda became; on exit the kernel holds the training sample again, bit for bit."""
    shape = (8, 4)
    component = bayesbinn(seed=1, lr=Constant(value=0.5), temperature=1.0, lamda_init=0.0,
                          trainset_scale=1.0)
    (_, after_one), _, _, model, optimizer = steps(component, shape,
                                                   gradients(5, shape, 1, scale=1.0), 1, 1)
    kernel = model.layers[0].kernel
    sample = kernel.numpy()
    assert (after_one[1] != 0).all() and (after_one[2] == 0).all()  # lambda moved, mu is 0
    with component.evaluation_weights(model, optimizer):
        np.testing.assert_array_equal(kernel.numpy(), -np.ones(shape, F32))
    np.testing.assert_array_equal(kernel.numpy(), sample)
    optimizer.apply_gradients([(tf.constant(gradients(6, shape, 1, scale=1.0)[0]), kernel)])
    mu = optimizer.optimizers[0].get_slot(kernel, "mu").numpy()
    np.testing.assert_array_equal(mu, tanh(after_one[1]))
    with component.evaluation_weights(model, optimizer):
        np.testing.assert_array_equal(kernel.numpy(), np.where(mu > 0, F32(1), F32(-1)))


@pytest.mark.parametrize("overrides,message", [
    ({"optimizer.temperature": 0.0}, r"optimizer.temperature must be > 0"),
    ({"optimizer.beta": 1.0}, r"optimizer.beta must be in \[0, 1\)"),
    ({"optimizer.lr.value": 0.0}, r"optimizer.lr must lie in \(0, inf\]"),
    ({"optimizer.trainset_scale": 0.0}, r"optimizer.trainset_scale must be > 0"),
])
def test_bayesbinn_is_selectable_and_refuses_bad_settings_before_any_data(overrides, message):
    from configs import EXPERIMENTS
    from experiments.engine.experiment import build

    exp = build(EXPERIMENTS["sec52_bop"], {"optimizer": "BayesBiNN", "seed": 4})
    assert type(exp.optimizer) is BayesBiNN
    assert (exp.optimizer.seed, exp.optimizer.batch_size) == (4, exp.batch_size)  # the run's
    with pytest.raises(ConfigError, match=message):
        build(EXPERIMENTS["sec52_bop"], {"optimizer": "BayesBiNN", **overrides})


def test_the_training_loop_evaluates_with_the_optimizers_weights(tiny_overrides, monkeypatch):
    """The contract's hook in the engine: every evaluation (each epoch's and the final
    test) runs inside ``evaluation_weights``, with the mean's sign in the kernels, and
    training goes on from the sample."""
    from configs import EXPERIMENTS
    from experiments.engine.experiment import build
    from experiments.engine.train import train

    seen = []
    original = BayesBiNN.evaluation_weights

    def spy(self, model, optimizer):
        inner = optimizer.optimizers[0]
        kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel_quantizer")
                   and layer.kernel_quantizer is not None]
        with original(self, model, optimizer):
            seen.append(all(np.array_equal(k.numpy(), inner.mean_weights(k).numpy())
                            for k in kernels))
            yield

    import contextlib
    monkeypatch.setattr(BayesBiNN, "evaluation_weights", contextlib.contextmanager(spy))
    exp = build(EXPERIMENTS["sec52_bop"], {**tiny_overrides, "optimizer": "BayesBiNN",
                                           "epochs": 2, "final_test": True,
                                           "validation": "holdout", "holdout": 20})
    summary = train(exp)
    assert summary["status"] == "completed" and summary["epochs_done"] == 2
    assert seen == [True, True, True]  # two epochs' holdout and the final test


def test_the_update_survives_graph_optimizers():
    """TF's arithmetic optimizer and XLA rewrite ``(1 - w*w) + 1e-10`` with constant
    operands as ``(1 + 1e-10) - w*w``, which is 0 in float32 where w = +-1: the scale
    became 0 / 0 and lambda NaN in the training loop. Compiled as the loop compiles it
    (a tf.function, optionally XLA), the update must equal the eager one to float32
    rounding (the compilers may still reorder other operations)."""
    shape = (6, 4)
    g = tf.constant(gradients(8, shape, 1)[0])
    lamdas = {}
    for mode in ("eager", "graph", "xla"):
        component = bayesbinn(seed=7, lr=Constant(value=1e-3))
        model = binary_model(shape)
        var = model.layers[0].kernel
        optimizer, _ = component.build(model, 30, 10)

        def step():
            optimizer.apply_gradients([(g, var)])

        run = {"eager": step, "graph": tf.function(step),
               "xla": tf.function(step, jit_compile=True)}[mode]
        for _ in range(3):
            run()
        lamdas[mode] = optimizer.optimizers[0].get_slot(var, "lamda").numpy()
    assert np.isfinite(lamdas["eager"]).all() and np.abs(lamdas["eager"]).min() > 1e3
    for mode in ("graph", "xla"):
        np.testing.assert_allclose(lamdas[mode], lamdas["eager"], rtol=1e-6, err_msg=mode)
