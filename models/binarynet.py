"""BinaryNet for CIFAR-10, as trained with Bop in §5.1 and §5.2 of the paper.

Courbariaux, Hubara, Soudry, El-Yaniv and Bengio, "Binarized Neural Networks" (2016),
in the form of the Bop authors' code (plumerai/rethinking-bnn-optimization,
``bnn_optimization/models.py``): six binary 3x3 convolutions (128, 128, 256, 256, 512,
512 filters) and three binary dense layers (1024, 1024, 10), each followed by batch
norm without scale, no biases. Every quantized kernel is binary, the first and the last
included. Activations are binarised by the *next* layer's ``ste_sign`` input quantizer;
the first convolution sees the real-valued image.

The authors' first convolution is unpadded ("valid": 32 -> 30 -> 15 -> 7 -> 3, Flatten
4,608 -> 10,352,000 binary weights); Courbariaux et al.'s original pads it ("same": 32 ->
16 -> 8 -> 4, Flatten 8,192 -> 14,022,016 binary weights). Both have 3,850 trainable
batch-norm offsets. ``filters`` and ``dense_units`` scale the widths (x1, x2, x4 of
``filters``), which is how the suite's reduced CPU scales are made.

Reported with this model: 91.3 % (Bop) and 90.9 % (latent-weight Adam) CIFAR-10 test
accuracy, §5.2 (see ``results/reported.yaml``).
"""

import larq as lq
import tensorflow as tf
from zookeeper import Field, component

from experiments.errors import ConfigError
from experiments.models.base import BinaryLayers, Model

FIRST_CONV_PADDINGS = ("valid", "same")
# Initial binary kernels: Keras's Glorot uniform (larq's and the Bop authors' default), or
# uniform in [-1, 1] (Courbariaux et al.'s BinaryNet code, H = 1: the latent-weight
# baseline of §5.2 cites their set-up; 1 is also its clip value).
KERNEL_INITS = ("glorot_uniform", "uniform")


class ScaledInitializer(tf.keras.initializers.Initializer):
    """``scale`` times a fresh draw of another initializer (by name), so that under the
    same seed every scale gets the same random numbers (Theorem 1's ``c * w0``)."""

    def __init__(self, base: str, scale: float):
        self.base = base
        self.scale = float(scale)

    def __call__(self, shape, dtype=None, **kwargs):
        return self.scale * tf.keras.initializers.get(self.base)(shape, dtype=dtype, **kwargs)

    def get_config(self):
        return {"base": self.base, "scale": self.scale}


def check_fields(filters, dense_units, first_conv_padding, bn_momentum, kernel_init,
                 kernel_init_scale) -> None:
    """The one check of BinaryNet's settings (the component's ``check`` and
    :func:`binarynet` both call it): ``ConfigError`` naming the field."""
    if filters < 1 or dense_units < 1:
        raise ConfigError(f"model.filters and model.dense_units must be >= 1, got {filters} "
                          f"and {dense_units}")
    if first_conv_padding not in FIRST_CONV_PADDINGS:
        raise ConfigError(
            f"model.first_conv_padding must be one of {FIRST_CONV_PADDINGS} ('valid' = the Bop "
            f"authors', 'same' = Courbariaux et al.), got {first_conv_padding!r}")
    if kernel_init not in KERNEL_INITS:
        raise ConfigError(
            f"model.kernel_init must be one of {KERNEL_INITS} ('uniform' = U[-1, 1] as in "
            f"Courbariaux et al.'s BinaryNet code), got {kernel_init!r}")
    if kernel_init_scale <= 0:
        raise ConfigError(f"model.kernel_init_scale must be > 0, got {kernel_init_scale}")
    if not 0 <= bn_momentum < 1:
        raise ConfigError(f"model.bn_momentum must be in [0, 1), got {bn_momentum}")


