"""CIFAR-10 (§5.1, §5.2): the dataset component, its preparation (online or offline) and
its input pipelines.

The data come from the TFDS ``cifar10`` builder, so the examples, their order in the
prepared files and the ``train[:N]`` slices are the ones every TFDS user gets.
Compute clusters often have no internet, so the builder can also be prepared from a
local copy of the official ``cifar-10-binary.tar.gz``; its six ``.bin`` files are
checked against the official md5s first, so a corrupt or different copy stops the run
before any training time is spent.

Preprocessing follows the paper (§5.2) and the authors' code: pixels are scaled to
[-1, 1]; training images are zero-padded by 4 pixels on each side, randomly cropped
back to 32x32 and randomly flipped left-right. All randomness here is stateless, so an
epoch's order and augmentation depend only on ``(seed, epoch)`` -- not on the global
TensorFlow seed, on earlier epochs or on how many epochs ran before a resume.
"""
import hashlib
import os
import posixpath
import tarfile
import tempfile
import zlib

import requests
import tensorflow as tf
import tensorflow_datasets as tfds
from zookeeper import Field, component

from experiments.datasets.base import Dataset, is_prepared, num_examples, plan_splits  # noqa: F401
from experiments.errors import ConfigError, DatasetError
from experiments.locks import preparing

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
# The file name TFDS looks for in `manual_dir` (from its registered url_checksums).
_ARCHIVE_NAME = "cifar-10-binary.tar.gz"
_TOP_DIR = "cifar-10-batches-bin"
OFFICIAL_SIZES = {"train": 50000, "test": 10000}
_TRAIN_SIZE = OFFICIAL_SIZES["train"]
_TMP_PREFIX = ".cifar10_prepare_"

# Official md5s of the extracted .bin files (e.g. pytorch-cpp's cmake/fetch_cifar10.cmake).
CIFAR10_BIN_MD5: dict[str, str] = {
    "data_batch_1.bin": "5dd7e06a14cb22eb9f671a540d1b7c25",
    "data_batch_2.bin": "5ea93a67294ea407fff1d09f752e9692",
    "data_batch_3.bin": "942cd6a4bcdd0dd3c604fbe906cb4421",
    "data_batch_4.bin": "ae636b3ba5c66a11e91e8cb52e771fcb",
    "data_batch_5.bin": "53f37980c15c3d472c316c40844f3f0d",
    "test_batch.bin": "803d5f7f4d78ea53de84dbe85f74fb6d",
}

_REDOWNLOAD = f"Re-download it from {CIFAR10_URL}."
_HOW_TO_GET = (
    "Either (1) run once on a machine with internet access, where TFDS downloads "
    "CIFAR-10 into the data directory (copy that directory to this machine afterwards), "
    "or (2) point the suite at a local copy of the archive: "
    "`make cifar10 CIFAR10_ARCHIVE=/path/to/cifar-10-binary.tar.gz` "
    f"(config key `dataset.archive=...`). The archive is at {CIFAR10_URL}."
)


def verify_cifar10_archive(archive: str, md5s: dict = CIFAR10_BIN_MD5) -> None:
    """Check the md5 of every ``.bin`` member of a CIFAR-10 binary archive.

    The tar.gz is read sequentially (nothing is written to disk); ``r:gz`` rather
    than the ``r|gz`` stream mode because only the former reports a truncated file. TFDS does not check a
    manually supplied archive, so this is what guarantees that an offline run trains
    on the real CIFAR-10. Raises DatasetError on a wrong md5, a missing member, a
    member outside ``cifar-10-batches-bin/`` (TFDS would not find it) or an archive
    that is not a readable tar.gz.
    """
    found: dict[str, str] = {}
    has_meta = False
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                name = posixpath.normpath(member.name)
                base = posixpath.basename(name)
                if not member.isfile():
                    continue
                if base == "batches.meta.txt":
                    has_meta = True
                if base not in md5s:
                    continue
                if name != f"{_TOP_DIR}/{base}":
                    raise DatasetError(
                        f"CIFAR-10 archive {archive}: {base} is at {member.name}, "
                        f"expected {_TOP_DIR}/{base}. This is not the official "
                        f"layout. {_REDOWNLOAD}"
                    )
                digest = hashlib.md5()
                fileobj = tar.extractfile(member)
                for chunk in iter(lambda: fileobj.read(1 << 20), b""):
                    digest.update(chunk)
                found[base] = digest.hexdigest()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DatasetError(
            f"CIFAR-10 archive {archive} is not a readable tar.gz (corrupt or "
            f"truncated?): {e}. {_REDOWNLOAD}"
        ) from e

    for base, expected in md5s.items():
        if base not in found:
            raise DatasetError(
                f"CIFAR-10 archive {archive} has no member {_TOP_DIR}/{base}. "
                f"{_REDOWNLOAD}"
            )
        if found[base] != expected:
            raise DatasetError(
                f"CIFAR-10 archive {archive}: {base} has md5 {found[base]}, expected "
                f"{expected}. The archive is corrupt or not the official one. "
                f"{_REDOWNLOAD}"
            )
    if not has_meta:
        raise DatasetError(
            f"CIFAR-10 archive {archive} has no {_TOP_DIR}/batches.meta.txt (the "
            f"class names, which TFDS reads). {_REDOWNLOAD}"
        )


