"""CIFAR-10 preparation and input pipelines (experiments/datasets/cifar10.py), on a tiny fake archive."""
import hashlib
import io
import socket
import tarfile
import time

import numpy as np
import pytest

from experiments.datasets import cifar10 as data
from experiments.errors import DatasetError
from experiments.fakes.cifar10 import CLASS_NAMES, fake_cifar10_records, write_fake_cifar10_archive

import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.core.download import downloader
from tensorflow_datasets.core.utils import gcs_utils


def _no_network(*args, **kwargs):
    raise AssertionError("network access attempted")


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    """A fake archive, prepared once into a data_dir with every network route blocked."""
    root = tmp_path_factory.mktemp("cifar")
    archive, md5s = write_fake_cifar10_archive(str(root))
    data_dir = str(root / "tfds")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket, "getaddrinfo", _no_network)
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(gcs_utils, "is_dataset_on_gcs", _no_network)
        mp.setattr(downloader, "_open_url", _no_network)
        mp.setattr(data.requests, "head", _no_network)
        builder = data.load_cifar10_builder(data_dir, archive=archive, md5s=md5s)
    return {"root": root, "archive": archive, "md5s": md5s, "data_dir": data_dir, "builder": builder}


def _members(archive):
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def _write_tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return str(path)


# --- preparation ------------------------------------------------------------------------


def test_offline_preparation_roundtrips_labels_and_pixels(fake):
    builder = fake["builder"]
    assert builder.info.splits["train"].num_examples == 100
    assert builder.info.splits["test"].num_examples == 20
    assert builder.info.features["label"].names == CLASS_NAMES

    raw = _members(fake["archive"])
    # TFDS ids number the records across data_batch_1..5 in order.
    by_id = {
        ex["id"].decode(): (ex["image"], ex["label"])
        for ex in tfds.as_numpy(builder.as_dataset(split="train"))
    }
    for batch in (1, 5):
        records = np.frombuffer(raw[f"cifar-10-batches-bin/data_batch_{batch}.bin"], np.uint8)
        records = records.reshape(20, 1 + 3072)
        for j in (0, 7, 19):
            image, label = by_id[f"train_{20 * (batch - 1) + j:05d}"]
            assert label == records[j, 0] == j % 10
            # Byte 1 + c*1024 + r*32 + x of a record is pixel (r, x) of colour plane c.
            r, x, c = np.meshgrid(np.arange(32), np.arange(32), np.arange(3), indexing="ij")
            np.testing.assert_array_equal(image, records[j, 1 + c * 1024 + r * 32 + x])

    expected_test = fake_cifar10_records()["test_batch.bin"]
    test_by_id = {
        ex["id"].decode(): ex["image"] for ex in tfds.as_numpy(builder.as_dataset(split="test"))
    }
    np.testing.assert_array_equal(test_by_id["test_00003"], expected_test[0][3])


