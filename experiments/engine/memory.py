"""What an optimizer costs in memory, measured from the variables it actually holds.

The paper argues (§4) that Bop needs one real number per binary weight (its momentum
``m``), where latent-weight training needs the latent weight itself plus the
optimizer's state: two with momentum, three with Adam. Here the count comes from the
slot variables the optimizer created for the binary kernels, plus the kernel itself
when it is a real latent weight (under Bop the kernel *is* the binary weight; it is
stored as float32 only because TensorFlow has no 1-bit variables).
"""
import resource
import sys

from experiments.optimizers.base import binary_layers, is_binary_marker


def _inner_optimizers(optimizer) -> list:
    """The Keras optimizers behind a (possibly nested) larq ``CaseOptimizer``."""
    inner = getattr(optimizer, "optimizers", None)
    if not inner:
        return [optimizer]
    return [leaf for opt in inner for leaf in _inner_optimizers(opt)]


def slot_bytes(optimizer, variables) -> int:
    """Bytes of every optimizer slot (momentum, moments, ...) held for ``variables``."""
    total = 0
    for opt in _inner_optimizers(optimizer):
        names = opt.get_slot_names() if hasattr(opt, "get_slot_names") else []
        for var in variables:
            for name in names:
                try:
                    slot = opt.get_slot(var, name)
                except (KeyError, ValueError):
                    continue
                total += int(slot.shape.num_elements()) * slot.dtype.size
    return total


def optimizer_memory(optimizer, model) -> dict:
    """Per binary weight: bytes of optimizer state, and real numbers held in all
    (state + the latent weight where there is one), measured after slots exist. A
    binary kernel is a real latent weight unless its layer marks it binary (Bop's
    ``NoOp(precision=1)``); decided per layer, as the optimizer represents them."""
    layers = binary_layers(model)
    kernels = [layer.kernel for layer in layers]
    sizes = [int(k.shape.num_elements()) for k in kernels]
    weights = sum(sizes)
    state = slot_bytes(optimizer, kernels)
    latent = sum(n for n, layer in zip(sizes, layers)
                 if not is_binary_marker(layer.kernel_quantizer))
    return {
        "binary_weights": weights,
        "optimizer_state_bytes_per_binary_weight": state / weights,
        "latent_weights": latent > 0,
        "latent_fraction": latent / weights,
        # float32 slots: 4 bytes per real number
        "real_numbers_per_binary_weight": (state / 4 + latent) / weights,
    }


def peak_memory() -> dict:
    """Peak resident memory of this process so far (host), and of GPU 0 when there is
    one (TensorFlow's allocator peak)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"peak_host_memory_bytes": rss if sys.platform == "darwin" else rss * 1024}
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        out["peak_device_memory_bytes"] = int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
    return out
