"""Latent-weight optimizers: Xavier learning-rate scaling, clipping, variable split."""
import math

import numpy as np
import pytest
import tensorflow as tf
from zookeeper import configure

from experiments.optimizers import (LatentAdam, LatentMomentum, LatentSGD, binary_kernels,
                                    xavier_lr_multiplier)
from experiments.models.base import BinaryLayer
from experiments.optimizers.schedules import Constant, Staircase
from models.binarynet import binarynet


def test_xavier_multiplier_dense_and_conv():
    # Courbariaux et al.: W_LR_scale = 1 / sqrt(1.5 / (num_inputs + num_units))
    assert xavier_lr_multiplier((1024, 10)) == pytest.approx(1 / math.sqrt(1.5 / 1034))
    # conv 3x3, 128 -> 256: fans 9*128 and 9*256
    assert xavier_lr_multiplier((3, 3, 128, 256)) == pytest.approx(1 / math.sqrt(1.5 / (9 * 384)))
    with pytest.raises(ValueError):
        xavier_lr_multiplier((10,))


LAYER = BinaryLayer("binarynet", "conv2", 1, "ste_sign", "weight_clip")


def _latent(cls, **fields):
    component = cls(**fields)
    configure(component, {})
    return component


def _one_step(model, optimizer):
    images = tf.random.stateless_normal((8, 32, 32, 3), seed=(1, 2))
    labels = tf.range(8) % 10
    with tf.GradientTape() as tape:
        probs = model(images, training=True)
        loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, probs))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))


def test_xavier_scaling_scales_each_layers_adam_step():
    """Adam's first step is lr * sign(g) (up to eps), so each kernel moves by lr * its factor."""
    tf.keras.utils.set_random_seed(0)
    component = _latent(LatentAdam, lr=Constant(value=1e-4), clip=0.0, xavier_scaling=True)
    model = binarynet(represent=component.represent, filters=4, dense_units=8)
    optimizer, _ = component.build(model, steps_per_epoch=1, epochs=1)
    before = {v.name: v.numpy() for v in model.trainable_variables}
    _one_step(model, optimizer)
    kernels = {v.name for v in binary_kernels(model)}
    for v in model.trainable_variables:
        step = np.abs(v.numpy() - before[v.name])
        moved = step[step > 0]
        assert moved.size > 0, f"{v.name} did not move"
        factor = xavier_lr_multiplier(v.shape) if v.name in kernels else 1.0
        np.testing.assert_allclose(np.median(moved), 1e-4 * factor, rtol=1e-2, err_msg=v.name)


def test_clipping_and_ste_for_latent_weights():
    tf.keras.utils.set_random_seed(0)
    component = _latent(LatentSGD, lr=Constant(value=100.0), clip=1.0)
    model = binarynet(represent=component.represent, filters=4, dense_units=8)
    optimizer, _ = component.build(model, steps_per_epoch=1, epochs=1)
    _one_step(model, optimizer)
    for kernel in binary_kernels(model):
        assert np.abs(kernel.numpy()).max() <= 1.0
        assert np.abs(kernel.numpy()).max() == pytest.approx(1.0), "lr 100 must hit the clip"
    no_clip = _latent(LatentSGD, lr=Constant(value=1.0), clip=0.0)
    assert no_clip.represent(LAYER)["kernel_constraint"] is None


def test_momentum_and_schedules_are_built():
    component = _latent(LatentMomentum, lr=Staircase(value=0.1, every_epochs=1, factor=0.5), momentum=0.8)
    optimizer, schedules = component.build(None, steps_per_epoch=10, epochs=3)
    assert optimizer.get_config()["momentum"] == pytest.approx(0.8)
    assert float(schedules["lr"](25)) == pytest.approx(0.025)


def test_binary_lr_multiplier_and_unclipped_ste():
    """Theorem 1's ingredients: binary kernels step c times further, BN keeps lr, and
    ste_clip_value=0 passes the gradient for |w~| > 1."""
    tf.keras.utils.set_random_seed(0)
    plain = _latent(LatentSGD, lr=Constant(value=0.1), clip=0.0, ste_clip_value=0.0)
    scaled_ = _latent(LatentSGD, lr=Constant(value=0.1), clip=0.0, ste_clip_value=0.0,
                      binary_lr_multiplier=100.0)
    models = []
    for component in (plain, scaled_):
        tf.keras.utils.set_random_seed(0)
        model = binarynet(represent=component.represent, filters=4, dense_units=8,
                          kernel_init_scale=100.0 if component is scaled_ else 1.0)
        optimizer, _ = component.build(model, steps_per_epoch=1, epochs=1)
        _one_step(model, optimizer)
        models.append(model)
    for a, b in zip(models[0].trainable_variables, models[1].trainable_variables):
        if "kernel" in a.name:
            np.testing.assert_allclose(100 * a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
        else:
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)
    unclipped = _latent(LatentSGD, ste_clip_value=0.0).represent(LAYER)["kernel_quantizer"]
    x = tf.constant([-3.0, 0.5, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(unclipped(x))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [1.0, 1.0, 1.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(_latent(LatentSGD).represent(LAYER)["kernel_quantizer"](x))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0.0, 1.0, 0.0])
