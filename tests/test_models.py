"""BinaryNet's parameter counts, derived from the layer shapes (``docs/methods.md#the-models``)."""
import larq as lq
import numpy as np
import pytest

from experiments.errors import ConfigError
from experiments.optimizers import binary_kernels
from models.binarynet import binarynet
from experiments.models.base import every_layer


def expected_counts(filters, dense_units, padding, classes=10):
    convs = [(3, filters), (filters, filters), (filters, 2 * filters),
             (2 * filters, 2 * filters), (2 * filters, 4 * filters), (4 * filters, 4 * filters)]
    conv_weights = sum(9 * c_in * c_out for c_in, c_out in convs)
    side = 32 if padding == "same" else 30  # the first conv's output
    for _ in range(3):  # three 2x2 max pools
        side //= 2
    flatten = side * side * 4 * filters
    dense = flatten * dense_units + dense_units * dense_units + dense_units * classes
    bn_offsets = 2 * filters + 4 * filters + 8 * filters + 2 * dense_units + classes
    return conv_weights + dense, bn_offsets


@pytest.mark.parametrize("padding,binary_total", [("valid", 10_352_000), ("same", 14_022_016)])
def test_full_binarynet_counts(padding, binary_total):
    binary, real = expected_counts(128, 1024, padding)
    assert (binary, real) == (binary_total, 3850)  # the derivation reproduces the documented numbers
    model = binarynet(represent=every_layer(lq.quantizers.NoOp(precision=1)), first_conv_padding=padding)
    kernels = binary_kernels(model)
    assert sum(int(np.prod(k.shape)) for k in kernels) == binary
    assert all(getattr(k, "precision", None) == 1 for k in kernels)
    reals = [v for v in model.trainable_variables if not any(v is k for k in kernels)]
    assert sum(int(np.prod(v.shape)) for v in reals) == real
    assert all("beta" in v.name for v in reals), "only batch-norm offsets are real-valued"
    assert len(kernels) == 9


def test_reduced_width_and_latent_kernels():
    model = binarynet(represent=every_layer("ste_sign"), filters=8, dense_units=32)
    binary, real = expected_counts(8, 32, "valid")
    assert sum(int(np.prod(k.shape)) for k in binary_kernels(model)) == binary
    quantized = [layer for layer in model.layers if getattr(layer, "kernel_quantizer", None)]
    assert all(isinstance(layer.kernel_quantizer, lq.quantizers.SteSign) for layer in quantized)
    with pytest.raises(ConfigError, match="first_conv_padding"):
        binarynet(represent=every_layer("ste_sign"), first_conv_padding="full")
