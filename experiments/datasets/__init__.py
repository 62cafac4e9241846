"""Datasets as components (``components``: CIFAR-10 and ImageNet, chosen by the
experiment's ``dataset`` field) and their TFDS pipelines (``cifar10``, ``imagenet``).
The training loop and the models see only the component interface."""
from experiments.datasets.components import (Cifar10, DataPlan, Dataset, ImageNet,  # noqa: F401
                                             is_prepared, plan_splits)
