"""Optimizer components, one module each (the contract is in ``base``).

Every module of this package is imported here, so an optimizer added as a new file in
``experiments/optimizers/`` is selectable as ``optimizer=ClassName`` with nothing else
to edit; an optimizer kept outside the suite is loaded with ``BNN_PLUGINS=module``
(``experiments.plugins``).
"""
import importlib
import pkgutil

from experiments.optimizers.base import (MODEL_DEFAULT, BinaryLayer, Optimizer,  # noqa: F401
                                         binary_kernels, binary_layers, binary_marker, check_range,
                                         is_binary_marker)
from experiments.optimizers.bop import Bop  # noqa: F401
from experiments.optimizers.bop2ndorder import Bop2ndOrder  # noqa: F401
from experiments.optimizers.bop2ndorder_unbiased import Bop2ndOrderUnbiased  # noqa: F401
from experiments.optimizers.latent import (LatentAdam, LatentMomentum, LatentSGD,  # noqa: F401
                                           LatentWeights, xavier_lr_multiplier)

_NOT_OPTIMIZERS = {"base", "flip_rule", "schedules"}
DISCOVERED = [info.name for info in pkgutil.iter_modules(__path__)
              if info.name not in _NOT_OPTIMIZERS]
for _name in DISCOVERED:
    importlib.import_module(f"{__name__}.{_name}")
