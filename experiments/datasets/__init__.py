"""Datasets, one module each: its component (chosen by the experiment's ``dataset``
field) with its TFDS preparation and pipelines; the contract is in ``base``.

Every module of this package is imported here, so a dataset added as a new file in
``experiments/datasets/`` is selectable as ``dataset=ClassName`` with nothing else to
edit (one kept outside the suite: ``BNN_PLUGINS=module``, ``experiments.plugins``). The
training loop and the models see only the ``Dataset`` interface.
"""
import importlib
import pkgutil

from experiments.datasets.base import (DataPlan, Dataset, is_prepared,  # noqa: F401
                                       num_examples, plan_splits)

DISCOVERED = [info.name for info in pkgutil.iter_modules(__path__) if info.name != "base"]
for _name in DISCOVERED:
    importlib.import_module(f"{__name__}.{_name}")
