"""A tiny CIFAR-10 archive in the real binary format, for tests that must not need the
170 MB download: the offline TFDS preparation path runs on it unchanged."""
from __future__ import annotations

import hashlib
import io
import os
import tarfile

import numpy as np

CLASS_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]
TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]
TEST_FILE = "test_batch.bin"


def fake_cifar10_records(n_train_per_batch: int = 20, n_test: int = 20, seed: int = 0):
    """The (images uint8 [n,32,32,3] HWC, labels int) per .bin file, keyed by file name.

    Pixels are random; labels cycle 0..9 within each file.
    """
    rng = np.random.default_rng(seed)
    records = {}
    for name, n in [(f, n_train_per_batch) for f in TRAIN_FILES] + [(TEST_FILE, n_test)]:
        images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        labels = np.arange(n) % 10
        records[name] = (images, labels)
    return records


def encode_records(images: np.ndarray, labels: np.ndarray) -> bytes:
    """CIFAR-10 binary records: 1 label byte, then the R, G and B planes (row-major)."""
    out = bytearray()
    for image, label in zip(images, labels):
        out.append(int(label))
        out += np.ascontiguousarray(image.transpose(2, 0, 1)).tobytes()
    return bytes(out)


def write_fake_cifar10_archive(directory, n_train_per_batch=20, n_test=20, seed=0):
    """Write ``<directory>/cifar-10-binary.tar.gz``; return (path, md5s of the six .bin)."""
    os.makedirs(directory, exist_ok=True)  # `Cifar10.tiny_data` names a folder not made yet
    path = os.path.join(directory, "cifar-10-binary.tar.gz")
    files = {
        name: encode_records(images, labels)
        for name, (images, labels) in fake_cifar10_records(n_train_per_batch, n_test, seed).items()
    }
    files["batches.meta.txt"] = ("\n".join(CLASS_NAMES) + "\n\n").encode()
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            info.mtime = 1230768000
            tar.addfile(info, io.BytesIO(data))
    md5s = {name: hashlib.md5(data).hexdigest() for name, data in files.items() if name.endswith(".bin")}
    return path, md5s
