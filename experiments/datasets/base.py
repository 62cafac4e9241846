"""The datasets an experiment trains on, as components: CIFAR-10 (§5.1, §5.2) and
ImageNet (§5.3).

The training loop and the model builders see only this interface -- input shape, number
of classes, split sizes, preparation and the two pipelines -- and never name a dataset.
Adding a dataset is one more ``Dataset`` component here (and its data module).

The experiment's generic data fields (``data_dir``, ``validation``, ``holdout``,
``train_subset``) stay on the experiment; a dataset component holds only what is its own
(ImageNet's image size and crop). ``validation="test"`` means the dataset's official
evaluation split: CIFAR-10's ``test``, ImageNet's ``validation`` (its test labels were
never released).
"""
import os
from typing import NamedTuple

from experiments import _keras2  # noqa: F401
from zookeeper import Field, component

from experiments.errors import ConfigError


def is_prepared(builder) -> bool:
    """Whether TFDS has prepared ``builder``'s dataset (its ``dataset_info.json`` exists);
    checked without touching ``builder.info``, which needs no network only then."""
    return (builder.data_path / "dataset_info.json").exists()


class DataPlan(NamedTuple):
    """The splits of a run and their sizes, known before anything is prepared."""
    train_split: str
    val_split: str
    n_train: int
    n_val: int


def plan_splits(sizes: dict, eval_split: str, validation: str, train_subset,
                holdout: int) -> DataPlan:
    """Split strings and sizes from split sizes alone; ``ConfigError`` when the splits
    cannot provide the subset or holdout asked for.

    ``"test"``: train on ``train``, validate on ``eval_split`` (as the authors did);
    ``"holdout"``: validate on the last ``holdout`` training examples, train on the rest
    (for tuning without looking at the test set). Negative slice bounds keep the strings
    valid on any split size. ``train_subset`` keeps the first N training examples (TFDS's
    stored order is a fixed pseudo-random shuffle).
    """
    n_all = sizes["train"]
    if validation == "holdout":
        if not 0 < holdout < n_all:
            raise ConfigError(f"holdout must be in 1..{n_all - 1} (the train split has "
                              f"{n_all} images), got {holdout}")
        n_available, n_val = n_all - holdout, holdout
        val_split = f"train[-{holdout}:]"
    else:
        n_available, n_val, val_split = n_all, sizes[eval_split], eval_split
    if train_subset is not None and not 0 < train_subset <= n_available:
        where = f" after the {holdout}-image holdout" if validation == "holdout" else ""
        raise ConfigError(
            f"train_subset={train_subset} is more than the {n_available} training images "
            f"available{where}; use 1..{n_available} (0 = all)")
    if train_subset is not None:
        train_split = f"train[:{train_subset}]"
    else:
        train_split = f"train[:-{holdout}]" if validation == "holdout" else "train"
    return DataPlan(train_split, val_split, train_subset or n_available, n_val)


class Dataset:
    """Base class of the dataset components."""

    abstract = True
    tfds_name = ""
    eval_split = "test"
    num_classes = 0
    official_sizes: dict = {}  # split -> examples, for checks before preparation

    def input_shape(self) -> tuple:
        raise NotImplementedError

    def split_sizes(self, data_dir: str) -> dict:
        """From the prepared dataset's metadata if there is one, else the official sizes."""
        import tensorflow_datasets as tfds

        builder = tfds.builder(self.tfds_name, data_dir=data_dir)
        if not is_prepared(builder):
            return dict(self.official_sizes)
        return {name: int(split.num_examples) for name, split in builder.info.splits.items()}

    def plan(self, data_dir: str, validation: str, train_subset,
             holdout: int) -> DataPlan:
        return plan_splits(self.split_sizes(data_dir), self.eval_split, validation,
                           train_subset, holdout)

    def check_source(self, exp) -> None:
        """Cheap checks of the raw data a preparation will need, made first when a run
        starts (not at build time: listing or showing configs needs no data)."""

    def prepare(self, exp):
        """The prepared TFDS builder (preparing it if needed, under a data-dir claim)."""
        raise NotImplementedError

    def train_dataset(self, builder, split, batch_size, seed, epoch, *, skip_batches=0,
                      input_context=None):
        """One epoch of augmented batches whose order depends only on (seed, epoch);
        ``batch_size`` is the global batch; with an ``input_context`` this pipeline's
        share, batched per replica. ``skip_batches`` (global steps) starts it mid-epoch
        (a step checkpoint), without preparing the skipped examples."""
        raise NotImplementedError

    def eval_dataset(self, builder, split, batch_size, *, input_context=None):
        raise NotImplementedError

    def num_examples(self, builder, split: str) -> int:
        return int(builder.info.splits[split].num_examples)

    def check(self) -> None:
        """Raise ``ConfigError`` for invalid fields."""