def test_prepared_dataset_reloads_without_archive_or_network(fake, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    monkeypatch.setattr(data.requests, "head", _no_network)
    builder = data.load_cifar10_builder(fake["data_dir"])
    assert data.num_examples(builder, "train") == 100
    # An archive argument is ignored (not even opened) once the data are prepared.
    builder = data.load_cifar10_builder(fake["data_dir"], archive="/nonexistent.tar.gz")
    assert data.num_examples(builder, "test") == 20


def test_archive_with_another_name_is_used_via_symlink(fake, tmp_path):
    renamed = tmp_path / "my-copy.tgz"
    renamed.write_bytes(open(fake["archive"], "rb").read())
    builder = data.load_cifar10_builder(str(tmp_path / "tfds"), archive=str(renamed), md5s=fake["md5s"])
    assert data.num_examples(builder, "train") == 100


# --- verification -----------------------------------------------------------------------


def test_verify_accepts_matching_archive(fake):
    data.verify_cifar10_archive(fake["archive"], fake["md5s"])


def test_verify_names_tampered_file_and_both_md5s(fake, tmp_path):
    members = _members(fake["archive"])
    name = "cifar-10-batches-bin/data_batch_3.bin"
    tampered = bytearray(members[name])
    tampered[100] ^= 0xFF
    members[name] = bytes(tampered)
    archive = _write_tar(tmp_path / "cifar-10-binary.tar.gz", members)

    with pytest.raises(DatasetError) as err:
        data.load_cifar10_builder(str(tmp_path / "tfds"), archive=archive, md5s=fake["md5s"])
    msg = str(err.value)
    assert "data_batch_3.bin" in msg and fake["md5s"]["data_batch_3.bin"] in msg
    assert hashlib.md5(bytes(tampered)).hexdigest() in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz" in msg
    assert not (tmp_path / "tfds" / "cifar10").exists()


def test_fake_archive_fails_the_official_md5s(fake):
    with pytest.raises(DatasetError, match="data_batch_1.bin.*5dd7e06a14cb22eb9f671a540d1b7c25"):
        data.verify_cifar10_archive(fake["archive"])


def test_verify_rejects_missing_member(fake, tmp_path):
    members = _members(fake["archive"])
    del members["cifar-10-batches-bin/test_batch.bin"]
    archive = _write_tar(tmp_path / "a.tar.gz", members)
    with pytest.raises(DatasetError, match="test_batch.bin"):
        data.verify_cifar10_archive(archive, fake["md5s"])


def test_verify_rejects_wrong_layout(fake, tmp_path):
    members = {
        name.replace("cifar-10-batches-bin/", "other/"): payload
        for name, payload in _members(fake["archive"]).items()
    }
    archive = _write_tar(tmp_path / "a.tar.gz", members)
    with pytest.raises(DatasetError, match="cifar-10-batches-bin"):
        data.verify_cifar10_archive(archive, fake["md5s"])


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_verify_rejects_unreadable_archive(fake, tmp_path, damage):
    payload = open(fake["archive"], "rb").read()
    payload = payload[: len(payload) // 2] if damage == "truncated" else b"not a tar.gz" * 100
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(payload)
    with pytest.raises(DatasetError, match="not a readable tar.gz.*Re-download"):
        data.verify_cifar10_archive(str(archive), fake["md5s"])


def test_nonexistent_archive(tmp_path):
    with pytest.raises(DatasetError, match="does not exist.*CIFAR10_ARCHIVE"):
        data.load_cifar10_builder(str(tmp_path / "tfds"), archive=str(tmp_path / "nope.tar.gz"))


# --- no data, no network ----------------------------------------------------------------


@pytest.fixture
def dead_proxy(monkeypatch):
    """All HTTP(S) goes through a closed local port: offline, fast, on any machine."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)


def _assert_names_both_ways(msg):
    assert "CIFAR10_ARCHIVE" in msg and "dataset.archive" in msg
    assert "internet" in msg and "download" in msg.lower()


def test_unprepared_without_archive_fails_fast_naming_both_ways(tmp_path, dead_proxy):
    start = time.monotonic()
    with pytest.raises(DatasetError) as err:
        data.load_cifar10_builder(str(tmp_path / "tfds"))
    assert time.monotonic() - start < 20
    _assert_names_both_ways(str(err.value))


def test_failed_tfds_download_becomes_dataset_error(tmp_path, dead_proxy, monkeypatch):
    """Past the reachability probe, a TFDS download failure is also a DatasetError."""

    class _Ok:
        def raise_for_status(self):
            pass

    monkeypatch.setattr(data.requests, "head", lambda *a, **k: _Ok())
    monkeypatch.setattr(downloader, "MAX_RETRIES", 0)  # TFDS would back off for minutes
    with pytest.raises(DatasetError) as err:
        data.load_cifar10_builder(str(tmp_path / "tfds"))
    _assert_names_both_ways(str(err.value))


# --- pipelines --------------------------------------------------------------------------


def _collect(ds):
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(images), np.concatenate(labels)


def test_train_dataset_is_a_pure_function_of_seed_and_epoch(fake):
    builder = fake["builder"]
    tf.random.set_seed(1)
    x0, y0 = _collect(data.train_dataset(builder, "train", 16, seed=3, epoch=0))
    tf.random.set_seed(2)  # the global seed must not matter
    x0b, y0b = _collect(data.train_dataset(builder, "train", 16, seed=3, epoch=0))
    x1, y1 = _collect(data.train_dataset(builder, "train", 16, seed=3, epoch=1))
    x2, _ = _collect(data.train_dataset(builder, "train", 16, seed=4, epoch=0))
    tf.random.set_seed(None)  # leave no global seed behind for other tests

    np.testing.assert_array_equal(x0, x0b)
    np.testing.assert_array_equal(y0, y0b)
    assert not np.array_equal(x0, x1) and not np.array_equal(y0, y1)
    assert not np.array_equal(x0, x2)
    assert x0.shape == (96, 32, 32, 3) and x0.dtype == np.float32 and y0.dtype == np.int64
    assert x0.min() >= -1.0 and x0.max() <= 1.0
    assert x0.min() == -1.0  # zero padding shows up as black pixels


def test_train_dataset_batches_and_covers_the_split(fake):
    builder = fake["builder"]
    batches = list(data.train_dataset(builder, "train", 16, seed=0, epoch=0))
    assert [b[0].shape[0] for b in batches] == [16] * 6
    _, labels = _collect(data.train_dataset(builder, "train", 16, 0, 0, drop_remainder=False))
    assert np.bincount(labels).tolist() == [10] * 10  # every example exactly once


def test_augment_is_pad_crop_and_flip():
    image = tf.constant(np.random.default_rng(0).integers(1, 256, (32, 32, 3)), tf.uint8)
    padded = np.pad(image.numpy(), [(4, 4), (4, 4), (0, 0)])
    seen = set()
    for s in range(40):
        seed = tf.constant([7, s], tf.int64)
        out = data.augment(image, seed).numpy()
        np.testing.assert_array_equal(out, data.augment(image, seed).numpy())
        assert out.shape == (32, 32, 3) and out.dtype == np.uint8
        crops = {(dy, dx): padded[dy : dy + 32, dx : dx + 32] for dy in range(9) for dx in range(9)}
        matches = [
            (dy, dx, flip)
            for (dy, dx), crop in crops.items()
            for flip in (False, True)
            if np.array_equal(out, crop[:, ::-1] if flip else crop)
        ]
        assert len(matches) == 1, matches
        seen.add(matches[0])
    assert {m[2] for m in seen} == {False, True}
    assert len({m[:2] for m in seen}) > 10


def test_normalize_range():
    out = data.normalize(tf.constant([0, 255, 127], tf.uint8)).numpy()
    np.testing.assert_allclose(out, [-1.0, 1.0, 127 / 127.5 - 1], atol=1e-7)
    assert out.dtype == np.float32


def test_eval_dataset_is_unaugmented_in_order(fake):
    builder = fake["builder"]
    batches = list(data.eval_dataset(builder, "test", 8))
    assert [b[0].shape[0] for b in batches] == [8, 8, 4]
    images, labels = _collect(batches)
    ref_images, ref_labels = tfds.as_numpy(builder.as_dataset(split="test", batch_size=-1, as_supervised=True))
    np.testing.assert_allclose(images, ref_images.astype(np.float32) / 127.5 - 1, atol=1e-6)
    np.testing.assert_array_equal(labels, ref_labels)


# --- splits -----------------------------------------------------------------------------


def test_cifar10_splits():
    assert data.cifar10_splits() == ("train", "test")
    assert data.cifar10_splits("test", train_subset=1000) == ("train[:1000]", "test")
    assert data.cifar10_splits("holdout") == ("train[:-5000]", "train[-5000:]")
    assert data.cifar10_splits("holdout", train_subset=1000, holdout=2000) == ("train[:1000]", "train[-2000:]")
    for bad in [
        dict(validation="val"),
        dict(train_subset=0),
        dict(train_subset=50001),
        dict(validation="holdout", holdout=0),
        dict(validation="holdout", holdout=50000),
        dict(validation="holdout", holdout=5000, train_subset=45001),
    ]:
        with pytest.raises(DatasetError):
            data.cifar10_splits(**bad)


def test_holdout_splits_are_disjoint_slices(fake):
    builder = fake["builder"]
    train, val = data.cifar10_splits("holdout", holdout=10)
    assert data.num_examples(builder, train) == 90 and data.num_examples(builder, val) == 10
    assert data.num_examples(builder, "train[:7]") == 7

    def ids(split):
        return {ex["id"] for ex in tfds.as_numpy(builder.as_dataset(split=split))}

    assert ids(train).isdisjoint(ids(val)) and len(ids(train) | ids(val)) == 100
