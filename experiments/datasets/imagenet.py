"""ImageNet (ILSVRC-2012, §5.3): the dataset component, its offline preparation and its
input pipelines.

The data come from the TFDS ``imagenet2012`` builder (version 5.1.0), prepared from the two
archives of the manual download (``ILSVRC2012_img_train.tar``, ``ILSVRC2012_img_val.tar``);
ImageNet cannot be downloaded automatically. Before TFDS spends hours on a 138 GiB archive,
`check_manual_dir` rejects a missing, empty, truncated or swapped archive from a few reads
at its start and end; during preparation every per-class tar is checked as TFDS reads it,
and a failure names the archive, the member and the fix.

Preprocessing is the authors' (paper §5.3; their ``bnn_optimization/data/imagenet.py``, the
same code as larq-zoo's ``larq_zoo/training/data.py``, both adapted from the TPU
EfficientNet preprocessing). Training: random resized crop (area 0.08-1 of the image, 0.1-1
in effect, see `random_crop_window`; aspect ratio 3/4-4/3; at most 10 tries; centre-crop
fallback), bicubic resize, random left-right flip. Evaluation: centre crop of
``size / (size + 32)`` of the shorter side, bicubic resize. Both are normalised by the
ImageNet mean and standard deviation. Their training randomness is stateful; here it is
stateless and keyed on ``(seed, epoch, position in the epoch)``, and the epoch's example
order depends only on ``(seed, epoch)``, so a run resumed at an epoch boundary sees the
same data as an uninterrupted one.

The pipelines stream from TFDS's record files (JPEG bytes are decoded, cropped and
resized in parallel per example); nothing holds a split in memory.
"""
import hashlib
import io
import logging
import os
import re
import shutil
import tarfile
import tempfile

import tensorflow as tf
import tensorflow_datasets as tfds
from larq_zoo.training import data as zoo_data
from zookeeper import Field, component

from experiments.datasets.base import Dataset, is_prepared, num_examples, per_replica  # noqa: F401
from experiments.errors import ConfigError, DatasetError
from experiments.locks import preparing

logger = logging.getLogger(__name__)

NAME = "imagenet2012:5.1.0"
NUM_CLASSES = 1000
# Official split sizes, for checks and step counts before the data are prepared.
SPLIT_SIZES = {"train": 1281167, "validation": 50000}
TRAIN_TAR = "ILSVRC2012_img_train.tar"
VAL_TAR = "ILSVRC2012_img_val.tar"
# Sizes and sha256 of the official archives (TFDS's datasets/imagenet2012/checksums.tsv).
OFFICIAL_TARS = {
    TRAIN_TAR: (147897477120, "b08200a27a8e34218a0e58fde36b0fe8f73bc377f4acea2d91602057c3ca45bb"),
    VAL_TAR: (6744924160, "c7e06a6c0baccf06d8dbeb6577d71efff84673a5dbdd50633ab44f8ea0456ae0"),
}
# The authors' preprocessing constants (larq-zoo's, unchanged).
IMAGE_SIZE = zoo_data.IMAGE_SIZE  # 224
CROP_PADDING = zoo_data.CROP_PADDING  # 32: eval crop 224/256 of the shorter side
MEAN_RGB = zoo_data.MEAN_RGB  # 255 * (0.485, 0.456, 0.406)
STDDEV_RGB = zoo_data.STDDEV_RGB  # 255 * (0.229, 0.224, 0.225)

PREPARE_PREFIX = ".imagenet2012_prepare_"
_CLASS_TAR = re.compile(r"n\d{8}\.tar")
_VAL_IMAGE = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG")
_BLOCK = 512  # tar block size

_HOW_TO_GET = (
    "ImageNet cannot be downloaded automatically: register at "
    "https://image-net.org/download-images, download ILSVRC2012_img_train.tar "
    "(147,897,477,120 bytes) and ILSVRC2012_img_val.tar (6,744,924,160 bytes) of ILSVRC 2012, "
    "put both in one directory and point the suite at it: `IMAGENET_DIR=/path/to/dir` "
    "(config key `dataset.manual_dir=...`, the TFDS manual dir; by default "
    "`<data_dir>/downloads/manual`)."
)


# --- the manual download ------------------------------------------------------------------


