"""The paper's models, one module each (the contract is in ``base``).

Every module of this package is imported here, so a model added as a new file in
``models/`` is selectable as ``model=ClassName`` with nothing else to edit; a model kept
outside the suite is loaded with ``BNN_PLUGINS=module`` (``experiments.plugins``). A
model module may import only ``models.base`` and ``experiments.errors``.
"""
import importlib
import pkgutil

import experiments  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from models.base import BinaryLayer, BinaryLayers, Model, check_input, every_layer  # noqa: F401

DISCOVERED = [info.name for info in pkgutil.iter_modules(__path__) if info.name != "base"]
for _name in DISCOVERED:
    importlib.import_module(f"{__name__}.{_name}")
