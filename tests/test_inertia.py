"""§3: the weight-swapping evaluation and the Theorem 1 lockstep comparison, tiny scale."""
import os

import numpy as np
import pytest
import tensorflow as tf

from configs import EXPERIMENTS
from configs.inertia import Sec3Sgd
from experiments.inertia import measurements as inertia
from experiments.engine import runs
from experiments.engine.experiment import build
from experiments.inertia.tasks import theorem1_overrides


def test_latent_copy_uses_real_kernels_and_binary_activations(tiny_overrides):
    exp = build(EXPERIMENTS["sec3_approximation"], tiny_overrides)
    tf.keras.utils.set_random_seed(0)
    model = exp.model.build(input_shape=(32, 32, 3), num_classes=10,
                            represent=exp.optimizer.represent)
    twin = inertia.latent_copy(exp, model)
    x = tf.random.stateless_uniform((4, 32, 32, 3), seed=(0, 1), minval=-1, maxval=1)
    assert not np.allclose(model(x).numpy(), twin(x).numpy())  # real vs binary kernels
    for layer in model.layers:  # with kernels at ±1 the two networks are the same function
        if getattr(layer, "kernel_quantizer", None) is not None:
            layer.kernel.assign(tf.where(layer.kernel >= 0, 1.0, -1.0))
    twin = inertia.latent_copy(exp, model)
    np.testing.assert_allclose(model(x).numpy(), twin(x).numpy(), rtol=1e-5, atol=1e-6)
    conv2 = twin.get_layer("conv2")
    assert conv2.kernel_quantizer is None and conv2.input_quantizer is not None


def test_batchnorm_reestimation_averages_the_batch_statistics():
    inputs = tf.keras.Input((3,))
    bn = tf.keras.layers.BatchNormalization(momentum=0.99)
    model = tf.keras.Model(inputs, bn(inputs))
    batches = [tf.constant(np.random.default_rng(i).normal(i, 1 + i, (8, 3)), tf.float32)
               for i in range(3)]
    inertia.reestimate_batchnorm(model, [(b, None) for b in batches])
    np.testing.assert_allclose(bn.moving_mean.numpy(),
                               np.mean([b.numpy().mean(0) for b in batches], 0), rtol=1e-5)
    assert bn.momentum == 0.99  # restored


@pytest.mark.slow
def test_approximation_run_writes_its_table(tiny_overrides):
    exp = build(EXPERIMENTS["sec3_approximation"], tiny_overrides)
    exp.run()
    result = runs.read_json(os.path.join(exp.run_dir(), "approximation.json"))
    for key in ("binary", "latent", "latent_bn_reestimated"):
        assert 0.0 <= result[key]["train"] <= 1.0 and 0.0 <= result[key]["test"] <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("overrides,conditions", [
    ({"optimizer": "LatentSGD", "optimizer.binary_lr_multiplier": 100.0}, True),
    ({"optimizer": "LatentAdam"}, True),
    ({"optimizer": "LatentSGD", "optimizer.binary_lr_multiplier": 100.0,
      "optimizer.ste_clip_value": 1.0}, False),
])
def test_theorem1_lockstep(overrides, conditions, tiny_overrides):
    theorem = build(EXPERIMENTS["sec3_theorem1"], {**tiny_overrides, "epochs": 2})
    base, scaled = theorem1_overrides(theorem, overrides, 100.0)
    result = inertia.theorem1_pair(build(Sec3Sgd, base), build(Sec3Sgd, scaled), epochs=2)
    assert result["steps"] == 6 and result["differing_per_step"][0] == 0
    assert result["flips_reference_run"] > 0, "the comparison must involve flips"
    # the scaled run's weights are c = 100 times larger (up to rounding and divergence)
    assert result["max_abs_latent_scaled_run"] > 10 * result["max_abs_latent_reference_run"]
    if conditions:  # c = 100 and exact arithmetic up to rounding: identical binary weights
        assert result["max_differing_fraction"] <= 1e-3, result["differing_per_step"]
    else:  # most of the scaled run's latent weights sit beyond the cut and never move
        assert result["flips_scaled_run"] < result["flips_reference_run"]
        assert result["final_differing_fraction"] > 0


def test_configs_only_declare_the_sec3_tasks():
    """The §3 configs carry data (task name, variants, fields), no run logic: the engine
    runs their tasks, and a finished Theorem 1 comparison is not recomputed."""
    import inspect

    from configs import inertia as declared

    for cls in (declared.Sec3Approximation, declared.Sec3Theorem1):
        own = {k for k, v in vars(cls).items() if inspect.isfunction(v)}
        assert not own & {"run", "_run_claimed", "pair_overrides"}, cls.__name__
    # the task is a function of experiments/inertia/tasks.py, named by the config: the
    # engine runs it without importing §3 code
    from experiments.inertia import tasks

    assert declared.Sec3Approximation.task is tasks.run_approximation
    assert declared.Sec3Theorem1.task is tasks.run_theorem1
    assert EXPERIMENTS["sec52_bop"].task is None  # None = train


@pytest.mark.slow
def test_the_theorem1_task_writes_its_comparison_once(tiny_overrides, capsys):
    exp = build(EXPERIMENTS["sec3_theorem1"], {**tiny_overrides, "factors": (128.0,)})
    summary = exp.run()
    assert summary["status"] == "completed" and summary["kind"] == "comparison"
    results = runs.read_json(os.path.join(exp.run_dir(), "theorem1.json"))
    assert sorted(results) == sorted(f"{label}_c128" for label, _, _ in exp.variants)
    assert results["sgd_c128"]["max_differing_fraction"] == 0  # powers of 2: exact
    again = build(EXPERIMENTS["sec3_theorem1"], {**tiny_overrides, "factors": (128.0,)}).run()
    assert again == summary  # finished: not recomputed, its wall time kept
    assert "already completed" in capsys.readouterr().out