def archive_problem(archive: str) -> str | None:
    """What makes ``archive`` unusable as the CIFAR-10 archive path (None: nothing)."""
    if os.path.isdir(archive):
        inside = os.path.join(archive, _ARCHIVE_NAME)
        hint = f"; it holds one: {inside}" if os.path.isfile(inside) else ""
        return f"{archive} is a directory; give the path of the file {_ARCHIVE_NAME} itself{hint}"
    if not os.path.isfile(archive):
        return f"{archive} does not exist"
    return None


def load_cifar10_builder(
    data_dir: str, archive: str | None = None, md5s: dict = CIFAR10_BIN_MD5
) -> tfds.core.DatasetBuilder:
    """Return a prepared TFDS ``cifar10`` builder in ``data_dir``.

    Already prepared: returned as is (no network, archive ignored). With ``archive``:
    verified, then prepared offline. Otherwise TFDS downloads the official archive
    (it checks the archive's registered sha256 itself).

    Preparation holds a claim on ``data_dir`` (``experiments.locks``): a second process
    that needs the same new dataset waits for the first and then uses its result, rather
    than racing it. Temporary folders of a preparation that was killed are removed first.
    """
    builder = tfds.builder("cifar10", data_dir=data_dir)
    if is_prepared(builder):
        return builder
    stale = (os.path.join(data_dir, _TMP_PREFIX + "*"), str(builder.data_path) + ".incomplete*")
    with preparing(data_dir, "cifar10", stale):
        builder = tfds.builder("cifar10", data_dir=data_dir)
        if is_prepared(builder):  # the other process finished it meanwhile
            return builder
        if archive is not None:
            problem = archive_problem(archive)
            if problem:
                raise DatasetError(f"CIFAR-10 archive {problem}. {_HOW_TO_GET}")
            verify_cifar10_archive(archive, md5s)
            _prepare_offline(builder, archive, data_dir)
        else:
            _prepare_online(builder)
        return builder


def _prepare_offline(builder: tfds.core.DatasetBuilder, archive: str, data_dir: str) -> None:
    """Prepare from a local archive without any network access.

    TFDS 4.8's download manager looks in ``manual_dir`` for a file with the name it
    registered for the URL (``cifar-10-binary.tar.gz``); when found it uses it and
    computes no checksum. Before that, ``download_and_prepare`` asks GCS whether a
    prepared copy exists unless ``try_download_gcs=False`` -- without network that
    check can hang, so it is switched off. Downloads/extraction go to a temporary
    directory, so ``data_dir`` only receives the prepared dataset.
    """
    # Inside data_dir (not /tmp): a killed preparation's 180 MB are found and removed by
    # the next start, and no other file system needs the space.
    with tempfile.TemporaryDirectory(prefix=_TMP_PREFIX, dir=data_dir) as tmp:
        manual_dir = os.path.join(tmp, "manual")
        os.mkdir(manual_dir)
        os.symlink(os.path.abspath(archive), os.path.join(manual_dir, _ARCHIVE_NAME))
        config = tfds.download.DownloadConfig(
            manual_dir=manual_dir, try_download_gcs=False
        )
        try:
            builder.download_and_prepare(
                download_dir=os.path.join(tmp, "downloads"), download_config=config
            )
        except Exception as e:  # noqa: BLE001 -- any failure here means "unusable archive"
            raise DatasetError(
                f"Could not prepare CIFAR-10 from {archive}: {type(e).__name__}: {e}"
            ) from e


