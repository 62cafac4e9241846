"""The model contract's former place, kept for model files written against it (a
``BNN_PLUGINS`` module importing ``models.base``, as README's "Add a model" did): the
contract is ``experiments.models.base``, which the suite's own models import."""
from experiments.models.base import (MODEL_DEFAULT, KERNEL_ARGS, BinaryLayer,  # noqa: F401
                                     BinaryLayers, Model, Represent, check_input, every_layer)
