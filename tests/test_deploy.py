"""``bnn export``: the deploy form computes the trained function, LCE converts what it
should into binary ops, bad input is refused in one line, and a tiny trained run (made
and exported by real processes) deploys equal to its Keras model."""
import json
import os
import shutil
import subprocess
import sys

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from experiments.deploy import convert, deploy_form, export, restore, verify
from experiments.errors import RunFolderError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMITTED = os.path.join(REPO, "results", "runs", "sec52_bop", "quick-seed0-55759242")


def small_bnn(seed=0):
    """A BinaryNet in miniature (float first conv, binary convs, a pool before batch
    norm, binary dense layers), with +-1 kernels and batch-norm statistics that are not
    the identity, so that the rewrite is tested on a trained-looking network."""
    tf.keras.utils.set_random_seed(seed)
    binary = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False)
    x = inputs = tf.keras.Input((8, 8, 3))
    x = lq.layers.QuantConv2D(8, 3, use_bias=False, name="conv1")(x)
    x = tf.keras.layers.BatchNormalization(scale=False, name="bn1")(x)
    x = lq.layers.QuantConv2D(16, 3, padding="same", name="conv2", **binary)(x)
    x = tf.keras.layers.MaxPool2D(2, name="pool2")(x)
    x = tf.keras.layers.BatchNormalization(scale=False, name="bn2")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    x = lq.layers.QuantDense(32, name="dense1", **binary)(x)
    x = tf.keras.layers.BatchNormalization(scale=False, name="bn3")(x)
    x = lq.layers.QuantDense(5, name="dense2", **binary)(x)
    x = tf.keras.layers.BatchNormalization(scale=False, name="bn4")(x)
    outputs = tf.keras.layers.Activation("softmax", name="softmax")(x)
    model = tf.keras.Model(inputs, outputs)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            beta, mean, var = layer.get_weights()
            layer.set_weights([rng.normal(size=beta.shape), rng.normal(size=mean.shape) * 3,
                               rng.uniform(1, 20, size=var.shape)])
        elif isinstance(layer, (lq.layers.QuantConv2D, lq.layers.QuantDense)):
            kernel = layer.get_weights()[0]
            layer.set_weights([np.where(rng.random(kernel.shape) < 0.5, -1.0, 1.0)])
    return model


def images(n=64, seed=1):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 8, 8, 3)).astype("float32")


def test_deploy_form_computes_the_trained_function_with_dense_layers_as_1x1_convs():
    model = small_bnn()
    form = deploy_form.deploy_form(model)
    x = images()
    np.testing.assert_array_equal(form(x, training=False), model(x, training=False))
    assert deploy_form.dense_layers(model) == ["dense1", "dense2"]
    assert deploy_form.dense_layers(form) == []
    kernel = form.get_layer("dense1").conv.get_weights()[0]
    assert kernel.shape == (1, 1, 144, 32)
    np.testing.assert_array_equal(kernel[0, 0], model.get_layer("dense1").get_weights()[0])


def test_lce_makes_the_dense_layers_binary_only_in_the_deploy_form_and_agrees_with_keras():
    model = small_bnn()
    form = deploy_form.deploy_form(model)
    plain, deployed = convert.lce_flatbuffer(model), convert.lce_flatbuffer(form)
    before = convert.census(plain, *export.quantized_layers(model))
    after = convert.census(deployed, *export.quantized_layers(form))
    assert before["binary_layers"] == ["conv2"]
    assert set(before["float_layers"]) == {"conv1", "dense1", "dense2"}
    assert before["ops"]["FULLY_CONNECTED"] == 2
    assert after["binary_layers"] == ["conv2", "dense1", "dense2"]
    assert list(after["float_layers"]) == ["conv1"] and "FULLY_CONNECTED" not in after["ops"]
    # dense1's batch norm and dense2's sign fold into dense1's binary output
    assert after["binary_output_layers"] == ["dense1"]
    assert len(deployed) < len(plain)
    batches = [(tf.constant(images(16, s)), tf.zeros(16, tf.int64)) for s in range(4)]
    checked = verify.compare(model, form, deployed, batches)
    assert checked["images"] == 64 and checked["top1_agreement"] == 1.0
    assert checked["max_abs_diff"] <= verify.TOLERANCE and checked["deploy_form_max_abs_diff"] == 0


def test_a_converter_failure_is_one_line_naming_the_cause(monkeypatch):
    import larq_compute_engine as lce

    def refuse(model, **kwargs):
        raise ValueError("\n  <unknown>:0: error: 'tf.FancyOp' op is neither a custom op nor "
                         "a flex op\n  <unknown>:0: note: see current operation\n")

    monkeypatch.setattr(lce, "convert_keras_model", refuse)
    with pytest.raises(convert.ConversionError) as e:
        convert.lce_flatbuffer(small_bnn())
    message = str(e.value)
    assert "\n" not in message and "tf.FancyOp" in message and tf.__version__ in message


