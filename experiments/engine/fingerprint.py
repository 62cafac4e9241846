"""The hardware fingerprint of a run: enough to say when a re-make can be bit-identical.

Floating-point sums depend on their order, and the order is chosen by the kernels a
machine runs: oneDNN and Eigen pick their code paths from the CPU's instruction sets
(AVX-512, its BF16 and VNNI extensions, AMX), split work by the number of threads, and
XLA tunes its code for the CPU model it finds. The same code, config and seed therefore
give the same bits only where all of these agree; elsewhere the run is a different but
equally valid draw, to be judged against the seed spread (``experiments.engine.remake``).

``fingerprint()`` records the machine; ``kernel_key`` keeps the parts that choose
kernels (not the host name, not the stepping); ``label`` is the short form for tables.
A run resumed on another kind of machine (a shard moved, a session on new hardware)
keeps the earlier machines in ``hardware_earlier``: its epochs came from several kernel
sets, so no single machine can re-make it bit for bit (``machines``).
Runs made before fingerprints were recorded carry only ``cpu``, ``cpu_count`` and
``label``; they have no kernel key and are never assumed to match. A run in bfloat16 on
a CPU without bfloat16 hardware adds ``bf16_contractions`` (``experiments.engine.bf16``):
its contractions are not TensorFlow's own bfloat16 kernels, so it is part of the key.
"""
import copy
import functools
import json
import os
import platform
import socket

# CPU flags (as /proc/cpuinfo spells them) that select different kernels in oneDNN,
# Eigen or XLA's CPU code generator.
KERNEL_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512dq",
                "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                "amx_tile", "amx_bf16", "amx_int8")
# What a fingerprint compares; everything else in it is description.
KERNEL_KEYS = ("vendor", "family", "model_number", "flags", "cpu_count", "onednn",
               "tensorflow", "cuda", "cudnn", "gpus")


def _cpuinfo(path: str = "/proc/cpuinfo") -> dict:
    """The first processor's entries of ``/proc/cpuinfo`` ({} where there is none)."""
    info = {}
    try:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block ends here
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def amd_generation(family: int, model: int) -> str:
    """AMD's Zen generation from the CPUID family and model (AMD's published tables)."""
    if family == 0x17:
        return "Zen 2" if model >= 0x30 else "Zen"
    if family == 0x19:
        if 0x10 <= model <= 0x1F or 0x60 <= model <= 0x7F or 0xA0 <= model <= 0xAF:
            return "Zen 4"
        return "Zen 3"
    if family == 0x1A:
        return "Zen 5"
    return ""


def _brand(model_name: str, vendor: str) -> str:
    """"Intel(R) Xeon(R) Platinum 8480+" -> "Intel Xeon"; "AMD EPYC 9R14 96-Core" -> "AMD EPYC"."""
    words = model_name.replace("(R)", "").replace("(TM)", "").split()
    for family in ("EPYC", "Ryzen", "Threadripper", "Xeon", "Core"):
        if family in words:
            return f"{words[0]} {family}"
    return model_name or vendor or platform.machine()


def _onednn() -> bool:
    """Whether TensorFlow runs oneDNN's CPU kernels in this process (on by default on
    x86 Linux; ``TF_ENABLE_ONEDNN_OPTS=0`` turns them off)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def _threads(cpus: int) -> dict:
    """The sizes of TensorFlow's intra- and inter-op thread pools in this process."""
    import tensorflow as tf

    return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads() or cpus,
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads() or cpus}


def _gpus() -> list:
    import tensorflow as tf

    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability")
        gpus.append({"name": details.get("device_name", gpu.name),
                     "compute_capability": ".".join(map(str, capability)) if capability else None})
    return gpus


@functools.lru_cache(maxsize=None)
def _machine() -> dict:
    """This machine, as a run records it (``summary.json``'s ``hardware``)."""
    import tensorflow as tf

    cpu = _cpuinfo()
    vendor = cpu.get("vendor_id", "")
    model_name = cpu.get("model name", platform.processor() or platform.machine())
    family, model = int(cpu.get("cpu family", 0) or 0), int(cpu.get("model", 0) or 0)
    flags = set(cpu.get("flags", "").split())
    gpus = _gpus()
    build = tf.sysconfig.get_build_info()
    fp = {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": model_name,
        "vendor": vendor,
        "family": family,
        "model_number": model,
        "stepping": cpu.get("stepping"),
        "microarchitecture": amd_generation(family, model) if vendor == "AuthenticAMD" else "",
        "flags": [f for f in KERNEL_FLAGS if f in flags],
        # the CPUs this process may use: what thread pools, and so work splits, follow
        "cpu_count": len(os.sched_getaffinity(0)),
        # TensorFlow's thread pools (0 in its settings = one thread per CPU above)
        "threads": _threads(len(os.sched_getaffinity(0))),
        "onednn": _onednn(),
        "tensorflow": tf.__version__,
        # the CUDA and cuDNN that TensorFlow was built against, where it drives a GPU
        "cuda": build.get("cuda_version") if gpus else None,
        "cudnn": build.get("cudnn_version") if gpus else None,
        "gpus": gpus,
    }
    fp["label"] = label(fp)
    return fp