def _prepare_online(builder: tfds.core.DatasetBuilder, timeout_s: float = 10.0) -> None:
    """Let TFDS download and prepare CIFAR-10, failing fast without network.

    TFDS's downloader retries a failed connection with back-off for minutes (3.5 min
    here without DNS), so the URL is probed once first (through the same `requests`
    library and proxy settings). Preparation is from the official archive, never from
    TFDS's GCS copy, so online and offline runs build the dataset the same way.
    """
    try:
        requests.head(CIFAR10_URL, timeout=timeout_s, allow_redirects=True).raise_for_status()
    except requests.RequestException as e:
        raise DatasetError(
            f"CIFAR-10 is not prepared in {builder.data_dir} and {CIFAR10_URL} cannot be "
            f"reached ({type(e).__name__}). {_HOW_TO_GET}"
        ) from e
    try:
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(try_download_gcs=False)
        )
    except Exception as e:  # noqa: BLE001
        raise DatasetError(
            f"Downloading/preparing CIFAR-10 in {builder.data_dir} failed "
            f"({type(e).__name__}: {e}). {_HOW_TO_GET}"
        ) from e


def cifar10_splits(
    validation: str = "test", train_subset: int | None = None, holdout: int = 5000,
    n_all: int = _TRAIN_SIZE,
) -> tuple[str, str]:
    """The (train, validation) TFDS split strings of CIFAR-10 with ``n_all`` training
    images: ``experiments.datasets.plan_splits`` (what runs use), as a ``DatasetError``
    for values the splits cannot provide."""
    if validation not in ("test", "holdout"):
        raise DatasetError(f"validation must be 'test' or 'holdout', got {validation!r}")
    try:
        plan = plan_splits({**OFFICIAL_SIZES, "train": n_all}, "test", validation,
                           train_subset, holdout)
    except ConfigError as e:
        raise DatasetError(str(e)) from None
    return plan.train_split, plan.val_split


def normalize(image):
    """uint8 HWC -> float32 in [-1, 1] (image / 127.5 - 1, as in the authors' code)."""
    return tf.cast(image, tf.float32) / 127.5 - 1.0


def augment(image, seed, padding: int = 4):
    """Paper §5.2 augmentation of one uint8 32x32x3 image, a pure function of ``seed``.

    Zero-pad 4 px on each side (40x40; black, i.e. -1 after `normalize`, as in the
    authors' code), take a random 32x32 crop, flip left-right with probability 1/2.
    ``seed`` is a shape-[2] integer tensor; crop and flip use independent sub-seeds.
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
    image = tf.image.stateless_random_crop(image, [32, 32, 3], seed=crop_seed)
    return tf.image.stateless_random_flip_left_right(image, seed=flip_seed)


# (data_dir, split) -> (uint8 images [N,32,32,3], int64 labels [N]), decoded once.
_DECODED: dict[tuple[str, str], tuple[tf.Tensor, tf.Tensor]] = {}


def _decoded(builder, split: str) -> tuple[tf.Tensor, tf.Tensor]:
    """The split's decoded images and labels, kept in memory (150 MB for train).

    Decoding the stored PNGs every epoch would dominate the epoch time on CPU. The
    arrays are kept (rather than a ``Dataset.cache()``) because the stateless
    per-epoch permutation needs random access; ``Dataset.shuffle(seed=...)`` would
    also depend on the global TF seed.
    """
    key = (str(builder.data_dir), split)
    if key not in _DECODED:
        try:
            images, labels = builder.as_dataset(split=split, batch_size=-1, as_supervised=True)
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError,
                tf.errors.FailedPreconditionError) as e:
            raise DatasetError(
                f"The prepared CIFAR-10 in {builder.data_path} is damaged ({type(e).__name__}: "
                f"{str(e).splitlines()[0]}), e.g. a file cut short by a full disk. Delete "
                f"{builder.data_path} and run again: it is prepared anew (offline with "
                "dataset.archive=...).") from None
        _DECODED[key] = (images, labels)
    return _DECODED[key]


def train_dataset(
    builder, split: str, batch_size: int, seed: int, epoch: int, drop_remainder: bool = True,
    skip_examples: int = 0, input_context: tf.distribute.InputContext | None = None,
    padding: int = 4,
) -> tf.data.Dataset:
    """One epoch of augmented (images float32 in [-1, 1], labels int64) batches.

    The whole split is permuted with the stateless seed ``[seed*1000003 + epoch, -1]``
    and example i of the epoch is augmented with ``[seed*1000003 + epoch, i]``, so an
    epoch is reproducible on its own, e.g. after resuming from a checkpoint.
    ``skip_examples`` starts the epoch that far in (a mid-epoch checkpoint): the same
    examples with the same augmentation as the rest of an uninterrupted epoch.

    ``batch_size`` is the global batch. With an ``input_context`` (one pipeline per
    worker, ``distribute_datasets_from_function``) pipeline k of N takes every N-th
    example of the epoch's order and batches per replica, so the replicas of all workers
    together see exactly the examples of the one-replica global batch, each with the
    same augmentation.
    """
    images, labels = _decoded(builder, split)
    epoch_seed = tf.constant(seed * 1000003 + epoch, tf.int64)
    order = tf.random.experimental.stateless_shuffle(
        tf.range(tf.shape(images, out_type=tf.int64)[0]),
        seed=tf.stack([epoch_seed, tf.constant(-1, tf.int64)]),
    )
    ds = tf.data.Dataset.from_tensor_slices((tf.gather(images, order), tf.gather(labels, order)))

    def prepare(index, example):
        image, label = example
        return normalize(augment(image, tf.stack([epoch_seed, index]), padding)), label

    ds = ds.enumerate().skip(skip_examples)
    ds, batch_size = _per_pipeline(ds, batch_size, input_context)
    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def _per_pipeline(ds, global_batch: int, input_context):
    """This input pipeline's share of the examples, and its (per-replica) batch size."""
    if input_context is None:
        return ds, global_batch
    if input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    return ds, input_context.get_per_replica_batch_size(global_batch)


