"""An optimizer defined in one file - this one - is selectable by name and trains a
model through the command line, with no edit anywhere else in the suite."""
import json
import os

import larq as lq
import tensorflow as tf
from zookeeper import ComponentField, Field, component

from experiments.cli import main
from experiments.errors import ConfigError
from experiments.optimizers import Optimizer
from experiments.schedules import Constant, Schedule


@component
class ToySignSGD(Optimizer):
    """Latent weights behind ste_sign, moved by lr * sign(gradient) (signSGD); Adam for
    the batch-norm offsets. A stand-in for "the next BNN optimizer"."""

    lr: Schedule = ComponentField(Constant, value=1e-2)
    clip: float = Field(1.0)

    def kernel_quantizer(self):
        return lq.quantizers.SteSign()

    def kernel_constraint(self):
        return lq.constraints.WeightClip(self.clip)

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