def fingerprint() -> dict:
    """This machine, as a run records it (``summary.json``'s ``hardware``): read once per
    process (the machine does not change under a running process), returned as a copy."""
    return copy.deepcopy(_machine())


def label(fp: dict) -> str:
    """A short name for tables: "AMD EPYC Zen 4 · 2 cores", "Intel Xeon (AMX) · 2 cores",
    "8x NVIDIA H100 80GB HBM3"; for runs made before fingerprints, what they recorded."""
    gpus = fp.get("gpus") or []
    if gpus:
        names = [g["name"] if isinstance(g, dict) else g for g in gpus]
        return f"{len(names)}x {names[0]}"
    if "vendor" not in fp:  # an older run: its cpu string and core count are all there is
        cpu = fp.get("cpu", "")
        name = _brand(cpu, "") if cpu else "CPU"
        return f"{name} · {_cores(fp['cpu_count'])}" if fp.get("cpu_count") else fp.get("label", "?")
    name = _brand(fp.get("cpu", ""), fp.get("vendor", ""))
    flags = set(fp.get("flags", ()))
    if fp.get("microarchitecture"):
        name += f" {fp['microarchitecture']}"
    elif "amx_tile" in flags:
        name += " (AMX)"
    elif "avx512_bf16" in flags:
        name += " (AVX-512 BF16)"
    elif "avx512f" in flags:
        name += " (AVX-512)"
    text = f"{name} · {_cores(fp.get('cpu_count'))}"
    if not fp.get("onednn", True):
        text += " · oneDNN off"
    return text + (" · bf16 in float32" if fp.get("bf16_contractions") else "")


def _cores(count) -> str:
    return "1 core" if count == 1 else f"{count} cores"


def kernel_key(fp: dict):
    """The parts of a fingerprint that choose kernels, or None for a run recorded before
    fingerprints (which cannot be matched). A run's thread pools (``threads``, recorded
    since runs could train side by side) count where recorded: an older run's equal the
    CPUs it could use."""
    if not fp or any(k not in fp for k in KERNEL_KEYS):
        return None
    key = {k: fp[k] for k in KERNEL_KEYS}
    key["threads"] = fp.get("threads") or {"intra_op": fp["cpu_count"], "inter_op": fp["cpu_count"]}
    if fp.get("bf16_contractions"):  # a run's, where it chose them (experiments.engine.bf16)
        key["bf16_contractions"] = fp["bf16_contractions"]
    return key


def same_kernels(a: dict, b: dict):
    """True where two fingerprints choose the same kernels, False where they differ,
    None where either run predates fingerprints."""
    ka, kb = kernel_key(a), kernel_key(b)
    if ka is None or kb is None:
        return None
    return ka == kb


def differences(a: dict, b: dict) -> list:
    """The kernel-choosing fields in which two fingerprints differ, as "key: a -> b"."""
    ka, kb = kernel_key(a) or (a or {}), kernel_key(b) or (b or {})
    out = []
    for key in KERNEL_KEYS + ("threads", "bf16_contractions"):
        if ka.get(key) != kb.get(key):
            out.append(f"{key}: {ka.get(key, 'not recorded')} -> {kb.get(key, 'not recorded')}")
    return out


def machines(summary: dict) -> list:
    """Every machine that trained epochs of a run: the ones recorded by a resume on
    other hardware (``hardware_earlier``), then the one that trained it last."""
    return [*summary.get("hardware_earlier", []), summary.get("hardware") or {}]


def _kind(fp: dict) -> str:
    """One text per kernel set (a run recorded before fingerprints: its whole record)."""
    return json.dumps(kernel_key(fp) or fp, sort_keys=True)


def earlier_machines(previous: dict, here: dict) -> list:
    """What a run resumed on ``here`` records as ``hardware_earlier``: the machines of
    other kernel sets that trained its epochs so far (none where it has no epochs yet,
    since a restart without a checkpoint makes every epoch again)."""
    if not previous.get("epochs_done"):
        return []
    kinds, out = {_kind(here)}, []
    for fp in machines(previous):
        if fp and _kind(fp) not in kinds:
            kinds.add(_kind(fp))
            out.append(fp)
    return out
