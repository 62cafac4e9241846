"""The model contract: the component interface every model implements, and the
per-layer contract by which the optimizer decides how each binary kernel is represented.
It lives in the engine's package, as the dataset and optimizer contracts do: the models
(``models/``, or a plug-in) implement it and import it, never the other way round, as
larq-zoo's models import larq.

A model knows its binary layers and its own latent-weight quantizer for each (larq-zoo's
definition, e.g. XNOR-Net's scaled sign); the optimizer knows whether it trains binary
weights directly (Bop's ``NoOp(precision=1)`` marker) or real latent weights behind a
quantizer. So a model builder describes each binary layer as a :class:`BinaryLayer` and
asks ``represent(layer)`` -- the optimizer's answer, per layer -- for that layer's
``kernel_quantizer`` and ``kernel_constraint``. Nothing is decided once for the whole
model, so an optimizer can keep XNOR-Net's scaled sign on its convolutions and use
something else elsewhere.
"""
from dataclasses import dataclass
from typing import Any, Callable

from experiments.errors import ConfigError

# A representation that means "this layer's own latent-weight quantizer and constraint"
# (larq-zoo's definition): what latent-weight optimizers with ``ste="model_default"`` use.
MODEL_DEFAULT = "model_default"
KERNEL_ARGS = ("kernel_quantizer", "kernel_constraint")


@dataclass(frozen=True)
class BinaryLayer:
    """One binary layer, as its model describes it to the optimizer."""

    model: str  # the network, e.g. "binarynet", "xnornet", "birealnet18"
    name: str  # the layer's name within it ("conv2", "dense3", "binary_conv7", ...)
    index: int  # 0-based position among the model's binary layers
    own_quantizer: Any  # the model's own latent-weight quantizer for it (larq-zoo's)
    own_constraint: Any  # ... and constraint

    def own(self) -> dict:
        return {"kernel_quantizer": self.own_quantizer, "kernel_constraint": self.own_constraint}


# The optimizer's side: a binary layer -> {"kernel_quantizer": ..., "kernel_constraint": ...}
Represent = Callable[[BinaryLayer], dict]


def every_layer(kernel_quantizer, kernel_constraint=None) -> Represent:
    """The same representation for every binary layer; ``MODEL_DEFAULT`` = each layer's
    own. For tests and tools that need one kernel quantizer throughout."""
    if isinstance(kernel_quantizer, str) and kernel_quantizer == MODEL_DEFAULT \
            and kernel_constraint is not None:
        raise ConfigError(
            f"kernel_quantizer={MODEL_DEFAULT!r} brings the model's own constraint; do not "
            f"pass kernel_constraint={kernel_constraint!r}")

    def represent(layer: BinaryLayer) -> dict:
        if isinstance(kernel_quantizer, str) and kernel_quantizer == MODEL_DEFAULT:
            return layer.own()
        return {"kernel_quantizer": kernel_quantizer, "kernel_constraint": kernel_constraint}
    return represent


class BinaryLayers:
    """A model builder's end of the contract: numbers the binary layers in the order it
    creates them and asks ``represent`` for each one's kernel arguments."""

    def __init__(self, model: str, represent: Represent, own_quantizer, own_constraint):
        if not callable(represent):
            raise ConfigError(f"{model}: represent must be a callable BinaryLayer -> kernel "
                              f"arguments (an optimizer's `represent`), got {represent!r}")
        self.model, self.represent = model, represent
        self.own_quantizer, self.own_constraint = own_quantizer, own_constraint
        self.asked = []

    def __call__(self, name: str) -> dict:
        layer = BinaryLayer(self.model, name, len(self.asked), self.own_quantizer,
                            self.own_constraint)
        args = self.represent(layer)
        if not isinstance(args, dict) or "kernel_quantizer" not in args \
                or set(args) - set(KERNEL_ARGS):
            raise ConfigError(
                f"{self.model}: the representation of binary layer {name!r} must be a dict "
                f"with 'kernel_quantizer' (and optionally 'kernel_constraint'), got {args!r}")
        self.asked.append(layer)
        return {"kernel_constraint": None, **args}


def check_input(model_name: str, input_shape, num_classes: int) -> None:
    """A static (height, width, channels) input and at least one class."""
    if len(input_shape) != 3 or any(d is None for d in input_shape[:2]):
        raise ConfigError(f"{model_name} needs a static (height, width, channels) input, "
                          f"got {tuple(input_shape)}")
    if num_classes < 1:
        raise ConfigError(f"num_classes must be >= 1, got {num_classes}")


class Model:
    """A configurable model factory (subclasses are @component). ``represent`` is the
    optimizer's per-layer answer (:class:`BinaryLayer` -> kernel arguments)."""

    def build(self, *, input_shape, num_classes: int, represent: Represent):
        """A ``tf.keras.Model`` for that input and number of classes."""
        raise NotImplementedError

    def check(self) -> None:
        """Raise ``ConfigError`` for invalid fields."""
