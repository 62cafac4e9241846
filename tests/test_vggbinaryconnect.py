"""VGGBinaryConnect (BayesBiNN's CIFAR-10 network) against its definition, and its
experiment against their main_cifar10.py and their logged numbers."""
import larq as lq
import numpy as np
import pytest
import tensorflow as tf
import yaml

from experiments.errors import ConfigError
from experiments.models.base import every_layer
from experiments.optimizers import binary_kernels
from models.vggbinaryconnect import VGGBinaryConnect, vggbinaryconnect
from tests.test_models import expected_counts
from tests.test_report import REPORTED


def test_every_weight_is_one_of_nine_binary_kernels_and_activations_are_relu():
    model = vggbinaryconnect(represent=every_layer(lq.quantizers.NoOp(precision=1)))
    kernels = binary_kernels(model)
    # BinaryNet's topology with its first convolution padded: the same binary weights
    assert len(kernels) == 9
    assert sum(int(np.prod(k.shape)) for k in kernels) == expected_counts(128, 1024, "same")[0]
    assert len(model.trainable_variables) == 9, "batch norm has no scale and no offset"
    quantized = [layer for layer in model.layers if hasattr(layer, "input_quantizer")]
    assert len(quantized) == 9 and all(layer.input_quantizer is None for layer in quantized)
    norms = [layer for layer in model.layers
             if isinstance(layer, tf.keras.layers.BatchNormalization)]
    assert [(n.momentum, n.epsilon, n.center, n.scale) for n in norms] == (
        [(0.8, 1e-5, False, False)] * 6 + [(0.9, 1e-5, False, False)] * 3)


def test_the_forward_pass_is_theirs_layer_by_layer():
    """With +-1 kernels, in training mode (batch norm by the batch's own moments), the
    model computes conv -> [pool] -> norm -> ReLU six times, then dense -> norm -> ReLU
    twice and dense -> norm -> softmax, as their forward() does: a norm before the pool
    would see other moments, and a sign activation other values."""
    model = vggbinaryconnect(represent=every_layer(lq.quantizers.NoOp(precision=1)),
                             filters=2, dense_units=4)
    rng = np.random.default_rng(0)
    for k in binary_kernels(model):
        k.assign(np.where(rng.random(k.shape) < 0.5, -1.0, 1.0).astype(np.float32))
    x = rng.normal(size=(8, 32, 32, 3)).astype(np.float32)

    def norm(h, axes):
        mean, var = tf.nn.moments(h, axes)
        return (h - mean) / tf.sqrt(var + 1e-5)

    h = tf.constant(x)
    kernels = [k.numpy() for k in binary_kernels(model)]
    for i, k in enumerate(kernels[:6], start=1):
        h = tf.nn.conv2d(h, k, 1, "SAME")
        if i % 2 == 0:
            h = tf.nn.max_pool2d(h, 2, 2, "VALID")
        h = tf.nn.relu(norm(h, [0, 1, 2]))
    h = tf.reshape(h, (8, -1))
    for k in kernels[6:8]:
        h = tf.nn.relu(norm(tf.matmul(h, k), [0]))
    want = tf.nn.softmax(norm(tf.matmul(h, kernels[8]), [0])).numpy()
    np.testing.assert_allclose(model(x, training=True).numpy(), want, rtol=1e-4, atol=1e-5)


def test_settings_are_checked_before_anything_is_built():
    with pytest.raises(ConfigError, match="model.conv_bn_momentum must be in"):
        VGGBinaryConnect(conv_bn_momentum=1.0).check()
    with pytest.raises(ConfigError, match="model.filters and model.dense_units"):
        VGGBinaryConnect(filters=0).check()
    # the builder checks them too, before any layer is made
    with pytest.raises(ConfigError, match="model.dense_bn_momentum must be in"):
        vggbinaryconnect(represent=every_layer("ste_sign"), dense_bn_momentum=-0.1)


def test_the_experiment_is_their_main_cifar10_defaults_and_cites_their_logs():
    from configs import EXPERIMENTS, GROUPS
    from experiments.engine.experiment import build

    exp = build(EXPERIMENTS["bayesbinn_cifar10"])
    c = exp.resolved_config()
    assert (exp.section, c["model"], c["optimizer"], c["epochs"], c["batch_size"]) == (
        "beyond", "VGGBinaryConnect", "BayesBiNN", 500, 50)
    assert (c["validation"], c["holdout"], c["final_test"]) == ("holdout", 5000, True)
    assert (c["optimizer.lr.value"], c["optimizer.lr.end"], c["optimizer.temperature"],
            c["optimizer.lamda_init"], c["optimizer.trainset_scale"], c["optimizer.beta"]) == (
        3e-4, 1e-16, 1e-10, 10.0, 10.0, 0.0)
    assert c["dataset.augment_padding"] == 4
    assert "bayesbinn_cifar10" in GROUPS["beyond"]
    with open(REPORTED) as f:
        entry = yaml.safe_load(f)["experiments"]["bayesbinn_cifar10"]
    # the cited number is the mean of the five logged runs it names
    assert entry["metrics"]["test_top1"] == round(float(np.mean(entry["runs_test_top1"])), 2)
    assert len(entry["runs_test_top1"]) == 5


@pytest.mark.slow
def test_the_experiment_trains_through_the_cli_at_tiny_scale(fake_cifar10, tmp_path):
    """A real process: VGGBinaryConnect under BayesBiNN, validated on a holdout and tested
    once at the end, as their script reports its number."""
    import json
    import os
    import subprocess
    import sys

    data_dir, _, _ = fake_cifar10
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(
        [sys.executable, "-m", "experiments", "run", "bayesbinn_cifar10", "scale=tiny",
         f"data_dir={data_dir}", f"results_dir={tmp_path / 'runs'}",
         "progress=False"], cwd=repo, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (tmp_path / "runs" / "bayesbinn_cifar10").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert (summary["status"], summary["validation_split"]) == ("completed", "holdout")
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    config = json.loads((run / "config.json").read_text())
    assert (config["model"], config["optimizer"]) == ("VGGBinaryConnect", "BayesBiNN")
