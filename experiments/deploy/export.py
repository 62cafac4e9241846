"""``bnn export RUN_DIR``: a finished run as an LCE flatbuffer, verified against the run.

Writes ``model.tflite`` (LCE, the deploy form) into the run folder, where it is not
committed (``*.tflite`` is gitignored; it is re-made from the run's checkpoint in a
minute), and the deploy record, ``results/deploy/<experiment>/<run-id>.json``, which is
committed and read by the report. The record is keyed by the run id, which a re-made run
shares with the committed run it re-makes (``bnn remake`` keeps the config), so the
export of ``.remake/runs/<experiment>/<run-id>`` names its committed twin
``results/runs/<experiment>/<run-id>`` in ``committed_run``; committed run folders carry
no checkpoints, so a re-make is how their weights come back.
"""
import json
import os

from experiments.analysis import collect
from experiments.deploy import convert, deploy_form, restore, verify
from experiments.engine import fingerprint

DEPLOY_ROOT = os.path.join("results", "deploy")
FLATBUFFER = "model.tflite"


def quantized_layers(model) -> tuple[list, dict]:
    """The layers LCE may make binary (in order) and the others with the reason each
    stays float."""
    import larq as lq
    import tensorflow as tf

    candidates, floats = [], {}
    for layer in model.layers:
        if isinstance(layer, lq.layers.QuantDense):
            floats[layer.name] = "dense: LCE has no binary dense op"
        elif isinstance(layer, deploy_form.DenseAsConv):
            candidates.append(layer.name)
        elif isinstance(layer, lq.layers.QuantConv2D):
            if layer.input_quantizer is None:
                floats[layer.name] = "real-valued input (the image): a binary op needs a binarised one"
            else:
                candidates.append(layer.name)
        elif isinstance(layer, (tf.keras.layers.Conv2D, tf.keras.layers.Dense)):
            floats[layer.name] = "real-valued layer: the model keeps it float"
    return candidates, floats


def run_test_accuracy(run) -> tuple[float | None, str]:
    """The run's own test-split accuracy and where it comes from."""
    if "test_accuracy" in run.summary:
        return run.summary["test_accuracy"], "summary.json test_accuracy (final_test)"
    if run.config.get("validation") == "test" and run.metrics:
        return run.metrics[-1]["val_accuracy"], "last epoch's val_accuracy (validated on test)"
    return None, "the run never evaluated the test split"


def sizes(model, form, flatbuffers: dict) -> dict:
    import larq as lq

    return {"lq_summary_bytes": lq.models.ModelProfile(model).memory / 8,
            "lq_summary_float32_bytes": lq.models.ModelProfile(model).fp_equivalent_memory / 8,
            **{name: len(fb) for name, fb in flatbuffers.items()}}


def _versions() -> dict:
    import larq
    import larq_compute_engine
    import tensorflow as tf

    return {"larq_compute_engine": larq_compute_engine.__version__, "larq": larq.__version__,
            "tensorflow": tf.__version__}


def export(run_dir: str, overrides: dict | None = None, deploy_root: str = DEPLOY_ROOT,
           latency_repeats: int = 50) -> dict:
    """Export ``run_dir`` and write its record; returns the record."""
    import numpy as np

    run = restore.load_finished(run_dir)
    exp, model = restore.trained_model(run, overrides)
    form = deploy_form.deploy_form(model)
    flatbuffers = {"lce_bytes": convert.lce_flatbuffer(model),
                   "lce_deploy_form_bytes": convert.lce_flatbuffer(form),
                   "float_tflite_bytes": convert.float_flatbuffer(model),
                   "float_tflite_deploy_form_bytes": convert.float_flatbuffer(form)}
    deployed = flatbuffers["lce_deploy_form_bytes"]
    with open(os.path.join(run.path, FLATBUFFER), "wb") as f:
        f.write(deployed)

    builder = exp.dataset.prepare(os.path.expanduser(exp.data_dir))
    split = exp.dataset.eval_split
    test = exp.dataset.eval_dataset(builder, split, exp.batch_size)
    checked = verify.compare(model, form, deployed, test)
    images = next(iter(test))[0].numpy()
    accuracy, accuracy_from = run_test_accuracy(run)
    twin = restore.committed_twin(run)
    candidates, floats = quantized_layers(model)
    form_candidates, form_floats = quantized_layers(form)
    record = {
        "experiment": run.experiment, "run_id": os.path.basename(run.path),
        "scale": run.config.get("scale"), "optimizer": run.config.get("optimizer"),
        "model": run.config.get("model"), "exported_run": os.path.normpath(run.path),
        "committed_run": twin,
        "committed_run_test_accuracy": (run_test_accuracy(collect.load_run(twin))[0]
                                        if twin else None),
        "trained_precision": run.config.get("precision") or "float32",
        "deployed_precision": "float32 activations, binary LceBconv2d where possible",
        "test_split": split, "run_test_accuracy": accuracy,
        "run_test_accuracy_from": accuracy_from, "verification": checked,
        "sizes": sizes(model, form, flatbuffers),
        "census": {"trained_form": convert.census(flatbuffers["lce_bytes"], candidates, floats),
                   "deploy_form": convert.census(deployed, form_candidates, form_floats)},
        "latency": verify.latency(deployed, flatbuffers["float_tflite_deploy_form_bytes"],
                                  images, latency_repeats) if latency_repeats else None,
        "machine": fingerprint.label(fingerprint.fingerprint()),
        "versions": _versions(),
    }
    path = os.path.join(deploy_root, run.experiment, record["run_id"] + ".json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(record, f, indent=2, sort_keys=True, default=float)
        f.write("\n")
    record["record_path"] = path
    print(describe(record))
    return record


def describe(record: dict) -> str:
    v, s = record["verification"], record["sizes"]
    acc = record["run_test_accuracy"]
    lines = [
        f"exported {record['exported_run']}/{FLATBUFFER} ({s['lce_deploy_form_bytes']:,} bytes; "
        f"float TFLite {s['float_tflite_bytes']:,}; lq.models.summary {s['lq_summary_bytes']:,.0f})",
        f"  {v['images']} {record['test_split']} images: top-1 agreement LCE vs Keras "
        f"{100 * v['top1_agreement']:.2f} %, largest output difference {v['max_abs_diff']:.2g} "
        f"(tolerance {v['tolerance']:g}; {100 * v['within_tolerance']:.2f} % of images within)",
        f"  test accuracy: LCE {100 * v['lce_accuracy']:.2f} %, Keras (float32) "
        f"{100 * v['keras_accuracy']:.2f} %, the run "
        + (f"{100 * acc:.2f} %" if acc is not None else "—"),
        f"  record: {record['record_path']}",
    ]
    return "\n".join(lines)
