"""A tiny ImageNet manual-download directory in the real ILSVRC-2012 layout, built from
100 real JPEGs, so that TFDS's own ``imagenet2012`` builder prepares it offline unchanged.

The layout is that of the two archives from image-net.org:

- ``ILSVRC2012_img_train.tar``: one uncompressed tar ``<wnid>.tar`` per class, each holding
  that class's ``<wnid>_<n>.JPEG`` files (TFDS takes the label from the inner tar's name);
- ``ILSVRC2012_img_val.tar``: flat ``ILSVRC2012_val_%08d.JPEG`` files, with no labels inside
  (TFDS ships them in ``validation_labels.txt``: line i is the wnid of index i + 1).

The source is ``shared/data/imagenet-sample/imagenet-sample-100.tar`` (one image for every
tenth class, ``<wnid>_<name>.JPEG`` plus ``labels.csv``). Each image goes into the train
archive of its class and, under a validation index whose bundled label is its wnid, into
the validation archive, so both splits' labels can be checked against the file names.
"""
from __future__ import annotations

import csv
import io
import os
import tarfile

import tensorflow_datasets as tfds

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE_TAR = os.path.join(
    REPO, os.pardir, "shared", "data", "imagenet-sample", "imagenet-sample-100.tar"
)
TRAIN_TAR = "ILSVRC2012_img_train.tar"
VAL_TAR = "ILSVRC2012_img_val.tar"
_MTIME = 1230768000  # fixed, so the archives are byte-identical on every run


def read_sample(sample_tar: str = SAMPLE_TAR) -> list[dict]:
    """The sample's rows of ``labels.csv`` in file order, each with its JPEG ``bytes``."""
    with tarfile.open(sample_tar, "r:") as tar:
        files = {
            os.path.basename(m.name): tar.extractfile(m).read() for m in tar if m.isfile()
        }
    rows = list(csv.DictReader(io.StringIO(files["labels.csv"].decode())))
    for row in rows:
        row["class_index_sorted_wnid"] = int(row["class_index_sorted_wnid"])
        row["bytes"] = files[row["filename"]]
    return rows


def bundled_validation_labels() -> list[str]:
    """TFDS's ``validation_labels.txt``: entry i is the wnid of ``ILSVRC2012_val_{i+1:08d}``."""
    path = tfds.core.tfds_path("datasets/imagenet2012/validation_labels.txt")
    return path.read_text().split()


def tar_bytes(members: dict[str, bytes]) -> bytes:
    """An uncompressed tar (ustar, as the ILSVRC archives) of ``name -> payload``, in order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:", format=tarfile.USTAR_FORMAT) as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            info.mtime = _MTIME
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def write_fake_imagenet_manual_dir(
    out_dir: str, sample_tar: str = SAMPLE_TAR, n_train_classes: int | None = None
) -> dict:
    """Write ``ILSVRC2012_img_train.tar`` and ``ILSVRC2012_img_val.tar`` into ``out_dir``.

    Train: the first ``n_train_classes`` sample images (all 100 if None), image k of
    class ``wnid`` stored as ``<wnid>.tar/<wnid>_<k+1>.JPEG`` (one image per class here).
    Validation: all 100 images, each as ``ILSVRC2012_val_%08d.JPEG`` with the first index
    whose bundled label is the image's wnid. The JPEG bytes are not re-encoded.

    Returns a dict: ``manual_dir``, ``train_tar``, ``val_tar`` (paths), ``train`` and
    ``validation`` (``file_name -> wnid``, the ``file_name`` TFDS stores) and ``source``
    (``file_name -> sample file name``) and ``class_index`` (``wnid -> sorted-wnid index``).
    """
    rows = read_sample(sample_tar)
    if n_train_classes is not None and not 1 <= n_train_classes <= len(rows):
        raise ValueError(f"n_train_classes must be in 1..{len(rows)}, got {n_train_classes}")
    os.makedirs(out_dir, exist_ok=True)

    train, validation, source = {}, {}, {}
    class_tars = {}
    for row in rows[: n_train_classes or len(rows)]:
        name = f"{row['wnid']}_1.JPEG"
        class_tars[f"{row['wnid']}.tar"] = tar_bytes({name: row["bytes"]})
        train[name] = row["wnid"]
        source[name] = row["filename"]

    first_index = {}
    for i, wnid in enumerate(bundled_validation_labels()):
        first_index.setdefault(wnid, i + 1)
    val_members = {}
    for row in sorted(rows, key=lambda r: first_index[r["wnid"]]):
        name = f"ILSVRC2012_val_{first_index[row['wnid']]:08d}.JPEG"
        val_members[name] = row["bytes"]
        validation[name] = row["wnid"]
        source[name] = row["filename"]

    train_tar = os.path.join(out_dir, TRAIN_TAR)
    val_tar = os.path.join(out_dir, VAL_TAR)
    with open(train_tar, "wb") as f:
        f.write(tar_bytes(class_tars))
    with open(val_tar, "wb") as f:
        f.write(tar_bytes(val_members))
    return {
        "manual_dir": out_dir,
        "train_tar": train_tar,
        "val_tar": val_tar,
        "train": train,
        "validation": validation,
        "source": source,
        "class_index": {row["wnid"]: row["class_index_sorted_wnid"] for row in rows},
    }
