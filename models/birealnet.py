"""Bi-Real Net (ResNet-18 layout), as trained with Bop in §5.3 of the paper.

Liu, Wu, Luo, Yang, Liu and Cheng, "Bi-Real Net: Enhancing the Performance of 1-bit CNNs
with Improved Representational Capability and Advanced Training Algorithm" (ECCV 2018),
in the form of the Bop authors' code (plumerai/rethinking-bnn-optimization,
``bnn_optimization/models/birealnet.py``, commit 2823525, the one with the ``bop``
hyperparameters of the README's §5.3 command): a real 7x7 stride-2 stem (64 filters) -
BN - 3/2 max pool; 16 binary 3x3 convolutions (4 at each of 64, 128, 256, 512 filters),
each with an ``approx_sign`` input quantizer, followed by BN and added to its own real
shortcut (identity, or AvgPool 2 + real 1x1 conv + BN where the width doubles and the
first conv of the stage strides by 2); global average pool, real dense layer with bias,
softmax. BN momentum 0.8 (epsilon 1e-3, with scale) everywhere, Glorot-normal kernels,
no biases except in the dense layer.

larq-zoo's ``BiRealNetFactory`` (``larq_zoo/literature/birealnet.py``, larq-zoo 2.4.0)
builds exactly this network, so it is reused: the only difference is the binary kernels'
representation, which here comes from the optimizer, asked per binary convolution
(``binary_conv1`` ... ``binary_conv16`` in the order larq-zoo creates them; Bop marks
them ``NoOp(precision=1)`` with no constraint, as the authors' ``kernel_quantizer=None``).
Each layer's own representation is larq-zoo's latent weights: ``magnitude_aware_sign``
clipped by ``weight_clip``. (An older
version of the authors' file, with only latent-weight ``default`` hyperparameters, has 5
blocks in the first stage, 17 binary convolutions; the Bop version has 16, as larq-zoo.)

Full size (224x224, 1,000 classes): 10,985,472 binary weights and 704,040 real-valued
parameters (stem, shortcuts, batch norm, dense). Every layer pads "same", so any input
builds (32x32 ends in a 1x1 map); ``filters`` (the stem width, doubled three times)
gives the suite's reduced CPU scales.

Reported with this model: 56.6 % top-1 with Bop, 300 epochs (authors' README), 54.2 % in
arXiv v1; larq-zoo's latent-weight model: 57.47 % (see ``results/reported.yaml``).
"""
from typing import Any

import tensorflow as tf
from larq_zoo.literature.birealnet import BiRealNetFactory
from zookeeper import Field, component, factory

from experiments.errors import ConfigError
from experiments.models.base import BinaryLayers, Model, check_input

LATENT_QUANTIZER = BiRealNetFactory.kernel_quantizer  # "magnitude_aware_sign"
LATENT_CONSTRAINT = BiRealNetFactory.kernel_constraint  # "weight_clip"


@factory
class _BiRealNetFactory(BiRealNetFactory):
    """larq-zoo's Bi-Real Net, its binary kernels' quantizer and constraint asked of the
    optimizer for each binary convolution: larq-zoo's ``residual_block`` reads
    ``self.kernel_quantizer`` / ``self.kernel_constraint`` for the one binary
    convolution it creates, so the answer for that block is fetched just before it."""

    kernels: Any = Field()  # an experiments.models.base.BinaryLayers

    def residual_block(self, x, *args, **kwargs):
        self._current = self.kernels(f"binary_conv{len(self.kernels.asked) + 1}")
        return super().residual_block(x, *args, **kwargs)

    @property
    def kernel_quantizer(self):
        return self._current["kernel_quantizer"]

    @property
    def kernel_constraint(self):
        return self._current["kernel_constraint"]


def birealnet(
    *,
    represent,
    filters: int = 64,
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
) -> tf.keras.Model:
    """Build Bi-Real Net (larq-zoo's ``BiRealNetFactory``, no pretrained weights).

    Arguments:
        represent: the optimizer's per-layer representation of the 16 binary kernels
            (not the real stem, shortcuts and dense layer; ``experiments.models.base``). Bop marks
            them ``NoOp(precision=1)``; this model's own (larq-zoo's) is
            ``magnitude_aware_sign`` clipped to [-1, 1].
        filters: stem width; the stages have 1, 2, 4, 8 times as many (paper: 64).

    Returns:
        An uncompiled ``tf.keras.Model`` whose output is a softmax over classes.
    """
    check_input("Bi-Real Net", input_shape, num_classes)
    kernels = BinaryLayers("birealnet18", represent, LATENT_QUANTIZER, LATENT_CONSTRAINT)
    return _BiRealNetFactory(
        filters=filters, kernels=kernels, input_shape=tuple(input_shape),
        num_classes=num_classes, weights=None, include_top=True,
    ).build()


@component
class BiRealNet(Model):
    """Config component for :func:`birealnet` (defaults: the paper's full model)."""

    filters: int = Field(64)

    def check(self) -> None:
        if self.filters < 1:
            raise ConfigError(f"model.filters must be >= 1 (paper: 64), got {self.filters}")

    def build(self, *, input_shape, num_classes, represent):
        self.check()
        return birealnet(
            represent=represent, filters=self.filters, input_shape=tuple(input_shape),
            num_classes=num_classes,
        )