@component
class Cifar10(Dataset):
    """CIFAR-10 through TFDS ``cifar10`` (``experiments.datasets.cifar10``); offline from the
    experiment's ``cifar10_archive``. 32x32x3, 10 classes, 50,000 / 10,000 images."""

    tfds_name = "cifar10"
    eval_split = "test"
    num_classes = 10
    official_sizes = {"train": 50000, "test": 10000}

    # Training augmentation: zero-pad this many pixels on each side, then a random 32x32
    # crop and a random flip (paper §5.2 and the authors' code: 4).
    augment_padding: int = Field(4)

    def check(self) -> None:
        if not 0 <= self.augment_padding <= 16:
            raise ConfigError(f"dataset.augment_padding must be in 0..16 (paper: 4), got "
                              f"{self.augment_padding}")

    def input_shape(self) -> tuple:
        return (32, 32, 3)

    def prepare(self, exp):
        from experiments.datasets import cifar10 as data
        archive = os.path.expanduser(exp.cifar10_archive) if exp.cifar10_archive else None
        return data.load_cifar10_builder(os.path.expanduser(exp.data_dir), archive=archive)

    def train_dataset(self, builder, split, batch_size, seed, epoch, *, skip_batches=0,
                      input_context=None):
        from experiments.datasets import cifar10 as data
        return data.train_dataset(builder, split, batch_size, seed, epoch,
                                  skip_examples=skip_batches * batch_size,
                                  input_context=input_context, padding=self.augment_padding)

    def eval_dataset(self, builder, split, batch_size, *, input_context=None):
        from experiments.datasets import cifar10 as data
        return data.eval_dataset(builder, split, batch_size, input_context=input_context)


@component
class ImageNet(Dataset):
    """ILSVRC-2012 through TFDS ``imagenet2012`` (``experiments.datasets.imagenet``), prepared
    offline from the manual download in the experiment's ``imagenet_dir``. Streams from
    disk; ``image_size`` sets the training crop and evaluation size (224 in the paper),
    ``crop_padding`` the evaluation centre crop ``size / (size + crop_padding)``."""

    tfds_name = "imagenet2012:5.1.0"
    eval_split = "validation"
    num_classes = 1000
    official_sizes = {"train": 1281167, "validation": 50000}

    image_size: int = Field(224)
    crop_padding: int = Field(32)

    def input_shape(self) -> tuple:
        return (self.image_size, self.image_size, 3)

    def check(self) -> None:
        if self.image_size < 8:
            raise ConfigError(f"dataset.image_size must be >= 8, got {self.image_size}")
        if self.crop_padding < 0:
            raise ConfigError(f"dataset.crop_padding must be >= 0, got {self.crop_padding}")

    def check_source(self, exp) -> None:
        from experiments.datasets import imagenet
        imagenet.check_source(os.path.expanduser(exp.data_dir), self._manual_dir(exp))

    @staticmethod
    def _manual_dir(exp):
        return os.path.expanduser(exp.imagenet_dir) if exp.imagenet_dir else None

    def prepare(self, exp):
        from experiments.datasets import imagenet
        manual = self._manual_dir(exp)
        return imagenet.load_imagenet_builder(os.path.expanduser(exp.data_dir), manual)

    def train_dataset(self, builder, split, batch_size, seed, epoch, *, skip_batches=0,
                      input_context=None):
        from experiments.datasets import imagenet
        per_replica, pipelines = _per_replica(batch_size, input_context)
        return imagenet.train_dataset(builder, split, per_replica, seed, epoch, self.image_size,
                                      crop_padding=self.crop_padding,
                                      skip_examples=skip_batches * batch_size // pipelines,
                                      input_context=input_context)

    def eval_dataset(self, builder, split, batch_size, *, input_context=None):
        from experiments.datasets import imagenet
        per_replica, _ = _per_replica(batch_size, input_context)
        return imagenet.eval_dataset(builder, split, per_replica, self.image_size,
                                     crop_padding=self.crop_padding, input_context=input_context)


def _per_replica(global_batch: int, input_context):
    """(per-replica batch, number of input pipelines) of a global batch."""
    if input_context is None:
        return global_batch, 1
    return (input_context.get_per_replica_batch_size(global_batch),
            input_context.num_input_pipelines)
