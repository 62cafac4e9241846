"""XNOR-Net, as trained with Bop in §5.3 of the paper.

Rastegari, Ordonez, Redmon and Farhadi, "XNOR-Net: ImageNet Classification Using Binary
Convolutional Neural Networks" (ECCV 2016), in the form of the Bop authors' code
(plumerai/rethinking-bnn-optimization, ``bnn_optimization/models/xnor.py``, commit
2823525):

* real-valued first convolution 96 11x11 stride 4 ("same", no bias) - BN - ReLU - max
  pool 3/2, and real-valued last dense layer (classes, no bias), both with an L2
  regulariser of 5e-7 (their ``regularization_quantity``);
* binary convolutions 256 5x5, 384, 384, 256 3x3 ("same"), then 4096 6x6 ("valid": a
  dense layer over the 6x6 map) and 4096 1x1, each *preceded* by batch norm (XNOR order:
  BN - binarise - conv - pool), max pools 3/2 after the 5x5 and the last 3x3; then BN -
  ReLU - Flatten - dense - softmax;
* batch norm momentum 0.9 with scale; epsilon 1e-5 after the first convolution, 1e-3
  after the last binary layer and 1e-4 elsewhere; no regulariser on binary kernels.

How larq-zoo's ``XNORNetFactory`` (``larq_zoo/literature/xnornet.py``, larq-zoo 2.4.0)
differs, and why it is not reused:

* its batch norms have no scale (``scale=False``): 9,664 fewer real parameters;
* its L2 5e-7 regulariser is also on every binary kernel. The authors' Bop model has
  none there: under Bop the gradient 2·λ·w of an L2 term on a ±1 weight has the sign of
  the weight and so pushes every weight towards a flip.

Layer order, kernel sizes, paddings, pools, epsilons and momenta are the same. From
larq-zoo this module takes each binary layer's own latent-weight representation (what an
optimizer gets from ``BinaryLayer.own()``, e.g. under ``ste=model_default``): ``xnor_weight_scale`` (clip to [-1, 1],
then ``ste_sign`` times the per-filter mean absolute weight) and ``weight_clip``.

Full size (224x224, 1,000 classes): 58,236,928 binary weights and 4,150,176 real-valued
parameters (first and last layer 4,130,848, batch-norm offsets and scales 19,328).
At the paper's settings the 6x6 "valid" layer needs at least a 6x6 map after the third
pool, i.e. inputs of at least 217x217 (which is why larq-zoo's XNORNet builds only near
224x224). For reduced scales ``fc_kernel_size`` sets that layer's kernel (1 at
64x64, whose final map is 1x1); :func:`min_input_side` gives the smallest input for a
kernel size, and ``build`` raises ``ConfigError`` naming it. ``conv_filters``,
``dense_units`` and ``l2`` are the other knobs.

Reported with this model: 45.9 % top-1 with Bop, 100 epochs (authors' README); larq-zoo's
latent-weight model: 44.96 % (see ``results/reported.yaml``).
"""
import math

import larq as lq
import tensorflow as tf
from larq_zoo.literature.xnornet import XNORNetFactory, xnor_weight_scale
from zookeeper import Field, component

from experiments.errors import ConfigError
from experiments.models.base import BinaryLayers, Model, check_input

LATENT_QUANTIZER = xnor_weight_scale
LATENT_CONSTRAINT = XNORNetFactory.kernel_constraint  # "weight_clip"


def pooled_map_side(side: int) -> int:
    """Spatial side after the first convolution and the three max pools (0 = too small)."""
    side = math.ceil(side / 4)  # 11x11 stride 4, "same"
    for _ in range(3):  # 3x3 stride 2 "valid" max pools; the other convs keep the size
        side = (side - 3) // 2 + 1 if side >= 3 else 0
    return side


def min_input_side(fc_kernel_size: int = 6) -> int:
    """Smallest input side at which the ``fc_kernel_size`` "valid" layer fits (6 -> 217)."""
    return next(s for s in range(1, 100_000) if pooled_map_side(s) >= fc_kernel_size)


def _check_input(input_shape, num_classes, fc_kernel_size):
    check_input("XNOR-Net", input_shape, num_classes)
    side = min(input_shape[:2])
    need = min_input_side(fc_kernel_size)
    if side < need:
        fits = pooled_map_side(side)
        hint = (f"; at this size the map before it is {fits}x{fits}, so set "
                f"model.fc_kernel_size <= {fits}" if fits >= 1 else
                f"; no kernel size fits below {min_input_side(1)}x{min_input_side(1)}")
        raise ConfigError(
            f"XNOR-Net with fc_kernel_size={fc_kernel_size} needs inputs of at least "
            f"{need}x{need} (the paper's 6x6 'valid' layer needs 217x217), got "
            f"{tuple(input_shape)}{hint}"
        )


