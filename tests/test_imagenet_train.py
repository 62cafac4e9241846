"""§5.3 end to end on the 100 real JPEGs: every ImageNet config trains, top-1 and top-5
are recorded, missing data is refused first, and a run resumed from a mid-epoch step
checkpoint ends exactly where an uninterrupted one does (ImageNet and CIFAR-10)."""
import os

import numpy as np
import pytest
import tensorflow as tf

from configs import EXPERIMENTS, GROUPS
from experiments.engine import runs
from experiments.errors import DatasetError
from experiments.engine.experiment import build

# §5.3 and, beyond the paper, Bop2ndOrder's ImageNet preset
IMAGENET = sorted(m.split()[0] for m in GROUPS["imagenet"] + GROUPS["beyond_imagenet"])


def test_the_imagenet_group_is_the_paper_set():
    assert {m.split()[0] for m in GROUPS["imagenet"]} == {
        "sec53_binary_alexnet", "sec53_xnornet", "sec53_birealnet", "sec53_birealnet_arxiv_v1",
        "sec53_binary_alexnet_latent_adam", "sec53_xnornet_latent_adam",
        "sec53_birealnet_latent_adam"}


@pytest.mark.slow
@pytest.mark.parametrize("name", IMAGENET)
def test_every_imagenet_config_trains_a_step_on_real_jpegs(name, imagenet_overrides):
    # one step: 8 images, batch 8; evaluation on all 100 validation images
    exp = build(EXPERIMENTS[name], {**imagenet_overrides, "train_subset": 8})
    summary = exp.run()
    assert summary["status"] == "completed" and summary["dataset"] == "ImageNet"
    assert summary["steps_per_epoch"] == 1 and summary["val_split"] == "validation"
    (row,) = runs.read_jsonl(os.path.join(exp.run_dir(), "metrics.jsonl"))
    assert np.isfinite(row["train_loss"]) and 0 <= row["val_accuracy"] <= row["val_top5_accuracy"] <= 1
    assert summary["final_val_top5_accuracy"] == row["val_top5_accuracy"]
    # the binary layers are those the optimizer treats as binary, and they were logged
    assert set(row["flip_ratio"]) == set(summary["binary_layers"]) and summary["binary_layers"]


def test_missing_imagenet_files_are_named_before_anything_starts(tmp_path):
    exp = build(EXPERIMENTS["sec53_birealnet"], {
        "scale": "tiny", "data_dir": str(tmp_path / "tfds"), "dataset.manual_dir": str(tmp_path),
        "results_dir": str(tmp_path / "runs")})
    with pytest.raises(DatasetError, match="ILSVRC2012_img_train.tar is missing.*"
                                           "ILSVRC2012_img_val.tar is missing"):
        exp.run()
    assert not (tmp_path / "runs").exists() and not (tmp_path / "tfds").exists()


def _interrupt_after_saves(monkeypatch, n):
    """Ctrl-C right after the n-th checkpoint is written."""
    real = tf.train.CheckpointManager.save
    calls = {"n": 0}

    def save(self, *args, **kwargs):
        path = real(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(tf.train.CheckpointManager, "save", save)


@pytest.mark.slow
@pytest.mark.parametrize("dataset,name,extra", [
    ("imagenet", "sec53_birealnet", {"train_subset": 24}),  # 3 steps per epoch
    ("cifar10", "sec52_bop", {}),                           # 3 steps per epoch
])
def test_a_run_resumed_mid_epoch_ends_as_an_uninterrupted_one(
        dataset, name, extra, request, tmp_path, monkeypatch):
    base = request.getfixturevalue("imagenet_overrides" if dataset == "imagenet"
                                   else "tiny_overrides")
    config = {**base, **extra, "epochs": 2, "deterministic": True, "checkpoint_every_steps": 2}
    straight = build(EXPERIMENTS[name], {**config, "results_dir": str(tmp_path / "a")}).run()

    resumed_cfg = {**config, "results_dir": str(tmp_path / "b")}
    with monkeypatch.context() as mp:
        _interrupt_after_saves(mp, 1)  # the step-2 checkpoint: inside the first epoch
        with pytest.raises(KeyboardInterrupt):
            build(EXPERIMENTS[name], resumed_cfg).run()
    exp = build(EXPERIMENTS[name], resumed_cfg)
    interrupted = runs.read_json(os.path.join(exp.run_dir(), "summary.json"))
    assert interrupted["status"] == "interrupted" and interrupted["epochs_done"] == 0
    assert [r["step"] for r in runs.read_jsonl(os.path.join(exp.run_dir(), "flips.jsonl"))] == [1, 2]
    resumed = exp.run()

    assert resumed["state_sha256"] == straight["state_sha256"]  # weights and optimizer state
    rows = {}
    for label, run in (("a", straight), ("b", resumed)):
        folder = os.path.join(str(tmp_path / label), name, run["run_id"])
        rows[label] = [{k: v for k, v in r.items() if k not in ("epoch_time_s", "train_images_per_s")}
                       for r in runs.read_jsonl(os.path.join(folder, "metrics.jsonl"))]
        rows[label + "flips"] = runs.read_jsonl(os.path.join(folder, "flips.jsonl"))
    assert rows["a"] == rows["b"]  # loss/accuracy sums and flip ratios carried over the resume
    assert rows["aflips"] == rows["bflips"]


@pytest.mark.slow
def test_the_smoke_script_runs_a_bop2ndorder_experiment_on_the_sample(tmp_path, monkeypatch,
                                                                      capsys):
    """`make imagenet-smoke SMOKE_EXPERIMENT=...` for any ImageNet experiment: TFDS prepares
    the 100-JPEG sample offline and the tiny run completes; a CIFAR-10 name is refused."""
    from experiments.tools import imagenet_smoke
    from tests.conftest import block_network

    work = str(tmp_path / "smoke")
    assert imagenet_smoke.main(["--work", work, "--experiment", "sec52_bop"]) == 2
    assert "not an ImageNet experiment" in capsys.readouterr().err and not os.path.exists(work)
    block_network(monkeypatch)
    assert imagenet_smoke.main(["--work", work, "--experiment", "sec53_xnornet_bop2ndorder"]) == 0
    (run_id,) = os.listdir(os.path.join(work, "runs", "sec53_xnornet_bop2ndorder"))
    summary = runs.read_json(os.path.join(work, "runs", "sec53_xnornet_bop2ndorder", run_id,
                                          "summary.json"))
    assert (summary["status"], summary["scale"], summary["dataset"]) == ("completed", "tiny",
                                                                        "ImageNet")
    assert summary["memory"]["real_numbers_per_binary_weight"] == 2  # Bop2ndOrder's m and v
