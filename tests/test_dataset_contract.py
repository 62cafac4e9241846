"""The dataset contract, run over every dataset component the same way: the split sizes
are the declared ones, an epoch's order is a pure function of (seed, epoch), starting an
epoch at ``skip_batches`` equals skipping that many batches, batches have the declared
shape and classes, and evaluation covers its split once. Run over CIFAR-10's and
ImageNet's components (on their tiny prepared copies) and over docs/extending.md's
"Add a dataset" example, which is also trained through the command line as written."""
import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.docs_examples import REPO, block, section

EXAMPLE = "## Add a dataset"


@pytest.fixture(scope="module")
def example_module(tmp_path_factory):
    """docs/extending.md's dataset file, as written, importable as ``stripes``."""
    folder = tmp_path_factory.mktemp("plugin")
    (folder / "stripes.py").write_text(block(EXAMPLE))
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module("stripes"), folder
    finally:
        sys.path.remove(str(folder))


def _component(name, example_module):
    if name == "example":
        return example_module[0].Stripes()
    from experiments.datasets.cifar10 import Cifar10
    from experiments.datasets.imagenet import ImageNet

    return {"Cifar10": Cifar10, "ImageNet": ImageNet}[name]()


def _arrays(ds):
    images, labels = [], []
    for x, y in ds:
        images.append(np.asarray(x))
        labels.append(np.asarray(y))
    return images, labels


@pytest.mark.parametrize("name", ["Cifar10", pytest.param("ImageNet", marks=pytest.mark.slow),
                                  "example"])
def test_a_dataset_component_keeps_the_contract(name, example_module, tiny_data):
    dataset = _component(name, example_module)
    data_dir = tiny_data(dataset).get("data_dir", "")
    sizes = dataset.split_sizes(data_dir)
    prepared = dataset.prepare(data_dir)
    # sizes as declared: the prepared splits have the sizes the plan was made from
    for split in ("train", dataset.eval_split):
        assert dataset.num_examples(prepared, split) == sizes[split], split
    n = min(24, sizes["train"])
    plan = dataset.plan(data_dir, "test", n, 1)
    assert (plan.n_train, plan.n_val) == (n, sizes[dataset.eval_split])
    assert dataset.num_examples(prepared, plan.train_split) == n

    batch = 4
    first = _arrays(dataset.train_dataset(prepared, plan.train_split, batch, 3, 1))
    again = _arrays(dataset.train_dataset(prepared, plan.train_split, batch, 3, 1))
    other = _arrays(dataset.train_dataset(prepared, plan.train_split, batch, 3, 2))
    assert len(first[0]) == n // batch  # whole batches only
    for images, labels in zip(*first):
        assert images.shape == (batch, *dataset.input_shape())
        assert images.dtype == np.float32 and np.isfinite(images).all()
        assert labels.shape == (batch,) and 0 <= labels.min() and labels.max() < dataset.num_classes
    # the order (and augmentation) a pure function of (seed, epoch): the same again, and
    # another epoch another order of the same examples
    assert all(np.array_equal(a, b) for a, b in zip(first[0] + first[1], again[0] + again[1]))
    assert not all(np.array_equal(a, b) for a, b in zip(first[0], other[0]))
    assert sorted(np.concatenate(first[1])) == sorted(np.concatenate(other[1]))
    # starting at batch k is skipping k batches
    k = 2
    skipped = _arrays(dataset.train_dataset(prepared, plan.train_split, batch, 3, 1,
                                            skip_batches=k))
    assert len(skipped[0]) == len(first[0]) - k
    assert all(np.array_equal(a, b) for a, b in zip(first[0][k:] + first[1][k:],
                                                    skipped[0] + skipped[1]))
    # evaluation: every example of the split once, in a fixed order
    images, labels = _arrays(dataset.eval_dataset(prepared, dataset.eval_split, 7))
    assert sum(len(y) for y in labels) == sizes[dataset.eval_split]
    assert all(np.array_equal(a, b) for a, b in zip(
        labels, _arrays(dataset.eval_dataset(prepared, dataset.eval_split, 7))[1]))


def test_the_example_dataset_is_listed_and_selectable(example_module, capsys, monkeypatch):
    from configs import EXPERIMENTS
    from experiments.cli import main
    from experiments.engine.experiment import build

    monkeypatch.setenv("BNN_PLUGINS", "stripes")
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    datasets = listed.split("Datasets")[1].split("Optimizers")[0]
    assert "Stripes " in datasets and "Cifar10 " in datasets and "ImageNet " in datasets
    assert "BinaryNet " in listed.split("Models")[1] and "Bop " in listed.split("Optimizers")[1]
    exp = build(EXPERIMENTS["sec52_bop"], {"dataset": "Stripes"})
    assert type(exp.dataset).__name__ == "Stripes" and exp.dataset.num_classes == 2


@pytest.mark.slow
def test_the_example_dataset_trains_through_the_command_line_as_written(example_module,
                                                                        tmp_path):
    """docs/extending.md's command, at tiny scale in a fresh process: the run records its
    dataset, and the plug-in's path and hash, and is marked as not from a clean commit."""
    folder = example_module[1]
    line = next(x for x in block(EXAMPLE, "bash").splitlines() if x.startswith("bnn run"))
    root = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(folder), "BNN_PLUGINS": "stripes",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        # at the tiny scale: the page's length and subset left to the tiny preset
        [sys.executable, "-m", "experiments",
         *[a for a in line.split()[1:] if not a.startswith(("epochs=", "train_subset="))],
         "scale=tiny",
         f"results_dir={root}", "progress=False"],
        env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    (experiment,) = os.listdir(root)
    (run_id,) = os.listdir(root / experiment)
    summary = json.loads((root / experiment / run_id / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["dataset"] == "Stripes"
    assert summary["git"]["dirty"] is True
    (plugin,) = summary["git"]["plugins"]
    assert plugin["module"] == "stripes" and len(plugin["sha256"]) == 64
    assert "bnn list" in section(EXAMPLE)  # the page says how to see it listed