def check_manual_dir(manual_dir: str) -> None:
    """Cheap checks of the two ILSVRC-2012 archives in ``manual_dir``.

    For each archive: it exists and is non-empty, its size is a whole number of 512-byte
    tar blocks, it ends with the tar end-of-archive marker (two zero blocks; a truncated
    download almost never does), its first header is a valid tar header whose member's
    data lie inside the file, and that member is what the archive should hold (a per-class
    ``n????????.tar`` with a valid tar header of its own / an ``ILSVRC2012_val_%08d.JPEG``).
    A few KiB are read per archive, never the archive itself. A size other than the
    official one is only logged (subsets and test archives are legitimate).

    Raises DatasetError naming every problem found, the directory, and how to get the files.
    """
    if not os.path.isdir(manual_dir):
        _manual_dir_error(manual_dir, [f"the directory {manual_dir} does not exist"])
    problems = [
        p for p in (_tar_problem(manual_dir, TRAIN_TAR), _tar_problem(manual_dir, VAL_TAR)) if p
    ]
    if problems:
        _manual_dir_error(manual_dir, problems)
    for name in (TRAIN_TAR, VAL_TAR):
        size = os.path.getsize(os.path.join(manual_dir, name))
        if size != OFFICIAL_TARS[name][0]:
            logger.warning(
                "%s is %d bytes, the official archive %d: a subset or test archive?",
                os.path.join(manual_dir, name), size, OFFICIAL_TARS[name][0],
            )


def _manual_dir_error(manual_dir: str, problems: list[str]):
    raise DatasetError(
        f"ImageNet manual download unusable: {'; '.join(problems)}. Expected {TRAIN_TAR} "
        f"and {VAL_TAR} in {manual_dir}. {_HOW_TO_GET}"
    )


def _tar_problem(manual_dir: str, name: str) -> str | None:
    """What is wrong with archive ``name`` in ``manual_dir`` (None if nothing found)."""
    path = os.path.join(manual_dir, name)
    if not os.path.exists(path):
        return f"{name} is missing"
    if not os.path.isfile(path):
        return f"{name} is not a regular file"
    size = os.path.getsize(path)
    if size == 0:
        return f"{name} is empty (0 bytes)"
    if size % _BLOCK or size < 3 * _BLOCK:
        return (
            f"{name} ({size} bytes) is not a whole number of 512-byte tar blocks: "
            "truncated (an incomplete download?) or not a tar archive"
        )
    try:
        with open(path, "rb") as f:
            f.seek(size - 2 * _BLOCK)
            if any(f.read(2 * _BLOCK)):
                return (
                    f"{name} ({size} bytes) does not end with the tar end-of-archive "
                    "marker: truncated (an incomplete download?) or not a tar archive"
                )
            f.seek(0)
            with tarfile.open(fileobj=f, mode="r:") as tar:  # reads the first header only
                first = tar.next()
            if first is None:
                return f"{name} is a tar archive without members"
            if first.offset_data + first.size > size:
                return f"{name} is truncated inside its first member {first.name}"
            if name == VAL_TAR:
                if not (first.isfile() and _VAL_IMAGE.fullmatch(first.name)):
                    return (
                        f"{name} does not look like the ILSVRC-2012 validation archive: its "
                        f"first member is {first.name!r}, not ILSVRC2012_val_%08d.JPEG"
                    )
                return None
            if not (first.isfile() and _CLASS_TAR.fullmatch(first.name)):
                return (
                    f"{name} does not look like the ILSVRC-2012 training archive: its first "
                    f"member is {first.name!r}, not a per-class <wnid>.tar"
                )
            f.seek(first.offset_data)
            head = f.read(min(first.size, 64 * 1024))
    except (tarfile.TarError, EOFError, OSError) as e:
        return f"{name} is not a readable tar archive: {type(e).__name__}: {e}"
    try:
        with tarfile.open(fileobj=io.BytesIO(head), mode="r:") as inner:
            inner.next()
    except tarfile.TarError as e:
        return (
            f"{name} is damaged: its first class archive {first.name} is not a readable "
            f"tar ({type(e).__name__}: {e})"
        )
    return None


# --- preparation --------------------------------------------------------------------------


def check_source(data_dir: str, manual_dir: str | None = None) -> None:
    """Nothing to check when ``imagenet2012`` is prepared in ``data_dir``; else the manual
    download must pass `check_manual_dir` -- before a run starts anything else."""
    builder = tfds.builder(NAME, data_dir=data_dir)
    if not is_prepared(builder):
        check_manual_dir(manual_dir or os.path.join(data_dir, "downloads", "manual"))


