"""The model component interface every paper model implements."""
from experiments import _keras2  # noqa: F401
import tensorflow as tf

from experiments.errors import ConfigError

# The kernel quantizer that means "this model's own latent-weight quantizer and
# constraint" (larq-zoo's definition), asked for by latent-weight optimizers with
# ``ste="model_default"``; Bop instead passes ``NoOp(precision=1)`` for every binary kernel.
MODEL_DEFAULT = "model_default"


def binary_kernel_args(kernel_quantizer, kernel_constraint, own_quantizer,
                       own_constraint) -> dict:
    """``kernel_quantizer``/``kernel_constraint`` of a model's binary layers: the model's
    own pair for ``MODEL_DEFAULT``, else what the optimizer passed."""
    if isinstance(kernel_quantizer, str) and kernel_quantizer == MODEL_DEFAULT:
        if kernel_constraint is not None:
            raise ConfigError(
                f"kernel_quantizer={MODEL_DEFAULT!r} brings the model's own constraint "
                f"({own_constraint!r}); do not pass kernel_constraint={kernel_constraint!r}")
        return dict(kernel_quantizer=own_quantizer, kernel_constraint=own_constraint)
    return dict(kernel_quantizer=kernel_quantizer, kernel_constraint=kernel_constraint)


def check_input(model_name: str, input_shape, num_classes: int) -> None:
    """A static (height, width, channels) input and at least one class."""
    if len(input_shape) != 3 or any(d is None for d in input_shape[:2]):
        raise ConfigError(f"{model_name} needs a static (height, width, channels) input, "
                          f"got {tuple(input_shape)}")
    if num_classes < 1:
        raise ConfigError(f"num_classes must be >= 1, got {num_classes}")


class Model:
    """A configurable model factory (subclasses are @component); the optimizer
    supplies the kernel representation."""

    def build(self, *, input_shape, num_classes: int, kernel_quantizer,
              kernel_constraint=None) -> tf.keras.Model:
        raise NotImplementedError

    def check(self) -> None:
        """Raise ``ConfigError`` for invalid fields."""