def eval_dataset(builder, split: str, batch_size: int,
                 input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """Unaugmented, normalised batches in the stored order; the last batch may be short.
    With an ``input_context``, this pipeline's share (every N-th example), per replica."""
    images, labels = _decoded(builder, split)
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    ds, batch_size = _per_pipeline(ds, batch_size, input_context)
    ds = ds.map(lambda x, y: (normalize(x), y), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


@component
class Cifar10(Dataset):
    """CIFAR-10 through TFDS ``cifar10``: 32x32x3, 10 classes, 50,000 / 10,000 images.
    Downloaded by TFDS, or prepared offline from ``archive`` (a copy of the official
    ``cifar-10-binary.tar.gz``, checked against its md5s first)."""

    tfds_name = "cifar10"
    eval_split = "test"
    num_classes = 10
    official_sizes = OFFICIAL_SIZES
    label = "CIFAR-10"
    top5 = True  # recorded in every run, though the paper (and the tables) give top-1 only
    # archive: where the raw data are (left out of the run id); it was the experiment's
    # `cifar10_archive` before datasets held their own sources.
    source_fields = {"archive": "cifar10_archive"}
    # Runs made before the `dataset` field and this padding field existed trained on
    # CIFAR-10 with 4 px: their run ids leave both out.
    neutral_defaults = {"augment_padding": 4}
    neutral_choice = True

    # Offline: the path of cifar-10-binary.tar.gz ("" = let TFDS download it).
    archive: str = Field("")
    # Training augmentation: zero-pad this many pixels on each side, then a random 32x32
    # crop and a random flip (paper §5.2 and the authors' code: 4).
    augment_padding: int = Field(4)

    def check(self) -> None:
        if not 0 <= self.augment_padding <= 16:
            raise ConfigError(f"dataset.augment_padding must be in 0..16 (paper: 4), got "
                              f"{self.augment_padding}")
        problem = self.archive and archive_problem(os.path.expanduser(self.archive))
        if problem:
            hint = ("" if "directory" in problem else "; give the path of cifar-10-binary.tar.gz, "
                    "or leave it empty to let TFDS download CIFAR-10")
            raise ConfigError(f"dataset.archive: {problem}{hint}")

    def input_shape(self) -> tuple:
        return (32, 32, 3)

    def prepare(self, data_dir: str):
        archive = os.path.expanduser(self.archive) if self.archive else None
        return load_cifar10_builder(data_dir, archive=archive)

    def train_dataset(self, builder, split, batch_size, seed, epoch, *, skip_batches=0,
                      input_context=None):
        return train_dataset(builder, split, batch_size, seed, epoch,
                             skip_examples=skip_batches * batch_size,
                             input_context=input_context, padding=self.augment_padding)

    def eval_dataset(self, builder, split, batch_size, *, input_context=None):
        return eval_dataset(builder, split, batch_size, input_context=input_context)

    def tiny_data(self, root: str) -> dict:
        from experiments.fakes.cifar10 import write_fake_cifar10_archive

        archive, md5s = write_fake_cifar10_archive(os.path.join(root, "archive"))
        data_dir = os.path.join(root, "tfds")
        load_cifar10_builder(data_dir, archive=archive, md5s=md5s)
        return {"data_dir": data_dir}