def load_imagenet_builder(data_dir: str, manual_dir: str | None = None) -> tfds.core.DatasetBuilder:
    """Return a prepared TFDS ``imagenet2012`` (5.1.0) builder in ``data_dir``.

    Already prepared: returned as is (the manual dir is not looked at). Otherwise the
    archives in ``manual_dir`` (default ``<data_dir>/downloads/manual``, TFDS's default)
    are checked with `check_manual_dir` and TFDS prepares the train and validation splits
    from them without network access. Preparing the full dataset reads both archives
    (about 155 GB) and writes a prepared copy of similar size; it takes hours.
    """
    builder = tfds.builder(NAME, data_dir=data_dir)
    if is_prepared(builder):
        return builder
    manual_dir = manual_dir or os.path.join(data_dir, "downloads", "manual")
    check_manual_dir(manual_dir)
    stale = (os.path.join(data_dir, PREPARE_PREFIX + "*"), str(builder.data_path) + ".incomplete*")
    with preparing(data_dir, "imagenet2012", stale):  # one preparing process per data dir
        builder = tfds.builder(NAME, data_dir=data_dir)
        if not is_prepared(builder):
            _prepare_offline(builder, data_dir, manual_dir)
    return builder


def _prepare_offline(builder, data_dir: str, manual_dir: str) -> None:
    """Let TFDS's own builder prepare the dataset from ``manual_dir``, offline.

    ``try_download_gcs=False``: otherwise TFDS first asks GCS for a prepared copy (it
    hangs without network). TFDS's download/extract directories go to a temporary
    ``<data_dir>/.imagenet2012_prepare_*`` that is removed afterwards (TFDS streams the
    archives, so nothing is extracted there); TFDS itself writes the dataset into an
    ``*.incomplete*`` directory that it renames on success and deletes on failure.

    The builder's ``_generate_examples`` is wrapped for this call (on this instance only):
    per-class tars are checked as they are read, errors name the archive and member, and
    validation labels are looked up by the index in the file name (see
    `_validation_labels_by_index`).
    """
    os.makedirs(data_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=PREPARE_PREFIX, dir=data_dir)
    original = builder._generate_examples

    def generate_examples(archive, validation_labels=None, labels_exist=True):
        if validation_labels is not None:
            archive = _checked_members(archive, VAL_TAR)
            validation_labels = _validation_labels_by_index(validation_labels)
        elif labels_exist:
            archive = _checked_class_tars(archive)
        return original(archive, validation_labels=validation_labels, labels_exist=labels_exist)

    builder._generate_examples = generate_examples
    try:
        builder.download_and_prepare(
            download_dir=os.path.join(tmp, "downloads"),
            download_config=tfds.download.DownloadConfig(
                manual_dir=manual_dir, try_download_gcs=False
            ),
        )
    except DatasetError:
        raise
    except Exception as e:  # noqa: BLE001 -- any failure here means "unusable archives"
        raise DatasetError(
            f"TFDS could not prepare ImageNet from {TRAIN_TAR} and {VAL_TAR} in {manual_dir} "
            f"({type(e).__name__}: {e}). If an archive is damaged, re-download it (sha256: "
            f"{TRAIN_TAR} {OFFICIAL_TARS[TRAIN_TAR][1]}, {VAL_TAR} {OFFICIAL_TARS[VAL_TAR][1]}). "
            f"{_HOW_TO_GET}"
        ) from e
    finally:
        del builder._generate_examples  # back to the class's method
        shutil.rmtree(tmp, ignore_errors=True)
    splits = {name: info.num_examples for name, info in builder.info.splits.items()}
    for name, n in SPLIT_SIZES.items():
        if splits.get(name) != n:
            logger.warning(
                "ImageNet %s split has %s examples, the official %d", name, splits.get(name), n
            )


def _redownload(name: str) -> str:
    return (
        f"Re-download {name} from image-net.org and check its sha256 "
        f"({OFFICIAL_TARS[name][1]}). {_HOW_TO_GET}"
    )


