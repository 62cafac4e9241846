"""The §5.3 ImageNet models: parameter counts derived from the layer shapes, which
kernels Bop trains, larq-zoo's latent-weight defaults, reduced sizes and bad fields."""
import experiments  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from larq_zoo.literature.binary_alex_net import BinaryAlexNetFactory
from larq_zoo.literature.birealnet import BiRealNetFactory
from larq_zoo.literature.xnornet import XNORNetFactory, xnor_weight_scale
from zookeeper import configure
from zookeeper.core.utils import parse_value_from_string

from experiments.errors import ConfigError
from experiments.optimizers import Bop, binary_kernels
from experiments.optimizers.schedules import Constant
from models.binary_alexnet import BinaryAlexNet
from models.birealnet import BiRealNet
from models.xnornet import XNORNet
from experiments.models.base import every_layer

QUANT_LAYERS = (lq.layers.QuantConv2D, lq.layers.QuantDense)
REAL_LAYERS = (tf.keras.layers.Conv2D, tf.keras.layers.Dense)


def bop_quantizer():
    return lq.quantizers.NoOp(precision=1)


def pooled_side(side):
    """11x11 stride-4 "same" convolution, then three 3/2 "valid" max pools."""
    side = -(-side // 4)
    for _ in range(3):
        side = (side - 3) // 2 + 1
    return side


# -- the architectures, written out layer by layer ----------------------------------
def alexnet_counts(side=224, filters=(64, 192, 384, 384, 256), units=4096, classes=1000):
    f1, f2, f3, f4, f5 = filters
    s = pooled_side(side)
    binary = (11 * 11 * 3 * f1 + 5 * 5 * f1 * f2 + 3 * 3 * f2 * f3 + 3 * 3 * f3 * f4
              + 3 * 3 * f4 * f5                                     # five convolutions
              + s * s * f5 * units + units * units + units * classes)  # three dense
    real = 2 * (f1 + f2 + f3 + f4 + f5 + units + units + classes)  # BN gamma and beta
    return binary, real


def xnornet_counts(side=224, filters=(96, 256, 384, 384, 256), units=4096, k=6, classes=1000):
    f1, f2, f3, f4, f5 = filters
    s = pooled_side(side) - k + 1  # after the k x k "valid" fc6
    binary = (5 * 5 * f1 * f2 + 3 * 3 * f2 * f3 + 3 * 3 * f3 * f4 + 3 * 3 * f4 * f5
              + k * k * f5 * units + 1 * 1 * units * units)
    first_last = 11 * 11 * 3 * f1 + s * s * units * classes  # real, no biases
    bn = 2 * (f1 + f1 + f2 + f3 + f4 + f5 + units + units)  # bn1 ... bn8, with scale
    return binary, first_last + bn


def birealnet_counts(filters=64, classes=1000):
    binary, real = 0, 7 * 7 * 3 * filters + 2 * filters  # real stem + its BN
    c_in = filters
    for width in (filters, 2 * filters, 4 * filters, 8 * filters):
        for _ in range(4):
            binary += 3 * 3 * c_in * width
            real += 2 * width  # BN after the binary convolution
            if c_in != width:
                real += c_in * width + 2 * width  # shortcut: real 1x1 conv + BN
            c_in = width
    real += c_in * classes + classes  # dense with bias
    return binary, real


def size(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


def split(model):
    """(binary, real) trainable variables as larq's Bop selects them."""
    trainable = model.trainable_variables
    return ([v for v in trainable if lq.optimizers.Bop.is_binary_variable(v)],
            [v for v in trainable if not lq.optimizers.Bop.is_binary_variable(v)])


@pytest.fixture(scope="module")
def full_models():
    """The three paper models at 224x224, 1,000 classes, as Bop builds them."""
    return {cls: cls().build(input_shape=(224, 224, 3), num_classes=1000,
                             represent=every_layer(bop_quantizer()))
            for cls in (BinaryAlexNet, XNORNet, BiRealNet)}


# -- full size ------------------------------------------------------------------------
@pytest.mark.parametrize("cls,derive,pinned,n_binary,n_real_kernels", [
    (BinaryAlexNet, alexnet_counts, (61_827_776, 20_944), 8, 0),
    (XNORNet, xnornet_counts, (58_236_928, 4_150_176), 6, 2),
    (BiRealNet, birealnet_counts, (10_985_472, 704_040), 16, 5),
])
def test_full_size_counts_and_bop_selection(full_models, cls, derive, pinned, n_binary,
                                           n_real_kernels):
    assert pooled_side(224) == 6  # 224 -> 56 -> 27 -> 13 -> 6
    assert derive() == pinned  # the derivation reproduces the numbers in the docstrings
    model = full_models[cls]
    binary, real = split(model)
    assert (size(binary), size(real)) == pinned
    # Bop selects exactly the kernels of the quantized layers ...
    quant_kernels = [layer.kernel for layer in model.layers if isinstance(layer, QUANT_LAYERS)]
    assert len(quant_kernels) == n_binary
    assert {id(v) for v in binary} == {id(k) for k in quant_kernels}
    assert {id(v) for v in binary_kernels(model)} == {id(k) for k in quant_kernels}
    # ... and no real-valued layer has a precision-1 quantizer.
    real_layers = [layer for layer in model.layers
                   if isinstance(layer, REAL_LAYERS) and not isinstance(layer, QUANT_LAYERS)]
    assert len(real_layers) == n_real_kernels
    for layer in real_layers:
        assert getattr(layer, "kernel_quantizer", None) is None
        assert not lq.optimizers.Bop.is_binary_variable(layer.kernel)
    assert model.output_shape == (None, 1000)


def test_differences_from_larq_zoo_are_the_documented_ones(full_models):
    """Binary AlexNet and XNOR-Net: larq-zoo lacks only the batch-norm scales (and has L2
    on XNOR-Net's binary kernels); Bi-Real Net is larq-zoo's network."""
    def gammas(model):
        return size(v for v in model.trainable_variables if "gamma" in v.name)

    ours = full_models[XNORNet]
    zoo = XNORNetFactory(input_shape=(224, 224, 3), num_classes=1000).build()
    assert size(ours.trainable_variables) - gammas(ours) == size(zoo.trainable_variables)
    assert [tuple(v.shape) for v in binary_kernels(ours)] == \
        [tuple(v.shape) for v in binary_kernels(zoo)]
    assert (len(ours.losses), len(zoo.losses)) == (2, 8)  # L2: first/last vs all kernels

    ours = BinaryAlexNet().build(input_shape=(64, 64, 3), num_classes=10,
                                 represent=every_layer("model_default"))
    zoo = BinaryAlexNetFactory(input_shape=(64, 64, 3), num_classes=10).build()
    assert size(ours.trainable_variables) - gammas(ours) == size(zoo.trainable_variables)
    assert [size([v]) for v in binary_kernels(ours)] == [size([v]) for v in binary_kernels(zoo)]

    ours = BiRealNet(filters=8).build(input_shape=(32, 32, 3), num_classes=10,
                                      represent=every_layer("model_default"))
    zoo = BiRealNetFactory(filters=8, input_shape=(32, 32, 3), num_classes=10).build()
    assert [tuple(v.shape) for v in ours.weights] == [tuple(v.shape) for v in zoo.weights]
    assert [type(layer) for layer in ours.layers] == [type(layer) for layer in zoo.layers]


# -- latent weights ("model_default") -------------------------------------------------
def quantizer_kinds(model):
    """Per quantized layer: the kernel quantizer's class (or function) and the clip value
    of its ``WeightClip`` constraint (None: no constraint)."""
    kinds = []
    for layer in model.layers:
        if isinstance(layer, QUANT_LAYERS):
            q, c = layer.kernel_quantizer, layer.kernel_constraint
            assert c is None or isinstance(c, lq.constraints.WeightClip)
            kinds.append((type(q) if isinstance(q, lq.quantizers.Quantizer) else q,
                          None if c is None else c.clip_value))
    return kinds


def test_model_default_uses_larq_zoos_latent_quantizers():
    alexnet = BinaryAlexNet(conv_filters=(4, 8, 8, 8, 4), dense_units=16).build(
        input_shape=(64, 64, 3), num_classes=10, represent=every_layer("model_default"))
    zoo = BinaryAlexNetFactory(input_shape=(64, 64, 3), num_classes=10).build()
    assert quantizer_kinds(alexnet) == quantizer_kinds(zoo)
    assert quantizer_kinds(alexnet) == [(lq.quantizers.SteSign, 1)] * 8

    xnor = XNORNet(conv_filters=(4, 8, 8, 8, 4), dense_units=16, fc_kernel_size=1).build(
        input_shape=(64, 64, 3), num_classes=10, represent=every_layer("model_default"))
    assert quantizer_kinds(xnor) == [(xnor_weight_scale, 1)] * 6

    bireal = BiRealNet(filters=4).build(input_shape=(32, 32, 3), num_classes=10,
                                        represent=every_layer("model_default"))
    zoo = BiRealNetFactory(filters=4, input_shape=(32, 32, 3), num_classes=10).build()
    assert quantizer_kinds(bireal) == quantizer_kinds(zoo)
    assert quantizer_kinds(bireal) == [
        (lq.quantizers.MagnitudeAwareSign, 1)] * 16

    for cls, kwargs in [(BinaryAlexNet, {}), (XNORNet, {}), (BiRealNet, {})]:
        with pytest.raises(ConfigError, match="brings the model.s own constraint"):
            cls(**kwargs).build(input_shape=(224, 224, 3), num_classes=10,
                                represent=every_layer("model_default", lq.constraints.WeightClip(1.0)))


def test_other_quantizers_are_applied_to_every_binary_kernel():
    model = XNORNet(conv_filters=(4, 8, 8, 8, 4), dense_units=16, fc_kernel_size=1).build(
        input_shape=(64, 64, 3), num_classes=10, represent=every_layer("ste_sign", lq.constraints.WeightClip(2.0)))
    assert quantizer_kinds(model) == [(lq.quantizers.SteSign, 2)] * 6
    latent = BiRealNet(filters=4).build(input_shape=(32, 32, 3), num_classes=10,
                                        represent=every_layer(None))  # the approximation test's twin
    assert quantizer_kinds(latent) == [(None, None)] * 16


# -- reduced scale --------------------------------------------------------------------
REDUCED = [
    (BinaryAlexNet, dict(conv_filters=(4, 12, 24, 24, 16), dense_units=32), (64, 64, 3),
     lambda: alexnet_counts(64, (4, 12, 24, 24, 16), 32, 10)),
    (XNORNet, dict(conv_filters=(6, 16, 24, 24, 16), dense_units=32, fc_kernel_size=1),
     (64, 64, 3), lambda: xnornet_counts(64, (6, 16, 24, 24, 16), 32, 1, 10)),
    (BiRealNet, dict(filters=4), (32, 32, 3), lambda: birealnet_counts(4, 10)),
]


@pytest.mark.parametrize("cls,fields,input_shape,derive", REDUCED)
def test_reduced_build_counts_and_one_bop_step(cls, fields, input_shape, derive):
    tf.keras.utils.set_random_seed(0)
    component = cls()
    configure(component, fields)
    bop = Bop(gamma=Constant(value=0.5), tau=Constant(value=0.0))
    configure(bop, {})
    model = component.build(input_shape=input_shape, num_classes=10,
                            represent=bop.represent)
    binary, real = split(model)
    assert (size(binary), size(real)) == derive()
    optimizer, _ = bop.build(model, steps_per_epoch=1, epochs=1)
    images = tf.random.uniform((4, *input_shape), -1, 1)
    labels = tf.constant([0, 1, 2, 3])
    before = [v.numpy() for v in real]
    with tf.GradientTape() as tape:
        probs = model(images, training=True)
        loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, probs))
        loss += tf.add_n(model.losses) if model.losses else 0.0
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    assert probs.shape == (4, 10) and np.isfinite(loss.numpy())
    for v in binary:  # Bop's weights are binary after its first step
        assert set(np.unique(v.numpy())) <= {-1.0, 1.0}, v.name
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(before, real))  # Adam moved


