"""Shared fixtures. Importing ``experiments`` selects Keras 2 before TensorFlow loads.
The report in this process reads the declarations themselves, never a declaration index
(``experiments.report.declarations``): a test may change a declaration in memory."""
import os

os.environ["BNN_REPORT_INDEX"] = ""

import experiments  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import pytest


@pytest.fixture(scope="session")
def fake_cifar10(tmp_path_factory):
    """A TFDS ``cifar10`` prepared offline from a tiny archive in the real binary format.

    Returns ``(data_dir, archive, md5s)``; 100 training and 20 test images.
    """
    from experiments.datasets import cifar10 as data
    from experiments.fakes.cifar10 import write_fake_cifar10_archive

    root = tmp_path_factory.mktemp("cifar10")
    (root / "archive").mkdir()
    archive, md5s = write_fake_cifar10_archive(str(root / "archive"), n_train_per_batch=20, n_test=20)
    data_dir = str(root / "tfds")
    data.load_cifar10_builder(data_dir, archive=archive, md5s=md5s)
    return data_dir, archive, md5s


@pytest.fixture
def tiny_overrides(fake_cifar10, tmp_path):
    """Overrides that make any CIFAR-10 experiment a seconds-long run on fake data."""
    data_dir, _, _ = fake_cifar10
    return {"scale": "tiny", "data_dir": data_dir, "results_dir": str(tmp_path / "runs"),
            "progress": False}


def block_network(mp):
    """Make any network access fail loudly (TFDS must prepare offline)."""
    import socket

    from tensorflow_datasets.core.download import downloader
    from tensorflow_datasets.core.utils import gcs_utils

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    mp.setattr(socket, "getaddrinfo", no_network)
    mp.setattr(socket.socket, "connect", no_network)
    mp.setattr(gcs_utils, "is_dataset_on_gcs", no_network)
    mp.setattr(downloader, "_open_url", no_network)


@pytest.fixture(scope="session")
def fake_imagenet(tmp_path_factory):
    """TFDS ``imagenet2012`` prepared offline, by TFDS's own builder, from a fake manual
    download of 100 real JPEGs (100 train, 100 validation), with the network blocked.

    Returns the manifest of `write_fake_imagenet_manual_dir` plus ``data_dir`` and ``builder``.
    """
    from experiments.datasets import imagenet
    from experiments.fakes.imagenet import write_fake_imagenet_manual_dir

    root = tmp_path_factory.mktemp("imagenet")
    fake = write_fake_imagenet_manual_dir(str(root / "manual"))
    data_dir = str(root / "tfds")
    with pytest.MonkeyPatch.context() as mp:
        block_network(mp)
        builder = imagenet.load_imagenet_builder(data_dir, manual_dir=fake["manual_dir"])
    return {**fake, "data_dir": data_dir, "builder": builder}


@pytest.fixture
def imagenet_overrides(fake_imagenet, tmp_path):
    """Overrides that make any ImageNet experiment a seconds-long run on the 100 JPEGs."""
    return {"scale": "tiny", "data_dir": fake_imagenet["data_dir"],
            "results_dir": str(tmp_path / "runs"), "progress": False}


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """``tiny_data(dataset component)``: overrides pointing at a tiny prepared copy of
    that dataset (its own ``tiny_data``), made once per dataset class and session."""
    made = {}

    def pick(dataset):
        name = type(dataset).__name__
        if name not in made:
            with pytest.MonkeyPatch.context() as mp:
                block_network(mp)
                made[name] = dataset.tiny_data(str(tmp_path_factory.mktemp(name)))
        return made[name]
    return pick


@pytest.fixture
def overrides_for(tiny_data, tmp_path):
    """``overrides_for(experiment_class)``: the tiny overrides of the class's dataset,
    whichever it is."""
    def pick(cls):
        return {"scale": "tiny", "results_dir": str(tmp_path / "runs"), "progress": False,
                **tiny_data(cls().dataset)}
    return pick
