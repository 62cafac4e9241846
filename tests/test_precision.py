"""Mixed precision keeps the science: what must stay float32 does, float16's loss
scaling hands the optimizers true gradients and a skipped step flips nothing, and bad
choices are refused before any data is read (``experiments.engine.precision``)."""
import numpy as np
import pytest
import tensorflow as tf

from configs import EXPERIMENTS
from experiments.engine import precision
from experiments.engine.experiment import build
from experiments.engine.pipelines import prepare_data, train_iterator
from experiments.engine.step import TrainState
from experiments.errors import ConfigError

FORCED_FP16 = {"precision": "mixed_float16", "force_precision": True}
ZEN4 = {"vendor": "AuthenticAMD", "flags": ["avx2", "avx512f", "avx512_bf16"], "gpus": [],
        "label": "AMD EPYC Zen 4 · 2 cores"}
AVX2 = {"vendor": "GenuineIntel", "flags": ["avx2", "fma"], "gpus": [], "label": "x"}


def _state(overrides, name="sec52_bop"):
    exp = build(EXPERIMENTS[name], {**overrides, "steps_per_loop": 1})
    builder, split, _, n_train, _ = prepare_data(exp)
    strategy = tf.distribute.get_strategy()
    return exp, TrainState(exp, strategy, n_train / exp.batch_size), builder, split


def test_an_unknown_precision_lists_the_valid_ones(tiny_overrides):
    with pytest.raises(ConfigError, match="float32, mixed_bfloat16, mixed_float16, auto"):
        build(EXPERIMENTS["sec52_bop"], {**tiny_overrides, "precision": "bf16"})


def test_float16_without_a_gpu_is_refused_before_data_unless_forced(tiny_overrides, tmp_path):
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU, where float16 is native")
    empty = {**tiny_overrides, "data_dir": str(tmp_path / "nothing here")}
    with pytest.raises(ConfigError, match="force_precision=True"):
        build(EXPERIMENTS["sec52_bop"], {**empty, "precision": "mixed_float16"})
    assert build(EXPERIMENTS["sec52_bop"], {**tiny_overrides, **FORCED_FP16})
    assert not (tmp_path / "nothing here").exists()


def test_auto_picks_bfloat16_only_where_it_is_native():
    assert precision.choose_auto(ZEN4)[0] == "mixed_bfloat16"
    assert precision.choose_auto({**AVX2, "flags": ["amx_tile", "amx_bf16"]})[0] == "mixed_bfloat16"
    assert precision.choose_auto(AVX2)[0] == "float32"
    a100 = {**AVX2, "gpus": [{"name": "A100", "compute_capability": "8.0"}]}
    v100 = {**AVX2, "gpus": [{"name": "V100", "compute_capability": "7.0"}]}
    assert precision.choose_auto(a100)[0] == "mixed_bfloat16"
    assert precision.choose_auto(v100)[0] == "float32"
    assert precision.native("mixed_float16", v100) and not precision.native("mixed_float16", ZEN4)


def test_auto_is_resolved_into_the_config_and_the_run_id(tiny_overrides, capsys):
    exp = build(EXPERIMENTS["sec52_bop"], {**tiny_overrides, "precision": "auto"})
    assert exp.precision in ("float32", "mixed_bfloat16")
    assert f"precision=auto -> {exp.precision}" in capsys.readouterr().err
    same = build(EXPERIMENTS["sec52_bop"], {**tiny_overrides, "precision": exp.precision})
    assert exp.run_name() == same.run_name()


def test_precision_and_xla_are_part_of_the_run_id_but_float32_keeps_old_ids(tiny_overrides):
    def run_id(**kw):
        return build(EXPERIMENTS["sec52_bop"], {**tiny_overrides, **kw}).run_name()

    base = run_id()
    assert run_id(precision="float32") == base and run_id(jit_compile=False) == base
    assert len({base, run_id(precision="mixed_bfloat16"), run_id(jit_compile=True)}) == 3