def test_tuple_field_from_the_command_line():
    component = BinaryAlexNet()
    configure(component, {"conv_filters": parse_value_from_string("(4, 8, 8, 8, 4)"),
                          "dense_units": parse_value_from_string("16")})
    component.check()
    assert component.conv_filters == (4, 8, 8, 8, 4)


def test_too_small_inputs_name_the_minimum():
    with pytest.raises(ConfigError, match="at least 57x57"):
        BinaryAlexNet().build(input_shape=(56, 56, 3), num_classes=10, represent=every_layer(None))
    BinaryAlexNet(conv_filters=(2, 2, 2, 2, 2), dense_units=4).build(
        input_shape=(57, 57, 3), num_classes=10, represent=every_layer(None))
    with pytest.raises(ConfigError, match=r"at least 217x217.*fc_kernel_size <= 1"):
        XNORNet().build(input_shape=(64, 64, 3), num_classes=10, represent=every_layer(None))
    with pytest.raises(ConfigError, match="at least 57x57"):
        XNORNet(fc_kernel_size=1).build(input_shape=(32, 32, 3), num_classes=10,
                                        represent=every_layer(None))
    with pytest.raises(ConfigError, match="static"):
        BiRealNet().build(input_shape=(None, None, 3), num_classes=10, represent=every_layer(None))


@pytest.mark.parametrize("cls,fields,match", [
    (BinaryAlexNet, dict(conv_filters=(64, 192, 384, 384)), "five integers"),
    (BinaryAlexNet, dict(conv_filters=(64, 0, 384, 384, 256)), "five integers"),
    (BinaryAlexNet, dict(dense_units=0), "dense_units"),
    (XNORNet, dict(conv_filters=(96, 256, 384, 384, 2.5)), "five integers"),
    (XNORNet, dict(fc_kernel_size=0), "fc_kernel_size"),
    (XNORNet, dict(l2=-1e-7), "l2"),
    (BiRealNet, dict(filters=0), "filters"),
])
def test_bad_fields_are_config_errors(cls, fields, match):
    component = cls()
    configure(component, fields)
    with pytest.raises(ConfigError, match=match):
        component.check()
    with pytest.raises(ConfigError, match=match):
        component.build(input_shape=(224, 224, 3), num_classes=10, represent=every_layer(None))
