"""ImageNet preparation and input pipelines (experiments/datasets/imagenet.py), on a tiny manual
download in the real ILSVRC-2012 layout built from 100 real JPEGs (experiments/fakes/imagenet.py)."""
import os
import shutil
import socket
import tarfile

import numpy as np
import pytest

from experiments.datasets import imagenet
from experiments.errors import DatasetError
from experiments.fakes.imagenet import (
    TRAIN_TAR,
    VAL_TAR,
    bundled_validation_labels,
    read_sample,
    tar_bytes,
    write_fake_imagenet_manual_dir,
)

import tensorflow as tf
import tensorflow_datasets as tfds
from larq_zoo.training import data as zoo_data
from tensorflow_datasets.datasets.imagenet2012 import imagenet_common

from tests.conftest import block_network as _block_network

SMALL = 32  # image size of the pipeline tests


@pytest.fixture(scope="module")
def small_manual(tmp_path_factory):
    """A fake manual dir with 3 training classes, to be copied and damaged by tests."""
    return write_fake_imagenet_manual_dir(
        str(tmp_path_factory.mktemp("small") / "manual"), n_train_classes=3
    )


def _copy_manual(small_manual, tmp_path):
    manual = tmp_path / "manual"
    shutil.copytree(small_manual["manual_dir"], manual)
    return manual


def _tar_members(path):
    with tarfile.open(path, "r:") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


# --- preparation ----------------------------------------------------------------------


@pytest.mark.slow
def test_offline_preparation_labels_match_file_names(fake_imagenet):
    builder = fake_imagenet["builder"]
    assert set(builder.info.splits.keys()) == {"train", "validation"}  # no test archive
    assert imagenet.num_examples(builder, "train") == 100
    assert imagenet.num_examples(builder, "validation") == 100
    names = builder.info.features["label"].names
    assert len(names) == imagenet.NUM_CLASSES == 1000 and names == sorted(names)

    sample = {row["filename"]: row["bytes"] for row in read_sample()}
    for split in ("train", "validation"):
        expected = fake_imagenet[split]
        seen = set()
        ds = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
        for ex in tfds.as_numpy(ds):
            file_name = ex["file_name"].decode()
            wnid = expected[file_name]
            assert names[ex["label"]] == wnid
            assert ex["label"] == fake_imagenet["class_index"][wnid]
            # TFDS stores the JPEG bytes unchanged.
            assert ex["image"] == sample[fake_imagenet["source"][file_name]]
            seen.add(file_name)
        assert seen == set(expected)
    data_dir_entries = os.listdir(fake_imagenet["data_dir"])
    assert not [p for p in data_dir_entries if p.startswith(imagenet.PREPARE_PREFIX)]


@pytest.mark.slow
def test_validation_labels_are_looked_up_by_index(fake_imagenet):
    """Plain TFDS 4.8.3 pairs sorted names with label lines, which mislabels an archive
    that lacks files; the index lookup agrees with it on the complete archive."""
    tfds_labels = imagenet_common.get_validation_labels(fake_imagenet["val_tar"])
    wrong = sum(tfds_labels[n] != w for n, w in fake_imagenet["validation"].items())
    assert wrong == 100
    assert imagenet._validation_labels_by_index(tfds_labels) == fake_imagenet["validation"]

    bundled = bundled_validation_labels()
    full = [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(50000, 0, -1)]
    as_tfds = dict(zip(sorted(full), bundled))
    assert imagenet._validation_labels_by_index(as_tfds) == as_tfds


@pytest.mark.slow
def test_prepared_dataset_reloads_without_manual_dir(fake_imagenet, monkeypatch):
    _block_network(monkeypatch)
    builder = imagenet.load_imagenet_builder(fake_imagenet["data_dir"], manual_dir="/nonexistent")
    assert imagenet.num_examples(builder, "train[:10]") == 10


def test_default_manual_dir_is_under_data_dir(tmp_path):
    with pytest.raises(DatasetError) as err:
        imagenet.load_imagenet_builder(str(tmp_path / "tfds"))
    assert str(tmp_path / "tfds" / "downloads" / "manual") in str(err.value)


def test_split_sizes_are_the_official_ones():
    assert imagenet.SPLIT_SIZES == {"train": 1281167, "validation": 50000}


# --- checks of the manual download ------------------------------------------------------


def _assert_actionable(msg, manual):
    assert TRAIN_TAR in msg and VAL_TAR in msg and str(manual) in msg
    assert "image-net.org" in msg and "IMAGENET_DIR=" in msg


