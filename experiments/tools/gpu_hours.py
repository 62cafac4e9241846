"""ESTIMATED GPU time of the §5.3 ImageNet runs, from their multiply-accumulates.

This is an ESTIMATE, not a measurement. For every §5.3 config (``configs/imagenet.py``,
scale ``paper``) the Keras model is built at 224x224 and its multiply-accumulates (MACs)
per image are counted from the layer shapes -- binary (1-bit inputs x 1-bit weights,
what XNOR-popcount hardware could run) and real-valued (everything else, including the
real-input x binary-weight first layer of Binary AlexNet) separately. Then

    training FLOPs = epochs x 1,281,167 images x 3 (forward + backward ~ 3 x forward)
                     x MACs/image x 2 FLOPs/MAC
    evaluation FLOPs = epochs x 50,000 validation images x MACs/image x 2   (once per epoch)
    GPU-hours = (training + evaluation FLOPs) / (sustained FLOP/s) / 3600
    wall-clock days on N GPUs = GPU-hours / N / 24   (perfect scaling assumed)

TensorFlow runs binary networks in floating point, so every MAC counts at the cost of the
run's precision (``--precision``, the experiments' ``precision=`` field, plus ``tf32``:
float32 with TensorFloat-32 matrix units). The sustained rate is an ASSUMPTION
(``--sustained-tflops`` overrides it), by default per precision (``ASSUMED_TFLOPS``):

    precision        assumed TFLOP/s per GPU   published dense peaks (TFLOP/s)
    float32           5                        V100 15.7, A100 19.5, H100 SXM 67 (CUDA cores)
    tf32              7.5 (1.5 x float32)      A100 156, H100 SXM 494.5 (tensor cores; V100: none)
    mixed_bfloat16   10   (2 x float32)        A100 312, H100 SXM 989.5 (V100: none)
    mixed_float16    10   (2 x float32)        V100 125, A100 312, H100 SXM 989.5

Peaks are NVIDIA's data sheets (Tesla V100 SXM2; A100 SXM4; H100 SXM5, whose TF32 and
16-bit figures are quoted "with sparsity" and are halved here to dense). The float32
assumption is about a third of a V100's float32 peak and a quarter of an A100's: binary
networks spend much of a step in memory-bound elementwise work -- sign, clipping, batch
norm after every layer -- that MAC counts leave out. The 16-bit and TF32 assumptions are
NOT scaled from the tensor-core peaks (8-16 x float32's), which speed up only the
convolutions and matrix products: the elementwise work gains at most 2 x from 16-bit
tensors (half the bytes moved) and nothing from TF32 (float32 tensors in memory). So
they assume a 2 x (16-bit) and a 1.5 x (TF32) end-to-end gain over float32, an
ASSUMPTION to be replaced by the measured ratios of ``make gpu-check``
(``results/gpu_check.json``). Not counted: batch-norm, pooling and quantizer
arithmetic, the optimizer update, input pipeline stalls, start-up and checkpointing.
Where ``results/bench.json`` holds the ImageNet input pipeline's per-core rate at 224 px,
the CPU cores needed to feed the GPUs at the assumed rate are estimated from it as well.

    python -m scripts.gpu_hours [--precision float32] [--sustained-tflops T] [--gpus 8]
                                [--out results/gpu_hours.json]
"""
import argparse
import os
import sys

import tensorflow as tf

IMAGENET_TRAIN_IMAGES = 1281167
IMAGENET_VAL_IMAGES = 50000
BACKWARD_FACTOR = 3  # forward + backward ~ 3 x forward
FLOPS_PER_MAC = 2
DEFAULT_GPUS = 8
LABEL = "ESTIMATE (not a measurement)"

# --- ASSUMED sustained rates per precision (see the module docstring) ------------------------

