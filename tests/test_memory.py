"""Optimizer memory per binary weight, counted from the slots the optimizers hold, on a
tiny model against a hand count (#12: Bop one real number, Adam three with the latent
weight)."""
import json
import os

import numpy as np
import tensorflow as tf
from zookeeper import configure

from experiments.optimizers.bop2ndorder import Bop2ndOrder
from experiments.optimizers.bop2ndorder_unbiased import Bop2ndOrderUnbiased
from experiments.engine.memory import optimizer_memory
from experiments.optimizers import Bop, LatentAdam, LatentMomentum, binary_kernels
from models.binarynet import binarynet


def _measure(component):
    configure(component, {})
    model = binarynet(represent=component.represent, filters=2, dense_units=4)
    optimizer, _ = component.build(model, steps_per_epoch=1, epochs=1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(tf.zeros((2, 32, 32, 3)), training=True))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                  model.trainable_variables))
    return optimizer_memory(optimizer, model), binary_kernels(model)


def test_bytes_per_binary_weight_match_a_hand_count():
    # conv 3x3x3x2, 3x3x2x2 (x1), 3x3x2x4 (x2), 3x3x4x4, 3x3x4x8, 3x3x8x8, dense 8*3*3=72x4, 4x4, 4x10
    hand = 54 + 36 + 72 + 144 + 288 + 576 + 72 * 4 + 16 + 40
    expected = {Bop(): (4.0, 1.0, False), LatentMomentum(): (4.0, 2.0, True),
                LatentAdam(xavier_scaling=True): (8.0, 3.0, True), Bop2ndOrder(): (8.0, 2.0, False),
                Bop2ndOrderUnbiased(): (8.0, 2.0, False)}
    for component, (state, reals, latent) in expected.items():
        memory, kernels = _measure(component)
        assert memory["binary_weights"] == hand == sum(int(np.prod(k.shape)) for k in kernels)
        assert memory["optimizer_state_bytes_per_binary_weight"] == state, type(component).__name__
        assert memory["real_numbers_per_binary_weight"] == reals, type(component).__name__
        assert memory["latent_weights"] is latent


def test_every_run_records_its_memory(fake_cifar10, tiny_overrides):
    from configs import EXPERIMENTS
    from experiments.engine.experiment import build

    summary = build(EXPERIMENTS["sec52_bop"], tiny_overrides).run()
    memory = summary["memory"]
    assert memory["real_numbers_per_binary_weight"] == 1.0 and not memory["latent_weights"]
    assert memory["peak_host_memory_bytes"] > 100 * 2 ** 20  # TensorFlow alone is more
    with open(os.path.join(build(EXPERIMENTS["sec52_bop"], tiny_overrides).run_dir(),
                           "summary.json")) as f:
        assert json.load(f)["memory"] == memory


def test_the_report_tables_the_recorded_memory(tmp_path):
    from experiments.report.tuned import memory_section
    from tests.test_report import write_run
    from experiments.analysis.collect import load_runs

    root = str(tmp_path / "runs")
    for name, optimizer, state, reals, latent in (("sec52_bop", "Bop", 4.0, 1.0, False),
                                                  ("sec52_adam", "LatentAdam", 8.0, 3.0, True)):
        path = write_run(root, name, "q", val=[0.5], config_extra={"optimizer": optimizer})
        with open(os.path.join(path, "summary.json")) as f:
            summary = json.load(f)
        summary["memory"] = {"optimizer_state_bytes_per_binary_weight": state,
                             "real_numbers_per_binary_weight": reals, "latent_weights": latent,
                             "binary_weights": 100, "peak_host_memory_bytes": 2 ** 31}
        with open(os.path.join(path, "summary.json"), "w") as f:
            json.dump(summary, f)
    lines = memory_section(load_runs(root)[0])
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("| ")}
    assert "| 4 | 1 | 1 (m) - paper | 2.00 | — (no GPU) |" in rows["Bop"]
    assert "| 8 | 3 | 3 (w̃, m, v) - paper |" in rows["LatentAdam"]
