"""bfloat16 without its hardware (``experiments.engine.bf16``): each contraction is the
float32 contraction of the bfloat16 operands rounded to the nearest bfloat16, forward
and backward; every model of the suite routes all its contractions through it; it is
chosen only where bfloat16 is not native, and a run made with it says so in its
hardware record, which keeps it from being judged by bits against bf16 hardware."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from zookeeper import configure

import models  # noqa: F401  (every model module registers its component)
from configs import EXPERIMENTS
from experiments.engine import bf16, fingerprint as fp_module
from experiments.engine.experiment import build
from experiments.engine.train import train
from experiments.errors import ConfigError
from experiments.models.base import Model, every_layer

CONTRACTIONS = {"MatMul", "BatchMatMulV2", "BatchMatMulV3", "Conv2D", "Conv3D",
                "Conv2DBackpropInput", "Conv2DBackpropFilter", "Conv3DBackpropInputV2",
                "Conv3DBackpropFilterV2", "DepthwiseConv2dNative",
                "DepthwiseConv2dNativeBackpropInput", "DepthwiseConv2dNativeBackpropFilter"}
AVX2 = {"vendor": "AuthenticAMD", "flags": ["avx", "avx2", "fma"], "gpus": [],
        "label": "AMD EPYC Zen 3 · 2 cores"}
AMX = {"vendor": "GenuineIntel", "flags": ["avx512f", "avx512_bf16", "amx_bf16"],
       "gpus": [], "label": "Intel Xeon (AMX) · 2 cores"}


@pytest.fixture(autouse=True)
def tensorflows_own_kernels_after():
    """Each test starts and ends with TensorFlow's own kernels, whatever it enabled."""
    with bf16.float32_contractions(False):
        yield


def bf16_round(x):
    """float32 -> nearest bfloat16 (ties to even), by the bits, independently of TF."""
    bits = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return rounded.astype(np.uint32).view(np.float32)


def _operands(shape_a, shape_b, seed=0):
    rng = np.random.default_rng(seed)
    a = bf16_round(rng.standard_normal(shape_a) * 3)  # exactly representable in bf16
    b = bf16_round(rng.standard_normal(shape_b))
    return a, b


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_forward_and_backward_are_float32_contractions_rounded_to_nearest(kind):
    if kind == "dense":
        a, k = _operands((16, 300), (300, 24))
        layer = tf.keras.layers.Dense(24, use_bias=False, dtype="mixed_bfloat16")
        f32 = tf.keras.layers.Dense(24, use_bias=False, dtype="float32")
        g = np.random.default_rng(1).standard_normal((16, 24)).astype(np.float32)
    else:
        a, k = _operands((2, 9, 9, 40), (3, 3, 40, 8))
        layer = tf.keras.layers.Conv2D(8, 3, use_bias=False, dtype="mixed_bfloat16")
        f32 = tf.keras.layers.Conv2D(8, 3, use_bias=False, dtype="float32")
        g = np.random.default_rng(1).standard_normal((2, 7, 7, 8)).astype(np.float32)
    g = bf16_round(g)
    for l in (layer, f32):
        l.build(a.shape)
        l.kernel.assign(k)

    def run(l, x, dtype):
        x = tf.constant(x, dtype)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = l(x)
        dx, dk = tape.gradient(y, [x, l.kernel], output_gradients=tf.constant(g, y.dtype))
        return [np.asarray(tf.cast(t, tf.float32)) for t in (y, dx, dk)]

    with bf16.float32_contractions():
        y, dx, dk = run(layer, a, tf.bfloat16)
    y32, dx32, dk32 = run(f32, a, tf.float32)  # the exact products, summed in float32
    # bf16 hardware's result: the float32 sums rounded to nearest; the kernel's
    # gradient is rounded too (it leaves a bf16 contraction), then widened to float32
    np.testing.assert_array_equal(y, bf16_round(y32))
    np.testing.assert_array_equal(dx, bf16_round(dx32))
    np.testing.assert_array_equal(dk, bf16_round(dk32))
    assert not np.array_equal(y, y32)  # the rounding happened: the check can fail


def test_other_dtypes_and_float32_layers_are_untouched():
    a, k = _operands((4, 30), (30, 5))
    with bf16.float32_contractions():
        out = bf16.in_float32(tf.matmul)(tf.constant(a), tf.constant(k))
        assert out.dtype == tf.float32
        np.testing.assert_array_equal(out, tf.matmul(a, k))
        half = bf16.in_float32(tf.matmul)(tf.constant(a, tf.float16), tf.constant(k, tf.float16))
        assert half.dtype == tf.float16


