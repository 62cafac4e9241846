"""bfloat16 contractions computed in float32, for CPUs without bfloat16 hardware.

Under ``mixed_bfloat16`` a layer's convolution or matrix product takes bfloat16 operands
and gives a bfloat16 result. Hardware with bfloat16 support (AVX-512 BF16, AMX, GPUs of
compute capability 8.0 or more) multiplies the bfloat16 operands, sums the products in
float32 and rounds the sum to the nearest bfloat16. A CPU without it falls back to
TensorFlow's own kernels, which are an order of magnitude slower than float32, and whose
matrix product truncates the float32 sum instead of rounding it.

On such a CPU a run can instead compute each contraction in float32 on the same
operands: cast the bfloat16 operands to float32 (exact), contract in float32 (each
product of two bfloat16 numbers is exact in float32, the sums are float32 sums), and
round the result to the nearest bfloat16. That is the arithmetic of bfloat16 hardware
up to the order of the float32 sums, which differs between any two kernel sets anyway.
The backward pass follows from the casts: the incoming bfloat16 gradient is cast up,
the transposed contractions run in float32, and the gradients of the operands are
rounded back to bfloat16, as the hardware's bfloat16 backward kernels give them.
Everything else (batch norm, quantizers, pooling, the optimizers on float32 variables)
is unchanged.

Which contractions: every Keras convolution (``Conv`` and its subclasses, larq's
``QuantConv*`` included) and every ``Dense`` (larq's ``QuantDense`` included). A model
that contracts through another layer keeps TensorFlow's own bfloat16 kernel there;
``tests/test_bf16.py`` checks that the suite's models leave none.

A run made this way records ``bf16_contractions`` in its hardware record, so that
``bnn remake`` judges it against runs made on bfloat16 hardware by the seed spread,
never by bits.
"""
import contextlib

from experiments.engine.fingerprint import label
from experiments.engine.precision import native

# What a run's hardware record says where this module computed its contractions.
RECORD = "float32 on bfloat16 operands, rounded to nearest"


def wanted(precision: str, fp: dict) -> bool:
    """Whether a run in ``precision`` on the machine ``fp`` computes its bfloat16
    contractions in float32: under ``mixed_bfloat16`` where bfloat16 is not native."""
    return precision == "mixed_bfloat16" and not native(precision, fp)


def recorded(precision: str, fp: dict) -> dict:
    """The hardware record of a run in ``precision`` on the machine ``fp``: ``fp`` itself,
    or, where the run computes its contractions in float32 (:func:`wanted`), ``fp`` with
    ``bf16_contractions`` and a label that says so."""
    if not wanted(precision, fp):
        return fp
    out = {**fp, "bf16_contractions": RECORD}
    out["label"] = label(out)
    return out


def in_float32(op):
    """``op`` (a contraction of two tensors) on bfloat16 operands: cast up, contract in
    float32, round the result to bfloat16. Other dtypes go to ``op`` untouched."""
    import tensorflow as tf

    def contraction(a, b, *args, **kwargs):
        a, b = tf.convert_to_tensor(a), tf.convert_to_tensor(b)
        if a.dtype != tf.bfloat16 or b.dtype != tf.bfloat16:
            return op(a, b, *args, **kwargs)
        out = op(tf.cast(a, tf.float32), tf.cast(b, tf.float32), *args, **kwargs)
        return tf.cast(out, tf.bfloat16)

    return contraction


class _Module:
    """A stand-in for a module as another module sees it: every attribute is the
    module's own, except the ones in ``overrides`` (dotted names, e.g. "nn.convolution")."""

    def __init__(self, module, overrides: dict):
        self._module = module
        self._overrides, nested = {}, {}
        for name, value in overrides.items():
            head, _, rest = name.partition(".")
            if rest:
                nested.setdefault(head, {})[rest] = value
            else:
                self._overrides[head] = value
        self._children = {head: _Module(getattr(module, head), sub)
                          for head, sub in nested.items()}

    def __getattr__(self, name):
        if name in self._overrides:
            return self._overrides[name]
        if name in self._children:
            return self._children[name]
        return getattr(self._module, name)


def _patches():
    """(module, its name for TensorFlow, the stand-in) for each Keras module whose layers
    contract: convolutions through ``tf.nn.convolution``, dense layers through
    ``tf.matmul`` (rank-2 inputs) or ``tf.tensordot`` (higher ranks)."""
    from tf_keras.src.layers.convolutional import base_conv
    from tf_keras.src.layers.core import dense

    out = []
    for module, names in ((base_conv, ("nn.convolution",)),
                          (dense, ("matmul", "tensordot"))):
        real = module.tf
        overrides = {}
        for name in names:
            target = real
            for part in name.split("."):
                target = getattr(target, part)
            overrides[name] = in_float32(target)
        out.append((module, real, _Module(real, overrides)))
    return out


_real = []  # (module, its own ``tf``) for each patched module while enabled


def enable() -> None:
    """From now on, in this process, bfloat16 convolutions and dense layers contract in
    float32 (the module docstring), including functions traced earlier that trace again."""
    if _real:
        return
    for module, real, stand_in in _patches():
        module.tf = stand_in
        _real.append((module, real))


def disable() -> None:
    """TensorFlow's own bfloat16 kernels again (for comparisons; runs never call it)."""
    while _real:
        module, real = _real.pop()
        module.tf = real


def active() -> bool:
    """Whether contractions are computed in float32 in this process right now."""
    return bool(_real)


def follow(precision: str, fp: dict) -> bool:
    """Enable float32 contractions where a model in ``precision`` on ``fp`` wants them
    (:func:`wanted`); called where a run's or a benchmark's model is built. Enabled, they
    stay on for the process: only bfloat16 operands are touched, and every later
    bfloat16 model on this machine wants the same."""
    if wanted(precision, fp):
        enable()
    return active()


@contextlib.contextmanager
def float32_contractions(on: bool = True):
    """Float32 contractions on (or off) inside the block, as before after it."""
    before = active()
    enable() if on else disable()
    try:
        yield
    finally:
        enable() if before else disable()
