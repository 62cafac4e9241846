"""Model components: the contract in ``base``; the models themselves live in packages
that implement it (this suite's ``models/``, one module per paper model).

A model package is declared in the ``bnn.models`` entry-point group
(``experiments.registry``; this suite's ``pyproject.toml`` declares ``models``) and
imported here, so every model class it defines is selectable as ``model=ClassName``
while the engine knows only the contract; a model kept outside any package is loaded
with ``BNN_PLUGINS=module`` (``experiments.plugins``). ``models/`` imports this package,
never the other way round by name.
"""
import importlib

from experiments import registry
from experiments.models.base import (MODEL_DEFAULT, BinaryLayer, BinaryLayers,  # noqa: F401
                                     Model, Represent, check_input, every_layer)

PACKAGES = [module for _, module in registry.declared(registry.MODELS)]
for _module in PACKAGES:
    importlib.import_module(_module)