def test_a_16_bit_precision_without_its_hardware_is_announced(capsys):
    precision.warn_if_emulated("mixed_bfloat16", AVX2)
    said = capsys.readouterr().err
    assert "no bfloat16 hardware" in said and "float32" in said and "hardware record" in said
    precision.warn_if_emulated("mixed_float16", AVX2)
    assert "emulated" in capsys.readouterr().err and "slower" in precision.__doc__
    precision.warn_if_emulated("mixed_bfloat16", ZEN4)
    precision.warn_if_emulated("float32", AVX2)
    assert capsys.readouterr().err == ""


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sec52_bop", "sec52_adam", "sec52_bop2ndorder"])
def test_under_bfloat16_the_state_stays_float32_and_the_compute_does_not(name, tiny_overrides):
    exp, state, builder, split = _state({**tiny_overrides, "precision": "mixed_bfloat16"}, name)
    iterator = train_iterator(exp, state.strategy, builder, split, epoch=0)
    state.train_steps(iterator, tf.constant(2))
    variables = state.model.weights + state.optimizer.weights
    assert all(v.dtype == tf.float32 for v in variables if v.dtype.is_floating), \
        [v.name for v in variables if v.dtype.is_floating and v.dtype != tf.float32]
    names = {v.name for v in state.optimizer.weights}
    assert any("/m:" in n or "/m/" in n or n.endswith("m:0") for n in names), names
    layers = {type(layer).__name__: layer for layer in state.model.layers}
    assert layers["QuantConv2D"].compute_dtype == "bfloat16"
    norms = [layer for layer in state.model.layers
             if isinstance(layer, tf.keras.layers.BatchNormalization)]
    assert all(layer.moving_mean.dtype == tf.float32 for layer in norms)
    images, _ = next(iter(exp.dataset.train_dataset(builder, split, exp.batch_size, 0, 0)))
    assert state.model(images, training=False).dtype == tf.float32  # the softmax
    assert tf.keras.mixed_precision.global_policy().name == "float32"  # restored


@pytest.mark.slow
def test_loss_scaling_hands_bop_the_true_gradients(tiny_overrides):
    """float16 with dynamic loss scaling (2^15 at the start): after each step Bop's m is
    m + gamma (g - m) for g the gradient of the *unscaled* loss at the same weights and
    batch (computed here without any scaling); a scaled g would be 32768 times too big."""
    exp, state, builder, split = _state({**tiny_overrides, **FORCED_FP16})
    assert float(state.optimizer.loss_scale) == 2.0 ** 15
    bop = precision.inner(state.optimizer).optimizers[0]
    gamma = float(bop._get_hyper("gamma")(0))
    iterator = train_iterator(exp, state.strategy, builder, split, epoch=0)
    batches = iter(exp.dataset.train_dataset(builder, split, exp.batch_size, exp.seed, 0))
    kernels = state.kernels

    def m_of(kernel):  # the slot exists from the first step on; m starts at 0
        try:
            return bop.get_slot(kernel, "m").numpy()
        except KeyError:
            return np.zeros(kernel.shape, np.float32)

    for _ in range(3):
        images, labels = next(batches)
        with tf.GradientTape() as tape:
            probs = state.model(images, training=True)
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, probs))
        true = [g.numpy() for g in tape.gradient(loss, kernels)]
        m_before = [m_of(k) for k in kernels]
        state.train_steps(iterator, tf.constant(1))
        for k, g, m0 in zip(kernels, true, m_before):
            expected = m0 + gamma * (g - m0)
            got = m_of(k)
            scale = np.abs(expected).max()
            assert np.abs(got - expected).max() <= 2e-2 * scale, k.name  # float16 rounding


