"""An optimizer defined in one file - this one - is selectable by name and trains a
model through the command line, with no edit anywhere else in the suite; it decides the
representation of every binary kernel per layer; an optimizer module outside the suite
is loaded by ``BNN_PLUGINS``; every module in ``experiments/optimizers/`` is found."""
import json
import os
import subprocess
import sys
import textwrap

import larq as lq
import pytest
import tensorflow as tf
from zookeeper import ComponentField, Field, component

from experiments.cli import main
from experiments.errors import ConfigError
from experiments.optimizers import Optimizer
from experiments.optimizers.schedules import Constant, Schedule
from models.binarynet import binarynet


@component
class ToySignSGD(Optimizer):
    """Latent weights moved by lr * sign(gradient) (signSGD). A stand-in for "the next
    BNN optimizer", with a per-layer representation: convolutions keep the model's own
    latent quantizer (BinaryNet's: ste_sign, clip 1), dense layers get a sign whose
    gradient is never cut, clipped to ``clip``."""

    lr: Schedule = ComponentField(Constant, value=1e-2)
    clip: float = Field(1.0)

    def represent(self, layer):
        if layer.name.startswith("conv"):
            return layer.own()
        return {"kernel_quantizer": lq.quantizers.SteSign(clip_value=None),
                "kernel_constraint": lq.constraints.WeightClip(self.clip)}

    def check(self) -> None:
        if self.clip <= 0:
            raise ConfigError(f"optimizer.clip must be > 0, got {self.clip}")

    def build(self, model, steps_per_epoch, epochs):
        lr = self.lr.build(steps_per_epoch, epochs)

        class SignSGD(tf.keras.optimizers.legacy.SGD):
            def _resource_apply_dense(self, grad, var, apply_state=None):
                return super()._resource_apply_dense(tf.sign(grad), var, apply_state)

        return SignSGD(lr), {"lr": lr}


def test_an_optimizer_in_its_own_file_trains_through_the_cli(fake_cifar10, tmp_path, capsys):
    root = str(tmp_path / "runs")
    args = ["run", "sec52_bop", "scale=tiny", "optimizer=ToySignSGD", "optimizer.lr.value=0.05",
            f"data_dir={fake_cifar10[0]}", f"results_dir={root}", "progress=False"]
    assert main(args) == 0
    (run_id,) = os.listdir(os.path.join(root, "sec52_bop"))
    folder = os.path.join(root, "sec52_bop", run_id)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(folder, "summary.json")) as f:
        summary = json.load(f)
    assert config["optimizer"] == "ToySignSGD" and config["optimizer.lr.value"] == 0.05
    assert summary["status"] == "completed" and summary["epochs_done"] == 1
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        row = json.loads(f.readline())
    assert row["hyperparameters"]["lr"] == 0.05 and sum(row["flip_ratio"].values()) > 0
    # its own validation runs before any data is read
    assert main(args + ["optimizer.clip=0.0"]) == 2
    assert "optimizer.clip must be > 0" in capsys.readouterr().err


def test_the_representation_is_decided_per_layer():
    toy = ToySignSGD(clip=0.5)
    model = binarynet(represent=toy.represent, filters=2, dense_units=4)
    quantized = [layer for layer in model.layers if getattr(layer, "kernel_quantizer", None)]
    assert [layer.name for layer in quantized] == [f"conv{i}" for i in range(1, 7)] + [
        "dense1", "dense2", "dense3"]
    for layer in quantized:
        q, c = layer.kernel_quantizer, layer.kernel_constraint
        assert isinstance(q, lq.quantizers.SteSign)
        if layer.name.startswith("conv"):  # the model's own: ste_sign cut at 1, clip 1
            assert q.clip_value == 1.0 and c.clip_value == 1.0
        else:
            assert q.clip_value is None and c.clip_value == 0.5


