"""REPORT.md's "Deployment" section, from the committed deploy records (``bnn export``,
``results/deploy/<experiment>/<run-id>.json``) and the ImageNet size census
(``results/deploy/imagenet_sizes.json``, ``python -m experiments.deploy.sizes``)."""
import glob
import json
import os

from experiments.report.cells import link

SIZES = "imagenet_sizes.json"
LARQ_ZOO_ENTRY = "{}_latent_adam"  # reported.yaml: larq-zoo's network of a §5.3 model


def _kb(n) -> str:
    return f"{n / 1024:,.1f} kB"


def _mb(n) -> str:
    return f"{n / 1e6:,.2f} MB"


def _records(deploy_root) -> list:
    paths = sorted(glob.glob(os.path.join(deploy_root, "*", "*.json")))
    return [json.load(open(p)) for p in paths]


def _in_project(path, project) -> str:
    """A record's run folder (written relative to the project, e.g. ``results/runs/...``)
    where it is under the reported results' project, not under the working directory."""
    return path if os.path.isabs(path) else os.path.join(project, path)


def _committed_accuracy(record, project):
    """The committed run's test accuracy when the export is of its re-make (the re-make
    is another draw on other hardware, so the two may differ)."""
    twin = record.get("committed_run")
    if not twin or os.path.normpath(twin) == os.path.normpath(record["exported_run"]):
        return None
    if record.get("committed_run_test_accuracy") is not None:
        return record["committed_run_test_accuracy"]
    path = os.path.join(_in_project(twin, project), "summary.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f).get("test_accuracy")


def _runs_table(records, out_dir, project) -> list:
    lines = ["| experiment | run | trained in | test images | top-1 agreement LCE vs Keras | "
             "largest output difference | test accuracy: LCE / Keras float32 / the exported run (the committed run) | "
             "LCE file (deploy form / as trained) | float TFLite | lq.models.summary | "
             "binary layers (deploy form) |", "|---" * 11 + "|"]
    for r in records:
        v, s, c = r["verification"], r["sizes"], r["census"]["deploy_form"]
        run = r.get("committed_run") or r["exported_run"]
        acc = r.get("run_test_accuracy")
        committed = _committed_accuracy(r, project)
        floats = ", ".join(f"{k} ({why.split(':')[0]})" for k, why in c["float_layers"].items())
        binary = c["binary_layers"]
        binary = ", ".join(binary) if isinstance(binary, list) else binary
        lines.append(
            f"| `{r['experiment']}` ({r['optimizer']}, {r['scale']} ⚠) | "
            f"{link(_in_project(run, project), out_dir)} | {r['trained_precision']} | "
            f"{v['images']:,} ({r['test_split']}) | {100 * v['top1_agreement']:.2f} % | "
            f"{v['max_abs_diff']:.1e} (tolerance {v['tolerance']:g}) | "
            f"{100 * v['lce_accuracy']:.2f} / {100 * v['keras_accuracy']:.2f} / "
            + (f"{100 * acc:.2f} %" if acc is not None else "—")
            + (f" ({100 * committed:.2f} %)" if committed is not None else "") + " | "
            f"{_kb(s['lce_deploy_form_bytes'])} / {_kb(s['lce_bytes'])} | "
            f"{_kb(s['float_tflite_bytes'])} | {_kb(s['lq_summary_bytes'])} | "
            f"{binary}; float: {floats or 'none'} |")
    return lines


def _latency_lines(records) -> list:
    timed = [r for r in records if r.get("latency")]
    if not timed:
        return []
    label = timed[0]["latency"]["label"]
    cells = "; ".join(f"`{r['experiment']}` LCE {r['latency']['lce_ms']:.2f} ms, float TFLite "
                      f"{r['latency']['float_tflite_ms']:.2f} ms ({r['machine']})" for r in timed)
    return [f"Latency, one image, one thread, median ({label}): {cells}. These say nothing "
            "about an ARM device, where LCE's binary kernels are optimised.", ""]


def _sizes_table(doc, reported) -> list:
    lines = [f"ImageNet models at 224 px ({doc['weights']}; sizes and ops only, no accuracy):",
             "", "| model | LCE file (deploy form / as trained) | float TFLite | "
             "lq.models.summary | larq-zoo's published size | binary / float layers (deploy form) |",
             "|---|---|---|---|---|---|"]
    for m in doc["models"]:
        entry = reported.get(LARQ_ZOO_ENTRY.format(m["experiment"]), {})
        published = (f"{entry['model_size_mb']:.2f} MB" if entry.get("model_size_mb")
                     else "—")
        c = m["census_deploy_form"]
        n_binary = len(c["binary_layers"]) if isinstance(c["binary_layers"], list) else c["binary_layers"]
        lines.append(f"| `{m['experiment']}` ({m['model']}) | {_mb(m['lce_deploy_form_bytes'])} / "
                     f"{_mb(m['lce_bytes'])} | {_mb(m['float_tflite_bytes'])} | "
                     f"{_mb(m['lq_summary_bytes'])} | {published} | {n_binary} / "
                     f"{', '.join(c['float_layers']) or 'none'} |")
    sources = [f"- `{LARQ_ZOO_ENTRY.format(m['experiment'])}` published size: "
               f"{reported[LARQ_ZOO_ENTRY.format(m['experiment'])]['model_size_source']}"
               for m in doc["models"]
               if reported.get(LARQ_ZOO_ENTRY.format(m["experiment"]), {}).get("model_size_source")]
    return lines + [""] + sources + [""]


def deployment_section(deploy_root, reported, out_dir) -> list:
    """The section's lines; none when nothing has been exported."""
    records = _records(deploy_root)
    sizes_path = os.path.join(deploy_root, SIZES)
    if not records and not os.path.isfile(sizes_path):
        return []
    lines = ["## Deployment", "",
             "Trained runs exported with larq-compute-engine (`bnn export RUN_DIR`; "
             "docs/deployment.md): the run's final weights rebuilt in float32, dense layers "
             "rewritten as 1x1 binary convolutions (the deploy form), converted, and the whole "
             "test split run through the LCE interpreter and the Keras model side by side. "
             "Sizes are bytes of the flatbuffer; lq.models.summary is larq's estimate of the "
             "weights' memory (1 bit per binary weight, 32 per float).", ""]
    if records:
        # the folder that holds results/: where the records' relative run paths start
        project = os.path.dirname(os.path.dirname(os.path.abspath(deploy_root)))
        lines += _runs_table(records, out_dir, project) + [""] + _latency_lines(records)
    if os.path.isfile(sizes_path):
        with open(sizes_path) as f:
            lines += _sizes_table(json.load(f), reported)
    return lines
