"""The dataset contract: what every dataset component declares, and the split planning
they share.

A dataset is one module of ``experiments/datasets/``: its component (a ``Dataset``
subclass, selected by the experiment's ``dataset`` field) and its TFDS preparation and
pipelines. The package imports every module in it, so a new file is selectable as
``dataset=ClassName`` with nothing else to edit. The training loop and the models see
only this interface -- input shape, number of classes, split sizes, preparation and the
two pipelines -- and never name a dataset.

The experiment's generic data fields (``data_dir``, ``validation``, ``holdout``,
``train_subset``) stay on the experiment; a dataset component holds what is its own: its
preprocessing fields and where its raw data come from (``source_fields``, e.g. CIFAR-10's
``archive``), which say where files live, not what is computed, and so are left out of
the run id. ``validation="test"`` means the dataset's official evaluation split
(``eval_split``).
"""
from typing import NamedTuple

from experiments.errors import ConfigError


def is_prepared(builder) -> bool:
    """Whether TFDS has prepared ``builder``'s dataset (its ``dataset_info.json`` exists);
    checked without touching ``builder.info``, which needs no network only then."""
    return (builder.data_path / "dataset_info.json").exists()


def num_examples(builder, split: str) -> int:
    """Number of examples of a prepared split or slice, e.g. ``"train[:1000]"`` -> 1000."""
    return int(builder.info.splits[split].num_examples)


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


def per_replica(global_batch: int, input_context):
    """(per-replica batch, number of input pipelines) of a global batch."""
    if input_context is None:
        return global_batch, 1
    return (input_context.get_per_replica_batch_size(global_batch),
            input_context.num_input_pipelines)


class Dataset:
    """Base class of the dataset components (subclasses are ``@component``).

    Class attributes a dataset declares (not config fields):

    * ``tfds_name``, ``eval_split``, ``num_classes``, ``official_sizes`` (split ->
      examples, for checks before preparation), ``label`` (how tables name it);
    * ``top5``: whether top-5 accuracy means something here and is measured - printed
      each epoch and recorded in the metrics rows and the summary (not for a dataset of
      five classes or fewer, where it is always 1); ``top5_in_tables``: whether the
      report's tables show it too (the paper reports it for ImageNet only);
    * ``source_fields``: its fields that say where the raw data are (``{field: the
      experiment-level key it replaces, or ""}``): left out of the run id, and the old
      key is refused with the new one's name;
    * ``neutral_defaults`` (``{field: value}``) and ``neutral_choice``: fields added
      after runs were made, at the value that computes what those runs computed, and
      whether choosing this dataset is itself such a value (runs made before the
      ``dataset`` field existed trained on it): both left out of the run id, so those
      runs keep their ids.
    """

    abstract = True
    tfds_name = ""
    eval_split = "test"
    num_classes = 0
    official_sizes: dict = {}
    label = ""
    top5 = False
    top5_in_tables = False
    source_fields: dict = {}
    neutral_defaults: dict = {}
    neutral_choice = False

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

    def check_source(self, data_dir: str) -> None:
        """Cheap checks of the raw data a preparation will need, made first when a run
        starts (not at build time: listing or showing configs needs no data)."""

    def prepare(self, data_dir: str):
        """The prepared TFDS builder in ``data_dir`` (preparing it from this component's
        source if needed, under a data-dir claim)."""
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
        return num_examples(builder, split)

    def tiny_data(self, root: str) -> dict:
        """A tiny prepared copy of this dataset under ``root`` for tests and smoke runs:
        the overrides (``data_dir``, source fields) that point an experiment at it."""
        raise NotImplementedError(f"{type(self).__name__} has no tiny test data")

    def check(self) -> None:
        """Raise ``ConfigError`` for invalid fields."""
