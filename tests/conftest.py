"""Shared fixtures. Importing ``experiments`` selects Keras 2 before TensorFlow loads."""

import experiments  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import pytest


@pytest.fixture(scope="session")
def fake_cifar10(tmp_path_factory):
    """A TFDS ``cifar10`` prepared offline from a tiny archive in the real binary format.

    Returns ``(data_dir, archive, md5s)``; 100 training and 20 test images.
    """
    from experiments import data
    from tests.fake_cifar10 import write_fake_cifar10_archive

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
