"""The three §5.3 ImageNet models at 224 px as LCE deploys them: file sizes and op census.

    python -m experiments.deploy.sizes [--out results/deploy/imagenet_sizes.json]

Each model is built as its Bop experiment builds it (paper scale, binary kernels marked
``NoOp(precision=1)``), its binary kernels set to +-1 (the signs of their initial values:
what Bop trains) and batch norm left at its initial statistics. Untrained weights are
enough for sizes and for which ops LCE emits, which depend on shapes and layer types
only; no accuracy or agreement is claimed for these networks (untrained +-1 networks
meet sign(0) ties and saturated softmaxes far more often than trained ones).
"""
import argparse
import json
import os

from experiments.deploy import convert, deploy_form
from experiments.deploy.export import quantized_layers

EXPERIMENTS = ("sec53_binary_alexnet", "sec53_xnornet", "sec53_birealnet")


def bop_model(name: str):
    import numpy as np
    import tensorflow as tf

    from experiments import registry
    from experiments.engine.experiment import build
    from experiments.optimizers.base import binary_kernels

    exp = build(registry.load().experiment(name), {"scale": "paper"})
    tf.keras.utils.set_random_seed(0)
    tf.keras.backend.reset_uids()
    model = exp.build_model()
    for kernel in binary_kernels(model):
        kernel.assign(np.where(kernel.numpy() < 0, -1.0, 1.0).astype("float32"))
    return exp, model


def measure(name: str) -> dict:
    import larq as lq

    exp, model = bop_model(name)
    form = deploy_form.deploy_form(model)
    out = {"experiment": name, "model": type(exp.model).__name__,
           "input_shape": list(exp.dataset.input_shape()),
           "lq_summary_bytes": lq.models.ModelProfile(model).memory / 8,
           "lq_summary_float32_bytes": lq.models.ModelProfile(model).fp_equivalent_memory / 8}
    for label, net in (("", model), ("_deploy_form", form)):
        lce = convert.lce_flatbuffer(net)
        out[f"lce{label}_bytes"] = len(lce)
        out[f"census{label}"] = convert.census(lce, *quantized_layers(net))
        out[f"float_tflite{label}_bytes"] = len(convert.float_flatbuffer(net))
        print(f"{name}{label}: LCE {len(lce):,} bytes, float TFLite "
              f"{out[f'float_tflite{label}_bytes']:,}", flush=True)
    return out


def main(argv=None):
    import larq_compute_engine
    import tensorflow as tf

    from experiments.engine import fingerprint

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join("results", "deploy", "imagenet_sizes.json"))
    parser.add_argument("--only", nargs="*", default=list(EXPERIMENTS))
    args = parser.parse_args(argv)
    doc = {"weights": "untrained: Bop-style +-1 kernels, initial batch-norm statistics",
           "machine": fingerprint.label(fingerprint.fingerprint()),
           "versions": {"larq_compute_engine": larq_compute_engine.__version__,
                        "tensorflow": tf.__version__},
           "models": [measure(name) for name in args.only]}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