def _model_components():
    found, stack = [], list(Model.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if hasattr(cls, "__component_fields__"):  # a zookeeper component, not a plain base
            found.append(cls)
    return sorted(found, key=lambda c: c.__name__)


def _contraction_dtypes(component_cls, float32_contractions: bool) -> set:
    """The dtypes of every contraction in a traced training step of the model (forward
    and backward) under mixed_bfloat16."""
    model_config = component_cls()
    configure(model_config, {})
    tf.keras.backend.clear_session()
    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        with bf16.float32_contractions(float32_contractions):
            try:  # CIFAR-10's images where the model takes them, else ImageNet's
                model = model_config.build(input_shape=(32, 32, 3), num_classes=10,
                                           represent=every_layer("ste_sign"))
            except ConfigError:
                model = model_config.build(input_shape=(224, 224, 3), num_classes=10,
                                           represent=every_layer("ste_sign"))

            @tf.function
            def step(x):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_sum(model(x, training=True))
                return tape.gradient(loss, model.trainable_variables)

            spec = tf.TensorSpec((2, *model.input_shape[1:]), tf.float32)
            graph = step.get_concrete_function(spec).graph
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)
    return {op.get_attr("T").name for op in graph.get_operations() if op.type in CONTRACTIONS}


@pytest.mark.slow
def test_every_model_of_the_suite_contracts_only_in_float32_when_enabled():
    components = _model_components()
    assert {c.__name__ for c in components} >= {"BinaryNet", "BinaryAlexNet", "XNORNet",
                                                 "BiRealNet"}
    for cls in components:
        assert _contraction_dtypes(cls, True) == {"float32"}, cls.__name__
    # and without it, TensorFlow's own bf16 kernels: the check above can fail
    assert "bfloat16" in _contraction_dtypes(components[0], False)


def test_chosen_only_for_bfloat16_where_it_is_not_native():
    assert bf16.wanted("mixed_bfloat16", AVX2)
    assert not bf16.wanted("mixed_bfloat16", AMX)
    assert not bf16.wanted("float32", AVX2)
    assert not bf16.wanted("mixed_float16", AVX2)
    assert not bf16.follow("mixed_bfloat16", AMX) and not bf16.active()
    assert not bf16.follow("float32", AVX2) and not bf16.active()
    assert bf16.follow("mixed_bfloat16", AVX2) and bf16.active()
    with bf16.float32_contractions(False):
        assert not bf16.active()
    assert bf16.active()  # as it was before the block


def test_the_hardware_record_keeps_such_runs_apart_from_bf16_hardware():
    here = {"vendor": "AuthenticAMD", "family": 25, "model_number": 1, "flags": ["avx2"],
            "cpu_count": 2, "onednn": False, "tensorflow": "2.19.0", "cuda": None,
            "cudnn": None, "gpus": [], "cpu": "AMD EPYC 7B13", "microarchitecture": "Zen 3"}
    emulated = {**here, "bf16_contractions": bf16.RECORD}
    assert fp_module.same_kernels(here, dict(here)) is True  # older records: unchanged
    assert fp_module.same_kernels(here, emulated) is False
    assert fp_module.same_kernels(emulated, dict(emulated)) is True
    assert any(d.startswith("bf16_contractions") for d in fp_module.differences(here, emulated))
    assert fp_module.label(emulated).endswith("· bf16 in float32")
    assert "bf16" not in fp_module.label(here)


@pytest.mark.parametrize("machine", ["avx2", "amx"])
def test_a_run_records_what_it_did(machine, tiny_overrides, monkeypatch):
    fake = {**fp_module.fingerprint(), **(AVX2 if machine == "avx2" else AMX)}
    monkeypatch.setattr("experiments.engine.train.fingerprint", lambda: dict(fake))
    monkeypatch.setattr("experiments.engine.step.fingerprint", lambda: dict(fake))
    exp = build(EXPERIMENTS["sec52_bop"], {**tiny_overrides, "precision": "mixed_bfloat16"})
    train(exp)
    with open(os.path.join(exp.run_dir(), "summary.json")) as f:
        hardware = json.load(f)["hardware"]
    if machine == "avx2":
        assert bf16.active() and hardware["bf16_contractions"] == bf16.RECORD
        assert hardware["label"].endswith("bf16 in float32")
    else:
        assert not bf16.active() and "bf16_contractions" not in hardware
