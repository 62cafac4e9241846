"""The model component interface every paper model implements."""
from experiments import _keras2  # noqa: F401
import tensorflow as tf


class Model:
    """A configurable model factory (subclasses are @component); the optimizer
    supplies the kernel representation."""

    def build(self, *, input_shape, num_classes: int, kernel_quantizer,
              kernel_constraint=None) -> tf.keras.Model:
        raise NotImplementedError

    def check(self) -> None:
        """Raise ``ConfigError`` for invalid fields."""