def _checked_members(archive, name: str):
    """Yield ``archive``'s members; a read error becomes a DatasetError naming ``name``."""
    last = None
    try:
        for member_name, fobj in archive:
            last = member_name
            yield member_name, fobj
    except (tarfile.TarError, EOFError, OSError) as e:
        after = f" after member {last}" if last else ""
        raise DatasetError(
            f"{name} is corrupt or truncated ({type(e).__name__}: {e}{after}). {_redownload(name)}"
        ) from e


def _checked_class_tars(archive):
    """Check each per-class tar of the train archive before TFDS reads it.

    TFDS reads every class tar into memory anyway (``io.BytesIO(fobj.read())``); here that
    copy is parsed first: every header must be valid and every member's data inside the
    class tar, and it must hold at least one file. TFDS then gets the same bytes.
    """
    for member_name, fobj in _checked_members(archive, TRAIN_TAR):
        if not _CLASS_TAR.fullmatch(member_name):
            raise DatasetError(
                f"{TRAIN_TAR} holds {member_name!r}; the ILSVRC-2012 training archive holds "
                f"only per-class tars named <wnid>.tar. {_redownload(TRAIN_TAR)}"
            )
        payload = fobj.read()
        try:
            with tarfile.open(fileobj=io.BytesIO(payload), mode="r:") as inner:
                members = inner.getmembers()
        except (tarfile.TarError, EOFError) as e:
            raise DatasetError(
                f"{TRAIN_TAR}: its class archive {member_name} is corrupt or truncated "
                f"({type(e).__name__}: {e}). {_redownload(TRAIN_TAR)}"
            ) from e
        files = [m for m in members if m.isfile()]
        broken = [m.name for m in files if m.offset_data + m.size > len(payload)]
        if not files or broken:
            what = f"is truncated in {broken[0]}" if broken else "holds no images"
            raise DatasetError(
                f"{TRAIN_TAR}: its class archive {member_name} {what}. {_redownload(TRAIN_TAR)}"
            )
        yield member_name, io.BytesIO(payload)


def _validation_labels_by_index(tfds_labels: dict) -> dict:
    """``file name -> wnid`` for the validation images, by the index in each file name.

    TFDS 4.8.3 (``imagenet_common.get_validation_labels``) pairs the *sorted* names in the
    archive with the lines of its bundled ``validation_labels.txt``. That is the same thing
    as the index lookup for the complete official archive (its 50,000 zero-padded names
    sort in index order) but mislabels every image of an archive that lacks some files.
    The names are TFDS's dict's keys (every member of the archive); only the labels change.
    """
    path = tfds.core.tfds_path("datasets/imagenet2012/validation_labels.txt")
    bundled = path.read_text().split()
    labels = {}
    for name in tfds_labels:
        match = _VAL_IMAGE.fullmatch(os.path.basename(name))
        if not match or not 1 <= int(match.group(1)) <= len(bundled):
            raise DatasetError(
                f"{VAL_TAR} holds {name!r}; the ILSVRC-2012 validation archive holds only "
                f"ILSVRC2012_val_00000001.JPEG ... ILSVRC2012_val_{len(bundled):08d}.JPEG. "
                f"{_redownload(VAL_TAR)}"
            )
        labels[name] = bundled[int(match.group(1)) - 1]
    return labels


# --- preprocessing ------------------------------------------------------------------------


def normalize(image):
    """float32 RGB in [0, 255] -> (image - ImageNet mean) / ImageNet std, per channel."""
    return (tf.cast(image, tf.float32) - MEAN_RGB) / STDDEV_RGB


def _resize_bicubic(image, image_size: int):
    """TF1 bicubic resize, as larq-zoo's ``tf.compat.v1.image.resize_bicubic`` (the same
    kernel, called directly to skip its deprecation warning): the legacy sampling grid
    (``align_corners=False, half_pixel_centers=False``), no antialiasing, float32 output,
    no clipping -- values overshoot [0, 255] a little at sharp edges."""
    return tf.raw_ops.ResizeBicubic(
        images=[image], size=[image_size, image_size], align_corners=False, half_pixel_centers=False
    )[0]


