"""A run's numeric precision: float32 (the authors' setting) or Keras mixed precision.

BNNs are the best case for 16-bit arithmetic: binary weights and binarised activations
are exactly ±1 in bfloat16 and float16, so only the real-valued parts of a step round
differently. Under a mixed policy what must stay float32 does:

* every variable (binary kernels, latent weights, batch-norm offsets and statistics) and
  so every optimizer slot, which Keras creates in its variable's dtype (Bop's ``m``,
  Bop2ndOrder's ``v``, Adam's moments); gradients reach the optimizers in float32, and
  flips are counted on the float32 variables, exactly;
* batch norm's arithmetic (Keras computes it in float32 for 16-bit inputs);
* the softmax (every model's last layer is float32) and hence the loss and the metrics.

``mixed_float16`` scales the loss (dynamic loss scaling) and unscales the gradients
before any optimizer sees them; a step whose gradients are not finite is skipped, so it
updates and flips nothing. bfloat16 has float32's range and needs no scaling.

Where a precision is native: bfloat16 on CPUs with AVX-512 BF16 or AMX and on GPUs of
compute capability 8.0 or more; float16 on GPUs of 7.0 or more. Elsewhere TensorFlow
emulates it, converting to float32 and back around every operation, which is slower
than float32 itself. For bfloat16 the suite does better on such CPUs: its convolutions
and matrix products run in float32 on the bfloat16 operands and round as the hardware
does (``experiments.engine.bf16``), at about float32's speed.
"""
import contextlib
import sys

from experiments.errors import ConfigError

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
CHOICES = PRECISIONS + ("auto",)


def _gpu_capabilities(fp: dict) -> list:
    caps = []
    for gpu in fp.get("gpus") or []:
        cc = gpu.get("compute_capability") if isinstance(gpu, dict) else None
        caps.append(tuple(int(x) for x in cc.split(".")) if cc else (0, 0))
    return caps


def native(precision: str, fp: dict) -> bool:
    """Whether ``precision``'s 16-bit arithmetic runs natively on the machine ``fp``."""
    if precision == "float32":
        return True
    caps = _gpu_capabilities(fp)
    if precision == "mixed_bfloat16":
        if caps:
            return all(c >= (8, 0) for c in caps)
        return bool({"avx512_bf16", "amx_bf16"} & set(fp.get("flags") or ()))
    return bool(caps) and all(c >= (7, 0) for c in caps)  # mixed_float16


def choose_auto(fp: dict) -> tuple[str, str]:
    """``precision=auto``: bfloat16 where it is native (no loss scaling needed), else
    float32; with the reason, to be shown."""
    if native("mixed_bfloat16", fp):
        where = "its GPUs have compute capability >= 8.0" if fp.get("gpus") else \
            "this CPU has AVX-512 BF16 / AMX"
        return "mixed_bfloat16", f"bfloat16 is native here ({where})"
    return "float32", ("bfloat16 has no hardware here (no AVX-512 BF16, AMX or GPU >= 8.0), "
                       "so it would be no faster than float32")


def check(precision: str, force: bool, machine) -> None:
    """Refuse an unknown precision, and float16 on a machine without a GPU unless
    forced: called when a config is built, before any data is read. ``machine()`` gives
    the fingerprint, asked for only when float16 needs it."""
    if precision not in CHOICES:
        raise ConfigError(f"precision must be one of {', '.join(CHOICES)}, got {precision!r}")
    if precision == "mixed_float16" and not force and not machine().get("gpus"):
        raise ConfigError(
            "precision=mixed_float16 on a machine without a GPU: float16 is emulated on "
            "CPUs and slower than float32; use mixed_bfloat16 (native on CPUs with AVX-512 "
            "BF16 or AMX) or float32, or set force_precision=True to run it anyway")


def warn_if_emulated(precision: str, fp: dict) -> None:
    """Say so when a run is about to train in a 16-bit precision this machine has no
    hardware for."""
    if native(precision, fp):
        return
    if precision == "mixed_bfloat16":  # experiments.engine.bf16
        print(f"note: this machine ({fp.get('label', '?')}) has no bfloat16 hardware: the "
              "run's convolutions and matrix products take their bfloat16 operands in "
              "float32 and round each result to bfloat16, as bfloat16 hardware does, at "
              "about float32's speed; its hardware record says so", file=sys.stderr)
        return
    print(f"warning: precision={precision} is emulated on this machine "
          f"({fp.get('label', '?')}): every 16-bit operation is converted to float32 and "
          "back, which is slower than float32 itself; expect the run to be slower, "
          "not faster", file=sys.stderr)


@contextlib.contextmanager
def policy(precision: str):
    """Keras's global dtype policy set to ``precision`` while the model is built (layers
    take it when they are created), and restored afterwards."""
    import tensorflow as tf

    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(precision)
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)


def scales_loss(precision: str) -> bool:
    return precision == "mixed_float16"


def wrap(optimizer, precision: str):
    """The optimizer the loop steps: under float16, Keras's dynamic loss scaling around
    it (it skips steps with non-finite gradients); otherwise the optimizer itself."""
    if not scales_loss(precision):
        return optimizer
    import tensorflow as tf

    return tf.keras.mixed_precision.LossScaleOptimizer(optimizer)


def inner(optimizer):
    """The optimizer under a loss-scale wrapper (or ``optimizer`` itself)."""
    return getattr(optimizer, "inner_optimizer", optimizer)