DEFAULT_PRECISION = "float32"
# TFLOP/s per GPU, sustained over a whole BNN training step: ASSUMPTIONS, not measurements.
ASSUMED_TFLOPS = {"float32": 5.0, "tf32": 7.5, "mixed_bfloat16": 10.0, "mixed_float16": 10.0}
PRECISIONS = tuple(ASSUMED_TFLOPS)
DEFAULT_SUSTAINED_TFLOPS = ASSUMED_TFLOPS[DEFAULT_PRECISION]
# Published dense peaks (TFLOP/s) the assumptions are set against; None = no such unit.
# NVIDIA data sheets: Tesla V100 SXM2, A100 SXM4 (dense), H100 SXM5 (its TF32/16-bit
# figures are quoted with 2:4 sparsity; halved here to dense).
PUBLISHED_PEAK_TFLOPS = {
    "float32": {"V100": 15.7, "A100": 19.5, "H100 SXM": 67.0},
    "tf32": {"V100": None, "A100": 156.0, "H100 SXM": 494.5},
    "mixed_bfloat16": {"V100": None, "A100": 312.0, "H100 SXM": 989.5},
    "mixed_float16": {"V100": 125.0, "A100": 312.0, "H100 SXM": 989.5},
}
PEAK_SOURCE = ("NVIDIA data sheets: Tesla V100 SXM2, A100 SXM4 (dense), H100 SXM5 "
               "(TF32/BF16/FP16 quoted with sparsity, halved to dense)")
RATE_NOTES = {
    "float32": "assumed, not measured: float32 execution of the binary layers (TensorFlow "
               "has no binary kernels), V100/A100 class: a third of a V100's and a quarter "
               "of an A100's float32 peak, since BNN steps are dominated by memory-bound "
               "elementwise work",
    "tf32": "assumed, not measured: 1.5 x the float32 assumption. TF32 tensor cores (A100 "
            "and later; none on V100) speed up only convolutions and matrix products; "
            "tensors stay float32 in memory, so the elementwise work gains nothing",
    "mixed_bfloat16": "assumed, not measured: 2 x the float32 assumption. bfloat16 tensor "
                      "cores (A100 and later; none on V100) speed up the convolutions and "
                      "matrix products; the elementwise work gains at most 2 x from moving "
                      "half the bytes",
    "mixed_float16": "assumed, not measured: 2 x the float32 assumption, as for bfloat16 "
                     "(float16 tensor cores from V100 on), plus loss scaling",
}


def assumed_tflops(precision: str) -> float:
    """The ASSUMED sustained TFLOP/s per GPU of a BNN training step in ``precision``."""
    if precision not in ASSUMED_TFLOPS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return ASSUMED_TFLOPS[precision]


# --- multiply-accumulates -------------------------------------------------------------------