def _committed_copy(tmp_path, **summary_changes):
    run = tmp_path / "sec52_bop" / os.path.basename(COMMITTED)
    shutil.copytree(COMMITTED, run)
    summary = json.loads((run / "summary.json").read_text())
    summary.update(summary_changes)
    (run / "summary.json").write_text(json.dumps(summary))
    return str(run)


def test_a_folder_that_is_not_a_finished_run_with_weights_is_refused_in_one_line(tmp_path):
    with pytest.raises(RunFolderError, match="is not a folder"):
        restore.load_finished(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match="is not a run folder"):
        restore.load_finished(str(tmp_path / "empty"))
    unfinished = _committed_copy(tmp_path / "a", status="interrupted")
    with pytest.raises(RunFolderError, match="has not completed"):
        restore.load_finished(unfinished)
    run = restore.load_finished(_committed_copy(tmp_path / "b"))
    with pytest.raises(RunFolderError) as e:
        restore.final_checkpoint(run)
    assert "make remake RUN=" in str(e.value) and "\n" not in str(e.value)


def _bnn(*args, timeout=600):
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "PYTHONHASHSEED": "0"}
    done = subprocess.run([sys.executable, "-m", "experiments", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_a_tiny_trained_run_exports_equal_to_its_keras_model(fake_cifar10, tmp_path, precision):
    data_dir, _, _ = fake_cifar10
    runs, deploy = tmp_path / "runs", tmp_path / "deploy"
    _bnn("run", "sec52_bop", "scale=tiny", f"data_dir={data_dir}", f"results_dir={runs}",
         "progress=False", f"precision={precision}")
    (run_dir,) = (runs / "sec52_bop").iterdir()
    _bnn("export", str(run_dir), f"data_dir={data_dir}", "--deploy-dir", str(deploy))
    record = json.loads((deploy / "sec52_bop" / f"{run_dir.name}.json").read_text())
    assert (run_dir / "model.tflite").stat().st_size == record["sizes"]["lce_deploy_form_bytes"]
    assert record["trained_precision"] == precision
    checked = record["verification"]
    assert checked["images"] == 20  # the fake test split, every image
    assert checked["top1_agreement"] == 1.0 and checked["max_abs_diff"] <= 1e-3
    assert checked["lce_accuracy"] == checked["keras_accuracy"]
    if precision == "float32":  # the same arithmetic as the run's own evaluation
        assert checked["keras_accuracy"] == pytest.approx(record["run_test_accuracy"])
    census = record["census"]["deploy_form"]
    assert census["binary_layers"] == ["conv2", "conv3", "conv4", "conv5", "conv6",
                                       "dense1", "dense2", "dense3"]
    assert list(census["float_layers"]) == ["conv1"]
    assert record["latency"]["label"] == verify.LATENCY_LABEL


def test_the_report_section_is_made_from_the_deploy_records(tmp_path):
    from experiments.report.deployment import deployment_section

    assert deployment_section(str(tmp_path / "none"), {}, str(tmp_path)) == []
    census = {"binary_layers": ["conv2", "dense1"], "binary_output_layers": ["dense1"],
              "float_layers": {"conv1": "real-valued input (the image): ..."}, "ops": {}}
    record = {"experiment": "sec52_bop", "optimizer": "Bop", "scale": "quick",
              "run_id": "quick-seed0-abc", "committed_run": "results/runs/sec52_bop/quick-seed0-abc",
              "exported_run": ".remake/runs/sec52_bop/quick-seed0-abc",
              "trained_precision": "float32", "test_split": "test", "run_test_accuracy": 0.5502,
              "verification": {"images": 10000, "top1_agreement": 1.0, "max_abs_diff": 2e-7,
                               "tolerance": 1e-3, "lce_accuracy": 0.5502, "keras_accuracy": 0.5502},
              "sizes": {"lce_deploy_form_bytes": 200_000, "lce_bytes": 1_200_000,
                        "float_tflite_bytes": 3_000_000, "lq_summary_bytes": 90_000},
              "census": {"deploy_form": census}, "machine": "some CPU",
              "latency": {"label": verify.LATENCY_LABEL, "lce_ms": 3.0, "float_tflite_ms": 1.0}}
    (tmp_path / "deploy" / "sec52_bop").mkdir(parents=True)
    (tmp_path / "deploy" / "sec52_bop" / "quick-seed0-abc.json").write_text(json.dumps(record))
    text = "\n".join(deployment_section(str(tmp_path / "deploy"), {}, str(tmp_path)))
    assert text.startswith("## Deployment")
    row = next(line for line in text.splitlines() if line.startswith("| `sec52_bop`"))
    assert "quick ⚠" in row and "100.00 %" in row and "55.02 / 55.02 / 55.02 %" in row
    assert "[quick-seed0-abc](" in row and "195.3 kB / 1,171.9 kB" in row
    assert verify.LATENCY_LABEL in text