def binarynet(
    *,
    represent,
    filters: int = 128,
    dense_units: int = 1024,
    first_conv_padding: str = "valid",
    bn_momentum: float = 0.99,
    kernel_init: str = "glorot_uniform",
    kernel_init_scale: float = 1.0,
    input_shape=(32, 32, 3),
    num_classes: int = 10,
) -> tf.keras.Model:
    """Build BinaryNet.

    Arguments:
        represent: the optimizer's per-layer representation of the nine binary kernels
            (``experiments.models.base``): Bop marks them ``NoOp(precision=1)`` (the weights *are*
            binary); latent-weight optimizers put ``ste_sign`` on real latent kernels.
            This model's own is Courbariaux et al.'s: ``ste_sign`` clipped to [-1, 1].
        filters, dense_units: widths (paper: 128, 1024).
        first_conv_padding: "valid" (the Bop authors') or "same" (Courbariaux et al.).
        bn_momentum: batch-norm moving-average momentum (authors: Keras's default 0.99;
            their ``BatchNormalization(scale=False)`` sets nothing else, epsilon 1e-3).
        kernel_init: "glorot_uniform" or "uniform" (U[-1, 1], Courbariaux et al.'s H = 1).
            Only the latent-weight baselines feel the magnitude; Bop uses the signs.
        kernel_init_scale: multiplies the initial kernels (§3: scaling the initial
            latent weights together with the learning rate).

    Returns:
        An uncompiled ``tf.keras.Model`` whose output is a softmax over classes.
    """
    check_fields(filters, dense_units, first_conv_padding, bn_momentum, kernel_init,
                 kernel_init_scale)
    base = "glorot_uniform" if kernel_init == "glorot_uniform" else {
        "class_name": "RandomUniform", "config": {"minval": -1.0, "maxval": 1.0}}
    initializer = base
    if kernel_init_scale != 1.0:
        initializer = ScaledInitializer(base, kernel_init_scale)
    # the model's own: Courbariaux et al.'s latent weights, ste_sign clipped to [-1, 1]
    kernel = BinaryLayers("binarynet", represent, "ste_sign", "weight_clip")
    binary = dict(kernel_initializer=initializer, use_bias=False)
    binary_in = dict(input_quantizer="ste_sign", **binary)

    def bn(name):
        return tf.keras.layers.BatchNormalization(momentum=bn_momentum, scale=False, name=name)

    def conv(width, name, **kw):
        return lq.layers.QuantConv2D(width, 3, name=name, **kw, **kernel(name))

    def dense(units, name):
        return lq.layers.QuantDense(units, name=name, **binary_in, **kernel(name))

    x = inputs = tf.keras.Input(shape=input_shape)
    x = conv(filters, "conv1", padding=first_conv_padding, **binary)(x)
    x = bn("bn1")(x)
    x = conv(filters, "conv2", padding="same", **binary_in)(x)
    x = tf.keras.layers.MaxPool2D(2, 2, name="pool2")(x)
    x = bn("bn2")(x)
    x = conv(2 * filters, "conv3", padding="same", **binary_in)(x)
    x = bn("bn3")(x)
    x = conv(2 * filters, "conv4", padding="same", **binary_in)(x)
    x = tf.keras.layers.MaxPool2D(2, 2, name="pool4")(x)
    x = bn("bn4")(x)
    x = conv(4 * filters, "conv5", padding="same", **binary_in)(x)
    x = bn("bn5")(x)
    x = conv(4 * filters, "conv6", padding="same", **binary_in)(x)
    x = tf.keras.layers.MaxPool2D(2, 2, name="pool6")(x)
    x = bn("bn6")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    x = dense(dense_units, "dense1")(x)
    x = bn("bn7")(x)
    x = dense(dense_units, "dense2")(x)
    x = bn("bn8")(x)
    x = dense(num_classes, "dense3")(x)
    x = bn("bn9")(x)
    # float32 under a mixed policy too: the loss and metrics read these probabilities
    outputs = tf.keras.layers.Activation("softmax", name="softmax", dtype="float32")(x)
    return tf.keras.Model(inputs, outputs, name="binarynet")



@component
class BinaryNet(Model):
    """Config component for :func:`binarynet` (defaults: the authors' full width)."""

    # Runs made before `kernel_init` existed used Glorot: their run ids leave it out.
    neutral_defaults = {"kernel_init": "glorot_uniform"}

    filters: int = Field(128)
    dense_units: int = Field(1024)
    first_conv_padding: str = Field("valid")
    bn_momentum: float = Field(0.99)  # the authors': Keras defaults (momentum 0.99, eps 1e-3)
    kernel_init: str = Field("glorot_uniform")  # or "uniform": U[-1, 1] (Courbariaux et al.)
    kernel_init_scale: float = Field(1.0)

    def check(self) -> None:
        check_fields(self.filters, self.dense_units, self.first_conv_padding, self.bn_momentum,
                     self.kernel_init, self.kernel_init_scale)

    def build(self, *, input_shape, num_classes, represent):
        return binarynet(
            represent=represent, filters=self.filters, dense_units=self.dense_units,
            first_conv_padding=self.first_conv_padding,
            bn_momentum=float(self.bn_momentum), kernel_init=self.kernel_init,
            kernel_init_scale=float(self.kernel_init_scale), input_shape=input_shape,
            num_classes=num_classes,
        )