def _leaf_layers(model):
    for layer in model.layers:
        if isinstance(layer, tf.keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


def _precision(variable, quantizer) -> int:
    """Bits of a kernel: larq's ``precision`` on the variable, else its quantizer's, else 32."""
    bits = getattr(variable, "precision", None)
    if bits is None and quantizer is not None:
        bits = getattr(quantizer, "precision", None)
    return int(bits or 32)


def _shape(shape) -> list:
    if isinstance(shape, list):  # a layer called once has one output shape
        (shape,) = shape
    return [int(d) if d is not None else 1 for d in shape]


def layer_macs(layer) -> int:
    """MACs of one layer for one image: every kernel weight once per output position
    (convolutions: output pixels; dense: positions of the leading axes, 1 for 2-D)."""
    out = _shape(layer.output_shape)
    if isinstance(layer, tf.keras.layers.SeparableConv2D):
        pixels = out[1] * out[2]
        return pixels * (layer.depthwise_kernel.shape.num_elements()
                         + layer.pointwise_kernel.shape.num_elements())
    if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
        return out[1] * out[2] * layer.depthwise_kernel.shape.num_elements()
    if isinstance(layer, tf.keras.layers.Conv2D):
        return out[1] * out[2] * layer.kernel.shape.num_elements()
    if isinstance(layer, tf.keras.layers.Dense):
        positions = 1
        for d in out[1:-1]:
            positions *= d
        return positions * layer.kernel.shape.num_elements()
    return 0


def count_macs(model) -> dict:
    """MACs per image of a built Keras/larq model, by kind:

    * ``binary``: 1-bit weights (``precision`` 1) on 1-bit inputs (an input quantizer of
      precision 1) -- XNOR + popcount on binary hardware;
    * ``real``: everything else; ``real_input_binary_weights`` is the part of it with
      binary weights on real inputs (e.g. Binary AlexNet's first convolution).

    Biases are not counted (as larq's ``lq.models.summary``). Also returns the per-layer
    rows ``(name, type, kind, macs)``.
    """
    totals = {"binary": 0, "real": 0, "real_input_binary_weights": 0}
    layers = []
    for layer in _leaf_layers(model):
        macs = layer_macs(layer)
        if not macs:
            continue
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            kernel = getattr(layer, "depthwise_kernel", None)
        weight_bits = _precision(kernel, getattr(layer, "kernel_quantizer", None))
        input_quantizer = getattr(layer, "input_quantizer", None)
        input_bits = int(getattr(input_quantizer, "precision", None) or 32) \
            if input_quantizer is not None else 32
        if weight_bits == 1 and input_bits == 1:
            kind = "binary"
        else:
            kind = "real"
            if weight_bits == 1:
                totals["real_input_binary_weights"] += macs
        totals[kind] += macs
        layers.append((layer.name, type(layer).__name__, kind, macs))
    return {**totals, "total": totals["binary"] + totals["real"], "layers": layers}


def larq_macs(model) -> dict:
    """The same counts from larq's own profile (``lq.models.summary``'s numbers), as a
    cross-check: total MACs and 1-bit MACs."""
    import larq as lq

    profile = lq.models.ModelProfile(model)
    return {"total": int(profile.op_count("mac")), "binary": int(profile.op_count("mac", 1))}


# --- arithmetic -----------------------------------------------------------------------------


def estimate(macs_per_image: float, epochs: int, sustained_tflops: float, gpus: int,
             train_images: int = IMAGENET_TRAIN_IMAGES,
             val_images: int = IMAGENET_VAL_IMAGES) -> dict:
    """FLOPs, GPU-hours and wall-clock days of one run (see the module docstring)."""
    train_flops = epochs * train_images * BACKWARD_FACTOR * macs_per_image * FLOPS_PER_MAC
    eval_flops = epochs * val_images * macs_per_image * FLOPS_PER_MAC
    rate = sustained_tflops * 1e12
    gpu_hours = (train_flops + eval_flops) / rate / 3600
    return {
        "train_flops": train_flops,
        "eval_flops": eval_flops,
        "gpu_hours": gpu_hours,
        "wall_days": gpu_hours / gpus / 24,
        "train_images_per_s_per_gpu":
            rate / (BACKWARD_FACTOR * macs_per_image * FLOPS_PER_MAC),
    }


# --- the §5.3 configs -----------------------------------------------------------------------


def section53_models(names=None):
    """``[(name, exp, model)]`` for the §5.3 configs at scale ``paper`` (identical
    networks are built once)."""
    from experiments import registry
    from experiments.engine.experiment import build

    found = registry.load()
    names = names or [m.split()[0] for m in found.groups["imagenet"]]
    built, out = {}, []
    for name in names:
        exp = build(found.experiment(name), {"scale": "paper"})
        config = exp.resolved_config()
        key = repr(sorted((k, v) for k, v in config.items()
                          if k.startswith(("model", "dataset"))))
        key += type(exp.optimizer).__name__
        if key not in built:
            tf.keras.backend.clear_session()
            built[key] = exp.build_model()
        out.append((name, exp, built[key]))
    return out


def pipeline_per_core(bench_path: str):
    """The ImageNet pipeline's measured images/s per CPU core at 224 px, if any."""
    import json

    try:
        with open(bench_path) as f:
            section = json.load(f)["imagenet"]
        return (float(section["input_pipeline"]["per_core_images_per_s"]["224"]),
                section["hardware"]["label"], section.get("data"))
    except (OSError, KeyError, TypeError, ValueError):
        return None


def report(sustained_tflops: float | None, gpus: int, bench_path: str, names=None,
           precision: str = DEFAULT_PRECISION) -> dict:
    """The estimate for ``precision``, at ``sustained_tflops`` if given, else at the
    precision's ASSUMED rate."""
    from experiments.engine import runs

    default_rate = assumed_tflops(precision)
    rate_given = sustained_tflops is not None
    sustained_tflops = sustained_tflops if rate_given else default_rate

    feed = pipeline_per_core(bench_path)
    rows = {}
    for name, exp, model in section53_models(names):
        macs = count_macs(model)
        check = larq_macs(model)
        est = estimate(macs["total"], exp.epochs, sustained_tflops, gpus)
        row = {
            "section": exp.section,
            "model": type(exp.model).__name__,
            "optimizer": type(exp.optimizer).__name__,
            "epochs": exp.epochs,
            "batch_size": exp.batch_size,
            "input_size": list(exp.dataset.input_shape()),
            "macs_per_image": {k: macs[k] for k in
                               ("total", "binary", "real", "real_input_binary_weights")},
            "larq_summary_macs": check,
            "larq_summary_agrees": check == {"total": macs["total"], "binary": macs["binary"]},
            "estimated_train_flops": est["train_flops"],
            "estimated_eval_flops": est["eval_flops"],
            "estimated_gpu_hours": round(est["gpu_hours"], 1),
            f"estimated_wall_days_on_{gpus}_gpus": round(est["wall_days"], 2),
            "estimated_train_images_per_s_per_gpu": round(est["train_images_per_s_per_gpu"]),
        }
        if feed:
            row[f"estimated_cpu_cores_to_feed_{gpus}_gpus"] = round(
                gpus * est["train_images_per_s_per_gpu"] / feed[0], 1)
        rows[name] = row
    return {
        "what": f"{LABEL}: GPU time of the §5.3 ImageNet runs from MAC counts of the built "
                f"Keras models at 224x224 and an ASSUMED sustained FLOP rate for {precision}; "
                "no GPU ran",
        "estimate": True,
        "precision": precision,
        "formula": (f"GPU-hours = epochs x ({IMAGENET_TRAIN_IMAGES} train images x "
                    f"{BACKWARD_FACTOR} (forward + backward) + {IMAGENET_VAL_IMAGES} "
                    f"validation images x 1) x MACs/image x {FLOPS_PER_MAC} FLOPs / "
                    "(sustained FLOP/s) / 3600; wall-clock days = GPU-hours / GPUs / 24 "
                    "(perfect scaling)"),
        "assumptions": {
            "precision": precision,
            "sustained_tflops_per_gpu": sustained_tflops,
            "sustained_rate_source": ("--sustained-tflops (given)" if rate_given else
                                      f"ASSUMED default for {precision}"),
            "sustained_rate_note": RATE_NOTES[precision] + "; change with --sustained-tflops",
            "assumed_tflops_by_precision": dict(ASSUMED_TFLOPS),
            "published_peak_tflops": {"values": PUBLISHED_PEAK_TFLOPS,
                                      "source": PEAK_SOURCE,
                                      "note": "peaks, for comparison only: the ASSUMED "
                                              "sustained rates are not scaled from them"},
            "measured_ratios": "make gpu-check measures the step time of each precision "
                               "on a GPU (results/gpu_check.json)",
            "gpus": gpus,
            "backward_factor": BACKWARD_FACTOR,
            "not_counted": "batch norm, pooling, quantizers, optimizer updates, input "
                           "stalls, start-up, checkpointing",
            "mac_kinds": "binary = 1-bit weights on 1-bit inputs; real = all others "
                         "(real_input_binary_weights: binary weights on real inputs)",
        },
        "input_pipeline_per_core_224px": (
            {"images_per_s": feed[0], "measured_on": feed[1], "data": feed[2],
             "source": bench_path} if feed else None),
        "date": runs.now(),
        "git": runs.git_commit(),
        "packages": runs.package_versions(),
        "runs": rows,
    }


def markdown(result: dict) -> str:
    a = result["assumptions"]
    gpus = a["gpus"]
    lines = [
        f"**{LABEL}**: {a.get('precision', DEFAULT_PRECISION)}, "
        f"{a['sustained_tflops_per_gpu']:g} TFLOP/s sustained per GPU (assumed), "
        f"forward + backward = {a['backward_factor']} x forward, perfect scaling "
        f"over {gpus} GPUs.",
        "",
        f"| experiment | model | epochs | G-MACs/image (binary / real) | est. GPU-hours "
        f"@ {a['sustained_tflops_per_gpu']:g} TFLOP/s | est. wall-clock days on {gpus} GPUs |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, row in result["runs"].items():
        m = row["macs_per_image"]
        lines.append(
            f"| {name} | {row['model']} | {row['epochs']} | {m['total'] / 1e9:.3f} "
            f"({m['binary'] / 1e9:.3f} / {m['real'] / 1e9:.3f}) | "
            f"{row['estimated_gpu_hours']:,.0f} | "
            f"{row[f'estimated_wall_days_on_{gpus}_gpus']:.1f} |")
    feed = result.get("input_pipeline_per_core_224px")
    if feed:
        lines += ["", f"Input pipeline: {feed['images_per_s']:.0f} images/s per CPU core at "
                      f"224 px (measured, {feed['measured_on']}, {feed['data']}); CPU cores "
                      f"to feed {gpus} GPUs at the assumed rate: "
                      + ", ".join(f"{n} {r[f'estimated_cpu_cores_to_feed_{gpus}_gpus']:.0f}"
                                  for n, r in result["runs"].items()) + " (estimates)."]
    return "\n".join(lines)


def main(argv=None) -> int:
    from experiments.engine import runs

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                        help="the precision the runs would train in (default %(default)s); "
                             "sets the ASSUMED rate: "
                             + ", ".join(f"{p} {r:g}" for p, r in ASSUMED_TFLOPS.items())
                             + " TFLOP/s")
    parser.add_argument("--sustained-tflops", type=float, default=None,
                        help="ASSUMED sustained TFLOP/s per GPU (default: the precision's)")
    parser.add_argument("--gpus", type=int, default=DEFAULT_GPUS,
                        help="GPUs for the wall-clock column (default %(default)s)")
    parser.add_argument("--bench", default=os.path.join("results", "bench.json"),
                        help="benchmark file with the ImageNet pipeline's per-core rate")
    parser.add_argument("--experiments", nargs="+", metavar="NAME",
                        help="§5.3 configs (default: the imagenet group)")
    parser.add_argument("--out", default=os.path.join("results", "gpu_hours.json"))
    args = parser.parse_args(argv)
    if (args.sustained_tflops is not None and args.sustained_tflops <= 0) or args.gpus < 1:
        parser.error("--sustained-tflops must be > 0 and --gpus >= 1")
    result = report(args.sustained_tflops, args.gpus, args.bench, args.experiments,
                    precision=args.precision)
    for name, row in result["runs"].items():
        if not row["larq_summary_agrees"]:
            print(f"warning: {name}: larq's summary counts {row['larq_summary_macs']}, this "
                  f"script {row['macs_per_image']}", file=sys.stderr)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    runs.write_json(args.out, result)
    print(markdown(result))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