def test_check_accepts_fake_manual_dir(small_manual):
    imagenet.check_manual_dir(small_manual["manual_dir"])


def _damage(manual, damage):
    """Apply ``damage`` to a copied manual dir; return the text the error must contain."""
    train, val = manual / TRAIN_TAR, manual / VAL_TAR
    if damage == "no_dir":
        shutil.rmtree(manual)
        return "does not exist"
    if damage == "missing_train":
        train.unlink()
        return f"{TRAIN_TAR} is missing"
    if damage == "empty_val":
        val.write_bytes(b"")
        return f"{VAL_TAR} is empty"
    if damage == "not_a_tar":
        train.write_bytes(b"<html>Please log in</html>" + bytes(1024 - 26 + 1024))
        return f"{TRAIN_TAR} is not a readable tar"
    if damage == "truncated_odd":
        payload = train.read_bytes()
        train.write_bytes(payload[: len(payload) // 2 + 100])
        return "512-byte tar blocks"
    if damage == "truncated_on_block":
        cut = len(val.read_bytes()) // 2 // 512 * 512
        val.write_bytes(val.read_bytes()[:cut])
        return f"{VAL_TAR} ({cut} bytes) does not end with the tar end-of-archive marker"
    if damage == "swapped":
        payload = train.read_bytes()
        train.write_bytes(val.read_bytes())
        val.write_bytes(payload)
        return "does not look like the ILSVRC-2012 training archive"
    if damage == "first_class_tar_corrupt":
        members = _tar_members(train)
        first = next(iter(members))
        members[first] = b"\x17" * 4096
        train.write_bytes(tar_bytes(members))
        return f"{TRAIN_TAR} is damaged: its first class archive {first} is not a readable tar"
    raise ValueError(damage)


@pytest.mark.parametrize(
    "damage",
    ["no_dir", "missing_train", "empty_val", "not_a_tar", "truncated_odd",
     "truncated_on_block", "swapped", "first_class_tar_corrupt"],
)
def test_check_rejects_damaged_manual_dir(small_manual, tmp_path, damage):
    manual = _copy_manual(small_manual, tmp_path)
    expected = _damage(manual, damage)
    with pytest.raises(DatasetError) as err:
        imagenet.check_manual_dir(str(manual))
    assert expected in str(err.value)
    _assert_actionable(str(err.value), manual)

    # load_imagenet_builder checks before TFDS starts: nothing is written.
    data_dir = tmp_path / "tfds"
    with pytest.raises(DatasetError):
        imagenet.load_imagenet_builder(str(data_dir), manual_dir=str(manual))
    assert not data_dir.exists() or not any(data_dir.iterdir())


@pytest.mark.parametrize("damage", ["garbage", "truncated", "no_images"])
def test_corrupt_inner_class_tar_fails_preparation_naming_it(small_manual, tmp_path, damage):
    """A damaged class tar after the first passes the cheap checks; preparation stops at
    it with a DatasetError naming it, and leaves no partial dataset behind."""
    manual = _copy_manual(small_manual, tmp_path)
    members = _tar_members(manual / TRAIN_TAR)
    victim = list(members)[1]
    if damage == "garbage":
        members[victim] = bytes(range(256)) * 40
    elif damage == "truncated":
        members[victim] = members[victim][:2000]  # inside the JPEG's data
    else:
        members[victim] = tar_bytes({})
    (manual / TRAIN_TAR).write_bytes(tar_bytes(members))
    imagenet.check_manual_dir(str(manual))

    data_dir = tmp_path / "tfds"
    with pytest.MonkeyPatch.context() as mp:
        _block_network(mp)
        with pytest.raises(DatasetError) as err:
            imagenet.load_imagenet_builder(str(data_dir), manual_dir=str(manual))
    msg = str(err.value)
    assert f"{TRAIN_TAR}: its class archive {victim}" in msg
    assert "Re-download" in msg and imagenet.OFFICIAL_TARS[TRAIN_TAR][1] in msg
    # (the preparation claim's lock file stays: empty, it marks no holder)
    left = sorted(f for f in os.listdir(data_dir) if f != ".imagenet2012.prepare.lock")
    assert left in ([], ["imagenet2012"])
    if (data_dir / "imagenet2012").exists():
        assert not list((data_dir / "imagenet2012").rglob("*.tfrecord*"))


def test_foreign_file_in_validation_archive(small_manual, tmp_path):
    manual = _copy_manual(small_manual, tmp_path)
    members = _tar_members(manual / VAL_TAR)
    members["ILSVRC2012_test_00000001.JPEG"] = next(iter(members.values()))
    (manual / VAL_TAR).write_bytes(tar_bytes(members))
    with pytest.MonkeyPatch.context() as mp:
        _block_network(mp)
        with pytest.raises(DatasetError, match=f"{VAL_TAR} holds 'ILSVRC2012_test_00000001.JPEG'"):
            imagenet.load_imagenet_builder(str(tmp_path / "tfds"), manual_dir=str(manual))


# --- preprocessing ------------------------------------------------------------------------


def _jpeg(height, width, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return tf.io.encode_jpeg(pixels, quality=95)


def test_random_crop_window_follows_the_authors_ranges():
    shape = tf.constant([375, 500, 3])
    windows = np.array(
        [imagenet.random_crop_window(shape, tf.constant([5, s])).numpy() for s in range(300)]
    )
    y, x, h, w = windows.T
    assert (y >= 0).all() and (x >= 0).all() and (y + h <= 375).all() and (x + w <= 500).all()
    area = h * w / (375 * 500)
    # area_range 0.08-1, but min_object_covered=0.1 of the whole-image box wins.
    assert area.min() >= 0.1 - 1e-3 and area.max() <= 1.0
    assert ((w / h) >= 0.74).all() and ((w / h) <= 1.35).all()
    assert len({tuple(wi) for wi in windows}) > 250
    np.testing.assert_array_equal(
        imagenet.random_crop_window(shape, tf.constant([5, 7])),
        imagenet.random_crop_window(shape, tf.constant([5, 7])),
    )


def test_train_crop_is_the_window_resized_and_maybe_flipped():
    image_bytes = _jpeg(120, 90)
    flips = set()
    for s in range(12):
        seed = tf.constant([3, s], tf.int64)
        out = imagenet.preprocess_train(image_bytes, seed, SMALL).numpy()
        again = imagenet.preprocess_train(image_bytes, seed, SMALL).numpy()
        np.testing.assert_array_equal(out, again)
        crop_seed, _ = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        window = imagenet.random_crop_window(tf.image.extract_jpeg_shape(image_bytes), crop_seed)
        crop = tf.image.decode_and_crop_jpeg(image_bytes, window, channels=3)
        expected = imagenet.normalize(
            tf.compat.v1.image.resize_bicubic([crop], [SMALL, SMALL])[0]
        ).numpy()
        matches = [f for f, ref in ((False, expected), (True, expected[:, ::-1]))
                   if np.array_equal(out, ref)]
        assert len(matches) == 1
        flips.add(matches[0])
    assert flips == {False, True}


def test_train_falls_back_to_the_center_crop():
    """No 3/4-4/3 crop covers 10 % of an 8x400 image: every try fails, centre crop."""
    image_bytes = _jpeg(8, 400)
    center = imagenet.preprocess_eval(image_bytes, SMALL).numpy()
    for s in range(6):
        out = imagenet.preprocess_train(image_bytes, tf.constant([0, s]), SMALL).numpy()
        assert np.array_equal(out, center) or np.array_equal(out, center[:, ::-1])


@pytest.mark.slow
@pytest.mark.parametrize("size", [224, 64])
def test_eval_preprocessing_equals_larq_zoo(fake_imagenet, size):
    ds = fake_imagenet["builder"].as_dataset(
        split="validation[:8]", decoders={"image": tfds.decode.SkipDecoding()}
    )
    for ex in ds:
        ours = imagenet.preprocess_eval(ex["image"], size).numpy()
        theirs = zoo_data.preprocess_image_bytes(ex["image"], is_training=False, image_size=size)
        np.testing.assert_array_equal(ours, theirs.numpy())


def test_normalize_uses_imagenet_mean_and_std():
    rgb = np.array([[0.0, 0.0, 0.0], [127.5, 127.5, 127.5], [255.0, 255.0, 255.0]])
    out = imagenet.normalize(tf.constant(rgb, tf.float32)).numpy()
    mean = np.array([0.485, 0.456, 0.406]) * 255
    std = np.array([0.229, 0.224, 0.225]) * 255
    np.testing.assert_allclose(out, (rgb - mean) / std, rtol=1e-6)
    assert out.dtype == np.float32


# --- pipelines ----------------------------------------------------------------------------


def _collect(ds):
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(images), np.concatenate(labels)


@pytest.mark.slow
def test_train_dataset_shapes_dtypes_range_and_coverage(fake_imagenet):
    builder = fake_imagenet["builder"]
    batches = list(imagenet.train_dataset(builder, "train", 16, seed=0, epoch=0, image_size=SMALL))
    assert [b[0].shape for b in batches] == [(16, SMALL, SMALL, 3)] * 6  # remainder dropped
    assert batches[0][0].dtype == tf.float32 and batches[0][1].dtype == tf.int64

    images, labels = _collect(
        imagenet.train_dataset(builder, "train", 16, 0, 0, image_size=SMALL, drop_remainder=False)
    )
    assert sorted(labels) == sorted(fake_imagenet["class_index"].values())  # each once
    assert labels.min() >= 0 and labels.max() < 1000
    pixels = images * np.array(imagenet.STDDEV_RGB) + np.array(imagenet.MEAN_RGB)
    assert np.isfinite(images).all()
    # Bicubic resizing overshoots [0, 255] a little at edges, as in the authors' code.
    assert pixels.min() > -60 and pixels.max() < 315
    assert np.mean((pixels >= -0.5) & (pixels <= 255.5)) > 0.99
    assert 60 < pixels.mean() < 190


@pytest.mark.slow
def test_train_dataset_is_a_pure_function_of_seed_and_epoch(fake_imagenet):
    builder = fake_imagenet["builder"]

    def epoch(seed, epoch):
        return _collect(imagenet.train_dataset(builder, "train", 20, seed, epoch, image_size=SMALL))

    tf.random.set_seed(1)
    x0, y0 = epoch(3, 0)
    tf.random.set_seed(2)  # the global seed must not matter
    x0b, y0b = epoch(3, 0)
    tf.random.set_seed(None)
    x1, y1 = epoch(3, 1)
    x2, y2 = epoch(4, 0)

    np.testing.assert_array_equal(x0, x0b)
    np.testing.assert_array_equal(y0, y0b)
    assert not np.array_equal(y0, y1) and not np.array_equal(y0, y2)
    # Same example, other epoch: another crop.
    first = y0[0]
    assert not np.array_equal(x0[0], x1[list(y1).index(first)])


@pytest.mark.slow
def test_shuffle_block_is_the_example_shuffle(fake_imagenet):
    builder = fake_imagenet["builder"]
    read_order = [int(ex["label"]) for ex in builder.as_dataset(split="train")]
    _, unshuffled = _collect(
        imagenet.train_dataset(builder, "train", 10, 0, 0, SMALL, shuffle_block=1)
    )
    assert list(unshuffled) == read_order  # one file, so blocks of 1 keep its order
    _, shuffled = _collect(imagenet.train_dataset(builder, "train", 10, 0, 0, SMALL))
    assert sorted(shuffled) == sorted(read_order) and list(shuffled) != read_order


@pytest.mark.slow
@pytest.mark.parametrize(
    "split", ["train", "train[:50]+train[50:]"], ids=["by_example", "by_file"]
)
def test_input_context_gives_disjoint_worker_shares(fake_imagenet, split):
    builder = fake_imagenet["builder"]
    shares = []
    for worker in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker)
        _, labels = _collect(
            imagenet.train_dataset(
                builder, split, 10, 0, 0, SMALL, input_context=context, drop_remainder=False
            )
        )
        shares.append(list(labels))
    assert sorted(shares[0] + shares[1]) == sorted(fake_imagenet["class_index"].values())
    assert 30 <= len(shares[0]) <= 70


@pytest.mark.slow
def test_eval_dataset_is_deterministic_and_in_read_order(fake_imagenet):
    builder = fake_imagenet["builder"]
    batches = list(imagenet.eval_dataset(builder, "validation", 32, image_size=SMALL))
    assert [b[0].shape[0] for b in batches] == [32, 32, 32, 4]
    images, labels = _collect(batches)
    images2, labels2 = _collect(imagenet.eval_dataset(builder, "validation", 32, image_size=SMALL))
    np.testing.assert_array_equal(images, images2)
    np.testing.assert_array_equal(labels, labels2)
    read = [int(ex["label"]) for ex in builder.as_dataset(split="validation")]
    assert list(labels) == read
    assert images.shape == (100, SMALL, SMALL, 3) and images.dtype == np.float32
