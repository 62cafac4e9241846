"""End to end: every experiment trains at tiny scale on fake CIFAR-10; runs resume exactly."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from configs import EXPERIMENTS
from experiments.engine import bf16, fingerprint, runs
from experiments.errors import ConfigError, DivergenceError
from experiments.engine.experiment import build


def _files(run_dir):
    return {name: os.path.exists(os.path.join(run_dir, name)) for name in runs.RUN_FILES}


# sec3_theorem1 compares runs; the ImageNet experiments are in test_imagenet_train.py
TRAINING = sorted(n for n in EXPERIMENTS
                  if n != "sec3_theorem1" and type(EXPERIMENTS[n]().dataset).__name__ == "Cifar10")


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINING)
def test_every_cifar10_experiment_trains_at_tiny_scale(name, tiny_overrides):
    exp = build(EXPERIMENTS[name], tiny_overrides)
    summary = exp.run()
    run_dir = exp.run_dir()
    assert all(_files(run_dir).values()), _files(run_dir)
    assert summary["status"] == "completed"
    assert (summary["epochs_done"], summary["epochs_planned"], summary["scale"]) == (1, 1, "tiny")
    assert summary["git"]["commit"] and summary["packages"]["larq"] == "0.14.0"
    (row,) = runs.read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
    assert 0.0 <= row["val_accuracy"] <= 1.0 and np.isfinite(row["train_loss"])
    # CIFAR-10 declares top-5 (Dataset.top5): measured and recorded, as it always was
    assert summary["final_val_top5_accuracy"] == row["val_top5_accuracy"] <= 1.0
    assert set(row["flip_ratio"]) == {"conv1", "conv2", "conv3", "conv4", "conv5", "conv6",
                                      "dense1", "dense2", "dense3"}
    flips = runs.read_jsonl(os.path.join(run_dir, "flips.jsonl"))
    assert [r["step"] for r in flips] == [1, 2, 3]  # 60 images / batch 20, every step logged
    assert all(-9.0 <= v <= 0.0 for r in flips for v in r["pi_t"].values())
    # the epoch's flip ratio is the mean of the per-step fractions
    sizes = summary["binary_layers"]
    mean = np.mean([r["flips"]["dense3"] / sizes["dense3"] for r in flips])
    assert row["flip_ratio"]["dense3"] == pytest.approx(mean)
    assert json.load(open(os.path.join(run_dir, "config.json")))["scale"] == "tiny"
    assert os.listdir(os.path.join(run_dir, "tensorboard"))
    # A finished run is not re-run.
    again = build(EXPERIMENTS[name], tiny_overrides).run()
    assert again["updated"] == summary["updated"]


def _weights(exp):
    reader = tf.train.load_checkpoint(os.path.join(exp.run_dir(), "checkpoints"))
    names = sorted(k for k in reader.get_variable_to_shape_map() if "model/" in k or "optimizer/" in k)
    return {k: reader.get_tensor(k) for k in names}


@pytest.mark.slow
@pytest.mark.parametrize("name,precision", [
    ("sec52_bop", "float32"), ("sec52_adam", "float32"), ("sec52_bop2ndorder", "float32"),
    ("sec52_bop2ndorder_unbiased", "float32"), ("sec52_bop", "mixed_bfloat16")])
def test_resumed_run_ends_with_the_same_weights(name, precision, tiny_overrides, tmp_path,
                                                monkeypatch):
    base = {**tiny_overrides, "epochs": 3, "deterministic": True, "precision": precision}
    straight = build(EXPERIMENTS[name], {**base, "results_dir": str(tmp_path / "a")})
    straight.run()

    # Kill the second run right after its 2nd checkpoint, as a crash would.
    from experiments.engine import records
    from experiments.engine import train as train_module
    calls = {"n": 0}
    real_summary = records.write_summary

    def crash_after_two_epochs(exp, run_dir, status, *args, **kwargs):
        result = real_summary(exp, run_dir, status, *args, **kwargs)
        if status == "running":
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
        return result

    monkeypatch.setattr(records, "write_summary", crash_after_two_epochs)
    interrupted = build(EXPERIMENTS[name], {**base, "results_dir": str(tmp_path / "b")})
    with pytest.raises(KeyboardInterrupt):
        interrupted.run()
    assert runs.read_json(os.path.join(interrupted.run_dir(), "summary.json"))["epochs_done"] == 2
    monkeypatch.setattr(records, "write_summary", real_summary)

    # resumed on another kind of machine (only its record differs: the kernels are these)
    here = fingerprint.fingerprint()
    elsewhere = {**here, "cpu": "Another CPU", "model_number": here["model_number"] + 1}
    monkeypatch.setattr(train_module, "fingerprint", lambda: dict(elsewhere))
    resumed = build(EXPERIMENTS[name], {**base, "results_dir": str(tmp_path / "b")})
    summary = resumed.run()
    assert summary["status"] == "completed" and summary["epochs_done"] == 3
    # each record as a run in this precision keeps it (bf16 without its hardware says so)
    assert summary["hardware"] == bf16.recorded(precision, elsewhere)
    assert summary["hardware_earlier"] == [bf16.recorded(precision, here)]
    assert "hardware_earlier" not in straight.run()  # a finished run, read back: one machine
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    assert any("optimizer/" in k for k in a), "optimizer state must be in the checkpoint"
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    rows_a = runs.read_jsonl(os.path.join(straight.run_dir(), "metrics.jsonl"))
    rows_b = runs.read_jsonl(os.path.join(resumed.run_dir(), "metrics.jsonl"))
    assert [r["epoch"] for r in rows_b] == [1, 2, 3]
    assert [r["val_accuracy"] for r in rows_a] == [r["val_accuracy"] for r in rows_b]


def test_nan_loss_stops_the_run_and_keeps_earlier_results(tiny_overrides):
    exp = build(EXPERIMENTS["sec52_adam"], {**tiny_overrides, "epochs": 2})
    # Poison the second epoch's images: its loss becomes NaN.
    from experiments.datasets import cifar10 as data
    real = data.train_dataset

    def poisoned(builder, split, batch_size, seed, epoch, **kw):
        ds = real(builder, split, batch_size, seed, epoch, **kw)
        return ds.map(lambda x, y: (x * float("nan"), y)) if epoch == 1 else ds

    data.train_dataset = poisoned
    try:
        with pytest.raises(DivergenceError, match="epoch 2"):
            exp.run()
    finally:
        data.train_dataset = real
    summary = runs.read_json(os.path.join(exp.run_dir(), "summary.json"))
    assert summary["status"] == "failed" and summary["epochs_done"] == 1
    assert "NaN" in summary["error"] or "nan" in summary["error"]
    assert len(runs.read_jsonl(os.path.join(exp.run_dir(), "metrics.jsonl"))) == 1


def test_a_run_folder_with_another_config_is_not_overwritten(tiny_overrides):
    build(EXPERIMENTS["sec51_tau_0"], {**tiny_overrides, "run_id": "mine"}).run()
    with pytest.raises(ConfigError, match="different config"):
        build(EXPERIMENTS["sec51_tau_0"], {**tiny_overrides, "run_id": "mine", "epochs": 2}).run()


@pytest.mark.slow
def test_several_steps_per_compiled_call_give_the_same_run(tiny_overrides, tmp_path):
    """steps_per_loop only batches steps into one tf.function call (3 steps = 2 + 1)."""
    base = {**tiny_overrides, "deterministic": True}
    one = build(EXPERIMENTS["sec52_bop"], {**base, "results_dir": str(tmp_path / "one")})
    two = build(EXPERIMENTS["sec52_bop"], {**base, "results_dir": str(tmp_path / "two"),
                                           "steps_per_loop": 2})
    one.run(), two.run()
    a, b = _weights(one), _weights(two)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    flips_a = runs.read_jsonl(os.path.join(one.run_dir(), "flips.jsonl"))
    flips_b = runs.read_jsonl(os.path.join(two.run_dir(), "flips.jsonl"))
    assert flips_a == flips_b


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sec52_bop", "sec52_adam", "sec52_bop2ndorder_unbiased"])
def test_optimizer_variables_made_up_front_change_only_the_tracing(name, tiny_overrides, tmp_path,
                                                                   monkeypatch):
    """``create_weights`` makes the optimizer's variables before the compiled loop's first
    call, so the loop is traced once instead of twice; the run, its checkpoint's names
    and its flips are the same bit for bit as with variables made by the first step."""
    from experiments.engine import step

    states = []
    original = step.TrainState.__init__

    def kept(self, *args, **kwargs):
        original(self, *args, **kwargs)
        states.append(self)

    monkeypatch.setattr(step.TrainState, "__init__", kept)
    base = {**tiny_overrides, "deterministic": True}
    early = build(EXPERIMENTS[name], {**base, "results_dir": str(tmp_path / "early")})
    early.run()
    monkeypatch.setattr(step, "create_weights", lambda optimizer, variables: None)
    lazy = build(EXPERIMENTS[name], {**base, "results_dir": str(tmp_path / "lazy")})
    lazy.run()
    assert [s.train_steps.experimental_get_tracing_count() for s in states] == [1, 2]
    a, b = _weights(early), _weights(lazy)
    assert sorted(a) == sorted(b) and any("optimizer/" in k for k in a)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert (runs.read_jsonl(os.path.join(early.run_dir(), "flips.jsonl"))
            == runs.read_jsonl(os.path.join(lazy.run_dir(), "flips.jsonl")))


MIRRORED = """
import sys, tensorflow_datasets  # noqa
import experiments
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from configs import EXPERIMENTS
from experiments.cli import parse_overrides
from experiments.engine.experiment import build
summary = build(EXPERIMENTS[sys.argv[1]], parse_overrides(sys.argv[3:])).run()
assert summary["replicas"] == int(sys.argv[2]), summary["replicas"]
print("OK", summary["status"])
"""


@pytest.mark.slow
@pytest.mark.parametrize("name,distribution,replicas", [
    ("sec52_bop", "mirrored", 2), ("sec52_adam", "mirrored", 2), ("sec52_bop", "multi_worker", 1)])
def test_distribution_strategies(name, distribution, replicas, fake_cifar10, tmp_path):
    """The loop runs under real tf.distribute strategies: MirroredStrategy over 2 logical
    CPU devices, and MultiWorkerMirroredStrategy as a one-worker cluster on localhost."""
    import socket
    import subprocess
    import sys

    data_dir, _, _ = fake_cifar10
    script = tmp_path / "distributed.py"
    script.write_text(MIRRORED)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": repo}
    if distribution == "multi_worker":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}"]},
                                       "task": {"type": "worker", "index": 0}})
    out = subprocess.run(
        [sys.executable, str(script), name, str(replicas), "scale=tiny", f"data_dir={data_dir}",
         f"results_dir={tmp_path / 'runs'}", f"distribution={distribution}", "progress=False"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OK completed" in out.stdout
    assert os.path.exists(os.path.join(tmp_path, "runs", name))  # the chief wrote the run
    if distribution == "mirrored":  # on CPU devices only: said, not silently "multi-GPU"
        assert "distribution=mirrored but no GPU is visible" in out.stderr


def test_progress_lines_in_a_log_file(tiny_overrides, monkeypatch, capsys):
    from experiments.engine import train as train_module

    monkeypatch.setattr(train_module, "LOG_EVERY_S", -1)  # every call, for the test
    build(EXPERIMENTS["sec51_tau_0"], {**tiny_overrides, "progress": True}).run()
    out = capsys.readouterr().out
    assert "epoch 1 step 3/3" in out and "images/s" in out
    assert "epoch 1/1  loss" in out


def test_top5_is_measured_only_where_the_dataset_declares_it(tiny_overrides, capsys):
    """A dataset component with ``top5 = False`` gets no top-5 accuracy printed or
    recorded (metrics rows, summary, final test); CIFAR-10 declares it, as its runs
    have always recorded it (checked by the tiny runs of every CIFAR-10 experiment)."""
    from zookeeper import component

    from experiments.datasets.cifar10 import Cifar10

    @component
    class Cifar10WithoutTop5(Cifar10):
        top5 = False

    assert Cifar10.top5 and not Cifar10.top5_in_tables
    without = build(EXPERIMENTS["sec51_tau_0"], {
        **tiny_overrides, "dataset": "Cifar10WithoutTop5", "validation": "holdout",
        "holdout": 20, "final_test": True})
    summary = without.run()
    (row,) = runs.read_jsonl(os.path.join(without.run_dir(), "metrics.jsonl"))
    assert summary["status"] == "completed" and summary["dataset"] == "Cifar10WithoutTop5"
    assert "test_accuracy" in summary and 0 <= row["val_accuracy"] <= 1
    assert not [k for k in (*row, *summary) if "top5" in k]
    out = capsys.readouterr().out
    assert "val_acc" in out and " top5 " not in out