def xnornet(
    *,
    represent,
    conv_filters=(96, 256, 384, 384, 256),
    dense_units: int = 4096,
    fc_kernel_size: int = 6,
    l2: float = 5e-7,
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
) -> tf.keras.Model:
    """Build XNOR-Net as the Bop authors define it.

    Arguments:
        represent: the optimizer's per-layer representation of the six binary kernels
            (not the real first convolution and last dense layer; ``experiments.models.base``). Bop
            marks them ``NoOp(precision=1)``; this model's own (larq-zoo's) is
            ``xnor_weight_scale`` clipped to [-1, 1].
        conv_filters: widths of the five convolutions, the real first one included
            (paper: 96, 256, 384, 384, 256).
        dense_units: width of the two binary "dense" layers (paper: 4096).
        fc_kernel_size: kernel of the first of them, a "valid" convolution over the
            pooled map (paper: 6, the whole 6x6 map at 224x224).
        l2: L2 coefficient on the real first and last kernels (paper: 5e-7; 0 = none).

    Returns:
        An uncompiled ``tf.keras.Model`` whose output is a softmax over classes.

    Raises:
        ConfigError: an input too small for ``fc_kernel_size`` (the message names the
            minimum).
    """
    _check_input(input_shape, num_classes, fc_kernel_size)
    kernel = BinaryLayers("xnornet", represent, LATENT_QUANTIZER, LATENT_CONSTRAINT)

    def binary(name):
        return dict(input_quantizer="ste_sign", use_bias=False, name=name, **kernel(name))
    regularizer = tf.keras.regularizers.l2(l2) if l2 > 0 else None
    f1, f2, f3, f4, f5 = conv_filters

    def bn(name, epsilon=1e-4):
        return tf.keras.layers.BatchNormalization(momentum=0.9, scale=True, epsilon=epsilon,
                                                  name=name)

    def pool(name):
        return tf.keras.layers.MaxPool2D(3, 2, name=name)

    x = inputs = tf.keras.Input(shape=input_shape)
    x = tf.keras.layers.Conv2D(f1, 11, strides=4, padding="same", use_bias=False,
                               kernel_regularizer=regularizer, name="conv1")(x)
    x = bn("bn1", epsilon=1e-5)(x)
    x = tf.keras.layers.Activation("relu", name="relu1")(x)
    x = pool("pool1")(x)
    x = bn("bn2")(x)
    x = lq.layers.QuantConv2D(f2, 5, padding="same", **binary("conv2"))(x)
    x = pool("pool2")(x)
    x = bn("bn3")(x)
    x = lq.layers.QuantConv2D(f3, 3, padding="same", **binary("conv3"))(x)
    x = bn("bn4")(x)
    x = lq.layers.QuantConv2D(f4, 3, padding="same", **binary("conv4"))(x)
    x = bn("bn5")(x)
    x = lq.layers.QuantConv2D(f5, 3, padding="same", **binary("conv5"))(x)
    x = pool("pool5")(x)
    x = bn("bn6")(x)
    x = lq.layers.QuantConv2D(dense_units, fc_kernel_size, padding="valid",
                              **binary("fc6"))(x)
    x = bn("bn7")(x)
    x = lq.layers.QuantConv2D(dense_units, 1, padding="valid", **binary("fc7"))(x)
    x = bn("bn8", epsilon=1e-3)(x)
    x = tf.keras.layers.Activation("relu", name="relu8")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    x = tf.keras.layers.Dense(num_classes, use_bias=False, kernel_regularizer=regularizer,
                              name="fc8")(x)
    # float32 under a mixed policy too: the loss and metrics read these probabilities
    outputs = tf.keras.layers.Activation("softmax", name="softmax", dtype="float32")(x)
    return tf.keras.Model(inputs, outputs, name="xnornet")


@component
class XNORNet(Model):
    """Config component for :func:`xnornet` (defaults: the paper's full model)."""

    conv_filters: tuple = Field((96, 256, 384, 384, 256))
    dense_units: int = Field(4096)
    fc_kernel_size: int = Field(6)
    l2: float = Field(5e-7)

    def check(self) -> None:
        filters = tuple(self.conv_filters)
        if len(filters) != 5 or not all(isinstance(f, int) and f >= 1 for f in filters):
            raise ConfigError(
                f"model.conv_filters must be five integers >= 1 (paper: 96, 256, 384, 384, "
                f"256), got {self.conv_filters!r}"
            )
        if self.dense_units < 1:
            raise ConfigError(
                f"model.dense_units must be >= 1 (paper: 4096), got {self.dense_units}")
        if self.fc_kernel_size < 1:
            raise ConfigError(
                f"model.fc_kernel_size must be >= 1 (paper: 6, needs 217x217 inputs; 1 at "
                f"64x64), got {self.fc_kernel_size}"
            )
        if self.l2 < 0:
            raise ConfigError(f"model.l2 must be >= 0 (paper: 5e-7, 0 = none), got {self.l2}")

    def build(self, *, input_shape, num_classes, represent):
        self.check()
        return xnornet(
            represent=represent, conv_filters=tuple(self.conv_filters), dense_units=self.dense_units,
            fc_kernel_size=self.fc_kernel_size, l2=float(self.l2),
            input_shape=tuple(input_shape), num_classes=num_classes,
        )