def center_crop_window(jpeg_shape, image_size: int, crop_padding: int = CROP_PADDING):
    """``[offset_y, offset_x, size, size]``: the centred square, ``image_size /
    (image_size + crop_padding)`` of the shorter side (larq-zoo's arithmetic, exactly)."""
    height, width = jpeg_shape[0], jpeg_shape[1]
    crop = tf.cast(
        (image_size / (image_size + crop_padding))
        * tf.cast(tf.minimum(height, width), tf.float32),
        tf.int32,
    )
    return tf.stack([(height - crop + 1) // 2, (width - crop + 1) // 2, crop, crop])


def _decode_and_center_crop(image_bytes, image_size: int, crop_padding: int):
    window = center_crop_window(tf.image.extract_jpeg_shape(image_bytes), image_size, crop_padding)
    image = tf.image.decode_and_crop_jpeg(image_bytes, window, channels=3)
    return _resize_bicubic(image, image_size)


def random_crop_window(jpeg_shape, seed):
    """The authors' random resized crop window ``[offset_y, offset_x, height, width]``,
    a pure function of the stateless ``seed`` (shape [2] int).

    Mirrors larq-zoo's ``distorted_bounding_box_crop`` as called by
    ``_decode_and_random_crop`` (bounding box = whole image, min_object_covered 0.1, aspect
    ratio 3/4-4/3, area 0.08-1, 10 attempts), with
    ``tf.image.stateless_sample_distorted_bounding_box`` (same sampler, stateless seed) in
    place of the stateful ``tf.image.sample_distorted_bounding_box``. Because the box is
    the whole image, ``min_object_covered=0.1`` also requires the crop to cover 10 % of
    the image: the effective area range is 0.1-1, in the authors' code as here. If no
    attempt succeeds, the window is the whole image.
    """
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        jpeg_shape,
        bounding_boxes=tf.constant([0.0, 0.0, 1.0, 1.0], tf.float32, shape=[1, 1, 4]),
        seed=seed,
        min_object_covered=0.1,
        aspect_ratio_range=(3.0 / 4, 4.0 / 3.0),
        area_range=(0.08, 1.0),
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    return tf.stack([begin[0], begin[1], size[0], size[1]])


def preprocess_train(
    image_bytes, seed, image_size: int = IMAGE_SIZE, crop_padding: int = CROP_PADDING
):
    """One training image: JPEG bytes -> normalised float32 ``[image_size, image_size, 3]``.

    A pure function of ``seed`` (shape [2] int; crop and flip use independent sub-seeds).
    Same steps as larq-zoo's ``preprocess_image_bytes(is_training=True)``: random crop
    window (`random_crop_window`), decode only that window, bicubic resize; if the window
    is the whole image (all attempts failed), the evaluation centre crop instead; random
    left-right flip; normalise. The fallback test is larq-zoo's: at least 3 of the
    JPEG's (height, width, channels) equal the crop's (height, width, 3) -- so a
    grayscale JPEG never falls back and its whole image is resized instead, as there.
    Differences: stateless randomness, the crop is decoded only when used, and
    ``crop_padding`` is a parameter (larq-zoo: the constant 32).
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    shape = tf.image.extract_jpeg_shape(image_bytes)
    window = random_crop_window(shape, crop_seed)
    whole_image = tf.reduce_sum(
        tf.cast(tf.equal(shape, tf.stack([window[2], window[3], 3])), tf.int32)
    ) >= 3
    image = tf.cond(
        whole_image,
        lambda: _decode_and_center_crop(image_bytes, image_size, crop_padding),
        lambda: _resize_bicubic(
            tf.image.decode_and_crop_jpeg(image_bytes, window, channels=3), image_size
        ),
    )
    image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    return normalize(tf.reshape(image, [image_size, image_size, 3]))


def preprocess_eval(image_bytes, image_size: int = IMAGE_SIZE, crop_padding: int = CROP_PADDING):
    """One evaluation image: centre crop (`center_crop_window`), bicubic resize, normalise.

    Equals larq-zoo's ``preprocess_image_bytes(is_training=False)`` for ``crop_padding=32``
    (tested bit for bit). At reduced sizes the constant padding crops more: 2/3 of the
    shorter side at 64 px, 1/2 at 32 px; ``crop_padding = image_size // 7`` keeps 224/256.
    """
    image = _decode_and_center_crop(image_bytes, image_size, crop_padding)
    return normalize(tf.reshape(image, [image_size, image_size, 3]))


# --- pipelines ----------------------------------------------------------------------------


def _epoch_key(seed: int, epoch: int) -> int:
    return seed * 1000003 + epoch


def _file_order(seed: int, epoch: int):
    """TFDS ``experimental_interleave_sort_fn``: the split's files (file instructions) in
    an order given by sha256 of ``(seed, epoch, file name, first example)`` -- the same
    on every machine and TensorFlow version, and on every worker."""

    def sort(file_instructions):
        return sorted(
            file_instructions,
            key=lambda fi: hashlib.sha256(
                f"{seed}/{epoch}/{os.path.basename(fi.filename)}/{fi.skip}".encode()
            ).digest(),
        )

    return sort


def _read(builder, split, input_context, **read_config):
    """``(jpeg_bytes, label)`` pairs, and how this pipeline was sharded.

    With an ``input_context`` of N > 1 pipelines, TFDS gives each pipeline every N-th file
    of the (already ordered) file list when the split has at least N files (ImageNet's
    prepared train split has 1024, validation 64); a split with fewer files (small
    slices, test data) is sharded by example instead, every pipeline reading all of it.
    """
    n_pipelines = input_context.num_input_pipelines if input_context else 1
    pipeline_id = input_context.input_pipeline_id if input_context else 0
    by_file = n_pipelines > 1 and len(builder.info.splits[split].file_instructions) >= n_pipelines
    options = tf.data.Options()
    options.deterministic = True
    ds = builder.as_dataset(
        split=split,
        shuffle_files=False,
        decoders={"image": tfds.decode.SkipDecoding()},
        read_config=tfds.ReadConfig(
            try_autocache=False,  # TFDS would cache small splits in memory
            input_context=input_context if by_file else None,
            options=options,
            **read_config,
        ),
    )
    ds = ds.map(lambda ex: (ex["image"], ex["label"]))
    if n_pipelines > 1 and not by_file:
        ds = ds.shard(n_pipelines, pipeline_id)
    return ds, n_pipelines, pipeline_id


def train_dataset(
    builder,
    split: str,
    batch_size: int,
    seed: int,
    epoch: int,
    image_size: int = IMAGE_SIZE,
    *,
    shuffle_block: int | None = None,
    input_context: tf.distribute.InputContext | None = None,
    drop_remainder: bool = True,
    crop_padding: int = CROP_PADDING,
    cycle_length: int = 16,
    skip_examples: int = 0,
) -> tf.data.Dataset:
    """One epoch of augmented ``(float32 [B, size, size, 3], int64 [B])`` batches.

    The order depends only on ``(seed, epoch)`` (not on the global TensorFlow seed, earlier
    epochs or a resume): the split's files are ordered by `_file_order`, read by a
    deterministic ``interleave`` of ``cycle_length`` files (TFDS's default 16, 16
    consecutive records each), and every consecutive block of ``shuffle_block`` examples
    (default ``10 * batch_size``: the shuffle buffer of zookeeper's
    ``Dataset.train_data``, which the authors' ``train.py`` used) is permuted with
    ``stateless_shuffle``. ``Dataset.shuffle`` is not used: its order also depends on the
    global seed. The example at position i of this pipeline's epoch is augmented with
    the stateless seed ``[seed * 1000003 + epoch, i * N + pipeline_id]`` (N pipelines).

    ``input_context`` (``tf.distribute.InputContext``): this worker's share of the epoch,
    disjoint from the other workers' (see `_read`); ``batch_size`` is then the per-worker
    batch. Labels are int64 in [0, 1000).

    ``skip_examples`` starts the epoch that far into this pipeline's order (a mid-epoch
    checkpoint); the skipped examples are read but not decoded.

    Memory: the block of JPEG bytes (about 110 kB per image: 1.1 GB at batch 1024), as
    the authors' shuffle buffer; decoding happens after the shuffle, in parallel.
    """
    key = _epoch_key(seed, epoch)
    block = shuffle_block or 10 * batch_size
    ds, n_pipelines, pipeline_id = _read(
        builder, split, input_context,
        experimental_interleave_sort_fn=_file_order(seed, epoch),
        interleave_cycle_length=cycle_length,
    )

    def permute(index, images_labels):
        images, labels = images_labels
        order = tf.random.experimental.stateless_shuffle(
            tf.range(tf.shape(labels, out_type=tf.int64)[0]),
            seed=tf.stack([tf.constant(key, tf.int64), -1 - (index * n_pipelines + pipeline_id)]),
        )
        return tf.gather(images, order), tf.gather(labels, order)

    def prepare(index, image_label):
        image, label = image_label
        example_seed = tf.stack([tf.constant(key, tf.int64), index * n_pipelines + pipeline_id])
        return preprocess_train(image, example_seed, image_size, crop_padding), label

    ds = ds.batch(block).prefetch(1).enumerate().map(permute).unbatch()
    ds = ds.enumerate().skip(skip_examples)
    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def eval_dataset(
    builder,
    split: str,
    batch_size: int,
    image_size: int = IMAGE_SIZE,
    *,
    input_context: tf.distribute.InputContext | None = None,
    crop_padding: int = CROP_PADDING,
) -> tf.data.Dataset:
    """Centre-cropped, normalised batches in TFDS's read order (that of
    ``builder.as_dataset(split)``); the last batch may be short."""
    ds, _, _ = _read(builder, split, input_context)
    ds = ds.map(
        lambda image, label: (preprocess_eval(image, image_size, crop_padding), label),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def crop_padding_for(image_size: int) -> int:
    """The eval crop padding that keeps the paper's crop fraction 224/(224+32) = 0.875
    at a reduced image size (64 -> 9: 64/73 = 0.877; 32 -> 5: 32/37 = 0.865). A fixed 32
    would crop 64/96 = 0.67 of the image and change what the network is shown."""
    return round(image_size * CROP_PADDING / IMAGE_SIZE)


def at_size(image_size: int) -> dict:
    """The experiment overrides that train and evaluate at ``image_size`` with the
    paper's crop fraction (``dataset.image_size``, ``dataset.crop_padding``)."""
    return {"dataset.image_size": image_size, "dataset.crop_padding": crop_padding_for(image_size)}


@component
class ImageNet(Dataset):
    """ILSVRC-2012 through TFDS ``imagenet2012`` (5.1.0), prepared offline from the manual
    download in ``manual_dir`` (the folder with the two ILSVRC2012_img_*.tar files).
    Streams from disk; ``image_size`` sets the training crop and evaluation size (224 in
    the paper), ``crop_padding`` the evaluation centre crop ``size / (size + crop_padding)``."""

    tfds_name = NAME
    eval_split = "validation"  # its test labels were never released
    num_classes = NUM_CLASSES
    official_sizes = SPLIT_SIZES
    label = "ImageNet"
    top5 = True
    top5_in_tables = True
    # manual_dir: where the raw data are (left out of the run id); it was the
    # experiment's `imagenet_dir` before datasets held their own sources.
    source_fields = {"manual_dir": "imagenet_dir"}

    manual_dir: str = Field("")  # "" = TFDS's default, <data_dir>/downloads/manual
    image_size: int = Field(IMAGE_SIZE)
    crop_padding: int = Field(CROP_PADDING)

    def input_shape(self) -> tuple:
        return (self.image_size, self.image_size, 3)

    def check(self) -> None:
        if self.image_size < 8:
            raise ConfigError(f"dataset.image_size must be >= 8, got {self.image_size}")
        if self.crop_padding < 0:
            raise ConfigError(f"dataset.crop_padding must be >= 0, got {self.crop_padding}")

    def _manual_dir(self):
        return os.path.expanduser(self.manual_dir) if self.manual_dir else None

    def check_source(self, data_dir: str) -> None:
        check_source(data_dir, self._manual_dir())

    def prepare(self, data_dir: str):
        return load_imagenet_builder(data_dir, self._manual_dir())

    def train_dataset(self, builder, split, batch_size, seed, epoch, *, skip_batches=0,
                      input_context=None):
        batch, pipelines = per_replica(batch_size, input_context)
        return train_dataset(builder, split, batch, seed, epoch, self.image_size,
                             crop_padding=self.crop_padding,
                             skip_examples=skip_batches * batch_size // pipelines,
                             input_context=input_context)

    def eval_dataset(self, builder, split, batch_size, *, input_context=None):
        batch, _ = per_replica(batch_size, input_context)
        return eval_dataset(builder, split, batch, self.image_size,
                            crop_padding=self.crop_padding, input_context=input_context)

    def tiny_data(self, root: str) -> dict:
        from experiments.fakes.imagenet import write_fake_imagenet_manual_dir

        fake = write_fake_imagenet_manual_dir(os.path.join(root, "manual"))
        data_dir = os.path.join(root, "tfds")
        load_imagenet_builder(data_dir, manual_dir=fake["manual_dir"])
        return {"data_dir": data_dir}
