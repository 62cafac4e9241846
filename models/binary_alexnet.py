"""Binary AlexNet ("BinaryNet" on ImageNet), as trained with Bop in §5.3 of the paper.

Hubara, Courbariaux, Soudry, El-Yaniv and Bengio, "Binarized Neural Networks" (NeurIPS
2016) applied to AlexNet, in the form of the Bop authors' code
(plumerai/rethinking-bnn-optimization, ``bnn_optimization/models/binary_alexnet.py``,
commit 2823525): five binary convolutions (64 11x11 stride 4, 192 5x5, 384, 384, 256
3x3; "same" padding, no biases) with a 3/2 max pool after the first, second and fifth,
then Flatten and three binary dense layers (4096, 4096, classes), each layer followed by
batch norm (momentum 0.9, epsilon 1e-3, *with* scale), then softmax. No ReLU anywhere.
Every kernel is binary, the first and the last included: all are ``QuantConv2D`` /
``QuantDense`` kernels, which the authors' Bop selects by name (``"quant_"`` and
``"/kernel"`` in the variable name, ``bnn_optimization/optimizers.py``). Activations are
binarised by the next layer's ``ste_sign`` input quantizer; the first convolution sees
the real-valued image.

How larq-zoo's ``BinaryAlexNetFactory`` (``larq_zoo/literature/binary_alex_net.py``,
larq-zoo 2.4.0) differs, and why it is not reused here:

* its batch norms have no scale (``scale=False``); the authors' have a trainable gamma,
  10,472 more real-valued parameters at full size;
* its dense layers are 1x1 ``QuantConv2D`` after a ``Reshape``: the same function and
  count, but kernels of shape (1, 1, n_in, n_out) instead of (n_in, n_out);
* its only width knob is ``inflation_ratio`` (all convolutions but the last).

From larq-zoo this module takes the latent-weight representation used when the optimizer
asks for each layer's own (``BinaryLayer.own()``, e.g. ``ste=model_default``): ``ste_sign`` kernels clipped by
``weight_clip`` (``WeightClip(1)``).

Full size (224x224, 1,000 classes): 61,827,776 binary weights and 20,944 real-valued
parameters (batch-norm offsets and scales). ``conv_filters`` and ``dense_units`` give the
suite's reduced CPU scales; the smallest input is 57x57 (the third max pool needs a 3x3
map), so 64x64 works and 32x32 does not.

Reported with this model: 41.1 % top-1 with Bop, 150 epochs (authors' README); larq-zoo's
latent-weight model: 36.30 % (see ``results/reported.yaml``).
"""
import math

import larq as lq
import tensorflow as tf
from larq_zoo.literature.binary_alex_net import BinaryAlexNetFactory
from zookeeper import Field, component

from experiments.errors import ConfigError
from experiments.models.base import BinaryLayers, Model, check_input

LATENT_QUANTIZER = BinaryAlexNetFactory.kernel_quantizer  # "ste_sign"
LATENT_CONSTRAINT = BinaryAlexNetFactory.kernel_constraint  # "weight_clip"
CONV_KERNELS = (11, 5, 3, 3, 3)
POOL_AFTER = (True, True, False, False, True)


def final_map_side(side: int) -> int:
    """Spatial side after the five convolutions and three max pools (0 = too small)."""
    side = math.ceil(side / 4)  # 11x11 stride 4, "same"
    for _ in range(3):  # 3x3 stride 2 "valid" max pools; the other convs keep the size
        side = (side - 3) // 2 + 1 if side >= 3 else 0
    return side


def min_input_side() -> int:
    return next(s for s in range(1, 10_000) if final_map_side(s) >= 1)


def _check_input(input_shape, num_classes):
    check_input("Binary AlexNet", input_shape, num_classes)
    if min(input_shape[:2]) < min_input_side():
        raise ConfigError(
            f"Binary AlexNet needs inputs of at least {min_input_side()}x{min_input_side()} "
            f"(three 3/2 max pools after a stride-4 convolution), got {tuple(input_shape)}"
        )


def binary_alexnet(
    *,
    represent,
    conv_filters=(64, 192, 384, 384, 256),
    dense_units: int = 4096,
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
) -> tf.keras.Model:
    """Build Binary AlexNet as the Bop authors define it.

    Arguments:
        represent: the optimizer's per-layer representation of the eight binary kernels
            (``experiments.models.base``). Bop marks them ``NoOp(precision=1)`` (the weights *are*
            binary); this model's own (larq-zoo's) is ``ste_sign`` clipped to [-1, 1].
        conv_filters: the five convolutions' widths (paper: 64, 192, 384, 384, 256).
        dense_units: the two hidden dense layers' width (paper: 4096).

    Returns:
        An uncompiled ``tf.keras.Model`` whose output is a softmax over classes.

    Raises:
        ConfigError: an input smaller than 57x57.
    """
    _check_input(input_shape, num_classes)
    binary = BinaryLayers("binary_alexnet", represent, LATENT_QUANTIZER, LATENT_CONSTRAINT)

    def bn(name):
        return tf.keras.layers.BatchNormalization(momentum=0.9, scale=True, name=name)

    x = inputs = tf.keras.Input(shape=input_shape)
    for i, (filters, kernel, pool) in enumerate(zip(conv_filters, CONV_KERNELS, POOL_AFTER), 1):
        x = lq.layers.QuantConv2D(
            filters, kernel, strides=4 if i == 1 else 1, padding="same",
            input_quantizer=None if i == 1 else "ste_sign", use_bias=False, name=f"conv{i}",
            **binary(f"conv{i}"),
        )(x)
        if pool:
            x = tf.keras.layers.MaxPool2D(3, 2, name=f"pool{i}")(x)
        x = bn(f"bn{i}")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate((dense_units, dense_units, num_classes), 1):
        x = lq.layers.QuantDense(units, input_quantizer="ste_sign", use_bias=False,
                                 name=f"dense{i}", **binary(f"dense{i}"))(x)
        x = bn(f"bn_dense{i}")(x)
    # float32 under a mixed policy too: the loss and metrics read these probabilities
    outputs = tf.keras.layers.Activation("softmax", name="softmax", dtype="float32")(x)
    return tf.keras.Model(inputs, outputs, name="binary_alexnet")


@component
class BinaryAlexNet(Model):
    """Config component for :func:`binary_alexnet` (defaults: the paper's full model)."""

    conv_filters: tuple = Field((64, 192, 384, 384, 256))
    dense_units: int = Field(4096)

    def check(self) -> None:
        filters = tuple(self.conv_filters)
        if len(filters) != 5 or not all(isinstance(f, int) and f >= 1 for f in filters):
            raise ConfigError(
                f"model.conv_filters must be five integers >= 1 (paper: 64, 192, 384, 384, "
                f"256), got {self.conv_filters!r}"
            )
        if self.dense_units < 1:
            raise ConfigError(
                f"model.dense_units must be >= 1 (paper: 4096), got {self.dense_units}")

    def build(self, *, input_shape, num_classes, represent):
        self.check()
        return binary_alexnet(
            represent=represent, conv_filters=tuple(self.conv_filters), dense_units=self.dense_units,
            input_shape=tuple(input_shape), num_classes=num_classes,
        )
