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
representation, which here comes from the optimizer (Bop passes ``NoOp(precision=1)``
and no constraint, as the authors' ``kernel_quantizer=None``). ``"model_default"`` keeps
larq-zoo's latent weights: ``magnitude_aware_sign`` clipped by ``weight_clip``. (An older
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

from experiments import _keras2  # noqa: F401
import tensorflow as tf
from larq_zoo.literature.birealnet import BiRealNetFactory
from zookeeper import Field, component, factory

from experiments.errors import ConfigError
from models.base import MODEL_DEFAULT, Model, binary_kernel_args, check_input  # noqa: F401

LATENT_QUANTIZER = BiRealNetFactory.kernel_quantizer  # "magnitude_aware_sign"
LATENT_CONSTRAINT = BiRealNetFactory.kernel_constraint  # "weight_clip"


@factory
class _BiRealNetFactory(BiRealNetFactory):
    """larq-zoo's Bi-Real Net with the binary kernels' quantizer and constraint as
    fields, so that the optimizer can supply them."""

    kernel_quantizer: Any = Field(LATENT_QUANTIZER)
    kernel_constraint: Any = Field(LATENT_CONSTRAINT)


def birealnet(
    *,
    kernel_quantizer,
    kernel_constraint=None,
    filters: int = 64,
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
) -> tf.keras.Model:
    """Build Bi-Real Net (larq-zoo's ``BiRealNetFactory``, no pretrained weights).

    Arguments:
        kernel_quantizer: quantizer of the 16 binary kernels (not the real stem,
            shortcuts and dense layer). Bop passes ``NoOp(precision=1)``;
            ``"model_default"`` selects larq-zoo's latent weights
            (``magnitude_aware_sign``, clipped to [-1, 1]); any other quantizer is used
            as given.
        kernel_constraint: constraint of the binary kernels (not with ``"model_default"``).
        filters: stem width; the stages have 1, 2, 4, 8 times as many (paper: 64).

    Returns:
        An uncompiled ``tf.keras.Model`` whose output is a softmax over classes.
    """
    check_input("Bi-Real Net", input_shape, num_classes)
    binary = binary_kernel_args(kernel_quantizer, kernel_constraint, LATENT_QUANTIZER,
                                LATENT_CONSTRAINT)
    return _BiRealNetFactory(
        filters=filters, **binary, input_shape=tuple(input_shape),
        num_classes=num_classes, weights=None, include_top=True,
    ).build()


@component
class BiRealNet(Model):
    """Config component for :func:`birealnet` (defaults: the paper's full model)."""

    filters: int = Field(64)

    def check(self) -> None:
        if self.filters < 1:
            raise ConfigError(f"model.filters must be >= 1 (paper: 64), got {self.filters}")

    def build(self, *, input_shape, num_classes, kernel_quantizer, kernel_constraint=None):
        self.check()
        return birealnet(
            kernel_quantizer=kernel_quantizer, kernel_constraint=kernel_constraint,
            filters=self.filters, input_shape=tuple(input_shape), num_classes=num_classes,
        )