def test_a_malformed_representation_is_refused_naming_the_layer():
    with pytest.raises(ConfigError, match="binary layer 'conv1'.*kernel_quantizer"):
        binarynet(represent=lambda layer: lq.quantizers.SteSign(), filters=2, dense_units=4)


PLUGIN = textwrap.dedent("""
    import larq as lq
    import tensorflow as tf
    from zookeeper import ComponentField, component

    from experiments.optimizers import Optimizer, binary_marker
    from experiments.optimizers.schedules import Constant, Schedule


    @component
    class OutsideFlipper(Optimizer):
        \"\"\"Defined outside the suite; binary weights as under Bop, plain SGD.\"\"\"

        lr: Schedule = ComponentField(Constant, value=1e-3)

        def represent(self, layer):
            return binary_marker(layer)

        def build(self, model, steps_per_epoch, epochs):
            lr = self.lr.build(steps_per_epoch, epochs)
            return tf.keras.optimizers.legacy.SGD(lr), {"lr": lr}
""")


@pytest.mark.slow
def test_an_optimizer_outside_the_suite_loads_with_bnn_plugins(tmp_path):
    (tmp_path / "my_optimizer.py").write_text(PLUGIN)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "experiments", "show", "sec52_bop",
               "optimizer=OutsideFlipper", "optimizer.lr.value=0.5"]
    without = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert without.returncode == 2
    assert "optimizer='OutsideFlipper' is not a known component" in without.stderr
    assert "Bop2ndOrder" in without.stderr and "LatentAdam" in without.stderr
    env["BNN_PLUGINS"] = "my_optimizer"
    shown = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert "optimizer='OutsideFlipper'" in shown.stdout
    assert "optimizer.lr.value=0.5" in shown.stdout
    env["BNN_PLUGINS"] = "no_such_module"
    broken = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert broken.returncode == 2
    assert "BNN_PLUGINS: could not import 'no_such_module'" in broken.stderr


def test_every_module_of_the_optimizers_package_is_discovered():
    """Adding an optimizer is adding a file: the package imports whatever module it finds,
    so each component class in one is selectable with no registry line."""
    import inspect

    from configs import EXPERIMENTS
    from experiments import optimizers
    from experiments.engine.experiment import build

    folder = os.path.dirname(optimizers.__file__)
    files = sorted(n[:-3] for n in os.listdir(folder)
                   if n.endswith(".py")
                   and n not in ("__init__.py", "base.py", "flip_rule.py", "schedules.py"))
    assert optimizers.DISCOVERED == files
    found = []
    for name in files:
        module = sys.modules[f"experiments.optimizers.{name}"]
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Optimizer) and cls.__module__ == module.__name__ \
                    and not cls.__dict__.get("abstract", False):
                exp = build(EXPERIMENTS["sec52_bop"], {"optimizer": cls_name})
                assert type(exp.optimizer) is cls
                found.append(cls_name)
    assert {"Bop", "Bop2ndOrder", "Bop2ndOrderUnbiased", "LatentAdam", "LatentSGD",
            "LatentMomentum"} <= set(found)


@pytest.mark.slow
def test_the_readme_optimizer_file_trains_as_written(fake_cifar10, tmp_path):
    """docs/extending.md's "Add an optimizer" file, copied verbatim, loaded by BNN_PLUGINS and
    trained through the command line in a fresh process."""
    readme = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "docs",
                               "extending.md")).read()
    section = readme[readme.index("## Add an optimizer"):]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "readme_sign_sgd.py").write_text(code)
    root = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "BNN_PLUGINS": "readme_sign_sgd",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "experiments", "run", "sec52_bop", "scale=tiny",
         "optimizer=SignSGD", "optimizer.lr.value=0.05", f"data_dir={fake_cifar10[0]}",
         f"results_dir={root}", "progress=False"],
        env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (run_id,) = os.listdir(root / "sec52_bop")
    summary = json.loads((root / "sec52_bop" / run_id / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["memory"]["latent_weights"] is True