def test_a_step_skipped_for_non_finite_gradients_updates_and_flips_nothing(tiny_overrides):
    exp, state, builder, split = _state({**tiny_overrides, **FORCED_FP16})
    iterator = train_iterator(exp, state.strategy, builder, split, epoch=0)
    state.train_steps(iterator, tf.constant(1))  # a normal step: slots exist, weights are ±1
    # the step counters still advance on a skipped step (Keras's rule), so schedules keep time
    slots = [v for v in precision.inner(state.optimizer).weights if "iter" not in v.name]
    before = [v.numpy() for v in state.model.trainable_variables + slots]
    state.optimizer._loss_scale._current_loss_scale.assign(1e30)  # float16 overflows
    flips, losses = state.train_steps(iterator, tf.constant(1))
    after = [v.numpy() for v in state.model.trainable_variables + slots]
    assert slots and len(before) == len(after)
    for a, b in zip(before, after):  # weights, Bop's m, Adam's moments
        np.testing.assert_array_equal(a, b)
    assert flips.numpy().sum() == 0 and np.isfinite(losses.numpy()).all()
    assert float(state.optimizer.loss_scale) == pytest.approx(5e29)  # halved, as dynamic scaling does


@pytest.mark.slow
def test_a_reduced_scale_uses_bfloat16_only_where_the_committed_study_shows_it_equivalent():
    """The long scale's precision is mixed_bfloat16 only while the committed equivalence
    study (precision_bop, precision_adam) shows every quantity equivalent for both
    optimizers; the paper scale stays float32."""
    import os

    from configs import SWEEPS
    from configs.cifar10 import LONG_PRECISION
    from experiments.analysis import collect, equivalence
    from experiments.engine.sweep import placed

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    assert build(EXPERIMENTS["sec52_bop"]).precision == "float32"
    assert build(EXPERIMENTS["sec52_bop"], {"scale": "quick"}).precision == "float32"
    if LONG_PRECISION == "float32":
        return
    for name in ("precision_bop", "precision_adam"):
        sweep = SWEEPS[name]
        cells = {}
        build_named = lambda name, overrides: build(EXPERIMENTS[name], overrides)  # noqa: E731
        for point in placed(sweep, SWEEPS.values(), build_named):  # where each point lives
            run = collect.load_run(os.path.join(
                repo, build(EXPERIMENTS[sweep.experiment], point).run_dir()))
            cells.setdefault(point["precision"], []).append(run)
        rows = equivalence.compare(cells["float32"], cells[LONG_PRECISION])
        assert rows and rows[0][1].n_a == len(sweep.seeds)
        assert equivalence.equivalent(rows), [(q, v) for q, *_, v in rows]


def test_the_equivalence_verdict_needs_the_whole_interval_inside_the_margin():
    from experiments.analysis import equivalence, stats

    def d(low, high):
        return stats.Difference(2, 0, 0, 2, 0, 0, (low + high) / 2, low, high, "t")

    assert equivalence.verdict(d(-1.0, 1.5), 2.0) == "equivalent"
    assert equivalence.verdict(d(-1.0, 2.5), 2.0) == "not shown"  # no difference shown either
    assert equivalence.verdict(d(2.1, 4.0), 2.0) == "not equivalent"
    assert equivalence.verdict(stats.Difference(1, 0, None, 1, 0, None, 0.0, None, None,
                                                "no interval"), 2.0) == "not shown"


def test_two_optimizers_are_equivalent_different_or_inconclusive_within_the_margin():
    """The horizon ladder's words for the same two one-sided tests (margin as a fraction)."""
    from experiments.analysis import equivalence, stats

    def d(low, high):
        return stats.Difference(3, 0, 0.01, 3, 0, 0.01, (low + high) / 2, low, high, "Welch t")

    assert equivalence.optimizers(d(-0.019, 0.015), 0.02) == "equivalent"
    assert equivalence.optimizers(d(-0.099, -0.034), 0.02) == "different"  # 8 epochs' Bop - Adam
    assert equivalence.optimizers(d(0.0201, 0.1076), 0.02) == "different"
    assert equivalence.optimizers(d(-0.046, 0.027), 0.02) == "inconclusive"  # straddles -2 pp
    assert equivalence.optimizers(d(-0.010, 0.025), 0.02) == "inconclusive"  # straddles +2 pp
    none = stats.Difference(1, 0, None, 1, 0, None, 0.0, None, None, "no interval: n = 1")
    assert equivalence.optimizers(none, 0.02) == "inconclusive"
