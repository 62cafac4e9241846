"""`make gpu-check`: the suite's training step on one GPU in every precision, with and
without XLA, and 200 real §5.2 steps -- one command, under 10 minutes, one JSON.

For the first GPU machine available; commit its output (``results/gpu_check.json``):
it names the machine (GPU model, compute capability, CUDA and cuDNN, driver) and the
commit. Never run from tests or CI, except ``--smoke``.

What it measures, each within a time budget (``--budget-s``, default 540 s from the start
of the process, TensorFlow's import included):

1. Step time of the suite's own training step -- ``TrainState.train_steps``, what the
   loop runs, flip counting included, with the loop's host work per call (flips and
   losses read back, the divergence check, the flip-log rows) -- for

   * ``binarynet``: BinaryNet at full width, batch 50 (``sec52_bop``, scale paper), and
   * ``birealnet``: Bi-Real Net at 224 px, batch 256 (``sec53_birealnet``, scale paper),

   in float32 (TF32 explicitly off: TensorFlow turns it on by default on Ampere and
   later), TF32 (float32 with ``enable_tensor_float_32_execution(True)``),
   mixed_bfloat16 and mixed_float16 (TF32 off, so each variant differs from float32 in
   one thing), each with ``jit_compile`` False and True. The batches are SYNTHETIC:
   one batch of random images of the right shape, made once on the device and fed to
   every step, so the step is timed without the input pipeline or host-to-device
   copies (the real pipeline is part 2). Per variant: the first call (tracing, XLA
   compilation, cuDNN autotuning) and warm-up steps are not timed; then ``--windows``
   timed windows of about ``--window-s`` seconds each; the step time is the median
   over the windows, and ``speedup_vs_float32`` is float32-without-XLA's median over
   the variant's.
2. 200 real steps of §5.2 (``sec52_bop`` at paper scale, batch 50, on CIFAR-10 from
   ``data_dir=`` / ``dataset.archive=``, the real augmented input pipeline through
   ``train_iterator``) in the fastest BinaryNet variant of part 1: images/s after the
   warm-up steps, whether the loss went down, and whether the flip counts are sane
   (finite, between 0 and each layer's size, some flips).

Nothing overruns: a variant that does not fit the time left (judged by what the
previous one of the same model took) is skipped and recorded as such; part 2's time is
reserved (``--reserve-s``); a watchdog ends the process ``--grace-s`` after the budget,
whatever is running. A variant this machine cannot run (TF32 or bfloat16 below compute
capability 8.0, float16 below 7.0) is recorded as skipped with the reason; one that
fails (out of memory, a missing kernel) is recorded with its error, and the check goes
on. The JSON is rewritten after every measurement, so a killed run still leaves one.

``--smoke`` runs the same code at tiny sizes on the CPU, GPUs hidden, to check the
plumbing in well under a minute: float32 and mixed_bfloat16 only, XLA once
(``SMOKE_VARIANTS``), a few real steps; it writes to the temp folder.
Without ``--smoke`` and without a GPU the command refuses to start.

    python -m scripts.gpu_check [--budget-s 540] [--out results/gpu_check.json] \\
        data_dir=~/tensorflow_datasets dataset.archive=/path/to/cifar-10-binary.tar.gz
    python -m scripts.gpu_check --smoke data_dir=...      # plumbing only, on CPU
"""
import time

_STARTED = time.monotonic()  # the budget counts from here, TensorFlow's import included

import argparse
import gc
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading

import numpy as np
import tensorflow as tf

from experiments.datasets.imagenet import at_size as data_scale
from experiments.datasets import is_prepared
from experiments.engine import runs
from experiments.engine.fingerprint import fingerprint, label
from experiments.engine.flips import pi_t
from experiments.engine.pipelines import prepare_data, train_iterator
from experiments.engine.signals import sigterm_as_interrupt
from experiments.engine.step import TrainState
from experiments.tools import measure
from experiments.tools.measure import Calls
from experiments.tools.paired_rounds import stamp

DEFAULT_OUT = os.path.join("results", "gpu_check.json")
SMOKE_OUT = os.path.join(tempfile.gettempdir(), "gpu_check_smoke.json")
NO_GPU = "no GPU: this check is for GPU machines; --smoke checks its plumbing on CPU"

# name -> (the experiments' precision field, TF32 matrix units on)
PRECISIONS = {
    "float32": ("float32", False),
    "tf32": ("float32", True),
    "mixed_bfloat16": ("mixed_bfloat16", False),
    "mixed_float16": ("mixed_float16", False),
}
# --smoke: every code path once, in float32 and mixed_bfloat16, kept short (tracing a
# model takes seconds on a CPU, an XLA compile of Bi-Real Net about ten):
# (model, precision, jit_compile)
SMOKE_VARIANTS = {("binarynet", "float32", False), ("binarynet", "float32", True),
                  ("binarynet", "mixed_bfloat16", False), ("birealnet", "float32", False)}
# The order they run in, most wanted first, so that a budget cut drops the least:
# bfloat16 is what precision=auto picks on these GPUs; float16 needs loss scaling.
RUN_ORDER = ("float32", "mixed_bfloat16", "tf32", "mixed_float16")
BASELINE = "float32"  # float32 without XLA: what the ratios divide by

# The two networks: the experiment, the overrides that give the measured size, and the
# tiny sizes of --smoke.
MODELS = {
    "binarynet": {
        "experiment": "sec52_bop",
        "what": "BinaryNet, full width (128 filters, 1024 units), 32x32x3, batch 50 (§5.2)",
        "overrides": {"batch_size": 50},
        "smoke": {"model.filters": 4, "model.dense_units": 16, "batch_size": 4},
    },
    "birealnet": {
        "experiment": "sec53_birealnet",
        "what": "Bi-Real Net (larq-zoo's, 64 filters), 224x224x3, batch 256 (§5.3)",
        "overrides": {"batch_size": 256, **data_scale(224)},
        "smoke": {"model.filters": 4, "batch_size": 2, **data_scale(32)},
    },
}
SYNTHETIC = ("synthetic: one batch of uniform [-1, 1] images and uniform labels of the "
             "right shape, made once on the device and fed to every step (no input "
             "pipeline, no host-to-device copy)")
REAL_EXPERIMENT = "sec52_bop"


def variant_name(name: str, jit: bool) -> str:
    return f"{name}+xla" if jit else name


# --- the machine ----------------------------------------------------------------------------


def visible_gpus() -> list:
    return tf.config.list_physical_devices("GPU")


def nvidia_smi() -> list | None:
    """Driver version and memory of each GPU from ``nvidia-smi`` (None where there is none)."""
    query = "name,driver_version,memory.total,power.limit"
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode:
        return None
    keys = query.split(",")
    return [dict(zip(keys, (v.strip() for v in line.split(","))))
            for line in out.stdout.splitlines() if line.strip()]


def machine(fp: dict) -> dict:
    """The machine in short: what a reader of the JSON looks for first."""
    gpus = fp.get("gpus") or []
    return {"label": fp.get("label"), "gpu_model": gpus[0]["name"] if gpus else None,
            "gpus": gpus, "compute_capability": gpus[0]["compute_capability"] if gpus else None,
            "cuda": fp.get("cuda"), "cudnn": fp.get("cudnn"), "nvidia_smi": nvidia_smi(),
            "cpu": fp.get("cpu"), "cpu_count": fp.get("cpu_count"),
            "tensorflow": fp.get("tensorflow")}


# The lowest compute capability at which each precision runs natively on NVIDIA GPUs.
NEEDS = {"tf32": (8, 0), "mixed_bfloat16": (8, 0), "mixed_float16": (7, 0)}


def capability(fp: dict) -> tuple:
    """The lowest compute capability among the machine's GPUs ((0, 0) where unknown)."""
    caps = [tuple(int(x) for x in g["compute_capability"].split("."))
            if isinstance(g, dict) and g.get("compute_capability") else (0, 0)
            for g in fp.get("gpus") or []]
    return min(caps) if caps else (0, 0)


def unsupported(name: str, fp: dict, smoke: bool, model: str = "", jit: bool = False):
    """Why variant ``name`` (+ XLA if ``jit``) of ``model`` is not measured on the machine
    ``fp``: not part of --smoke, or below the compute capability it needs (None: it is)."""
    if smoke:
        return None if (model, name, jit) in SMOKE_VARIANTS else "not part of --smoke"
    need, have = NEEDS.get(name), capability(fp)
    if need is None or have >= need:
        return None
    where = (f"needs compute capability >= {need[0]}.{need[1]}; this GPU has "
             f"{have[0]}.{have[1]}")
    if name == "tf32":
        return f"TF32 {where} (Ampere or later), where it would run as float32"
    return f"{name} {where}, where TensorFlow would emulate it or have no kernel"


def set_tf32(on: bool) -> bool:
    tf.config.experimental.enable_tensor_float_32_execution(on)
    return bool(tf.config.experimental.tensor_float_32_execution_enabled())


# --- the JSON, written as it goes -----------------------------------------------------------


class Report:
    """The JSON document, rewritten (atomically) after every change; one writer at a
    time (the watchdog writes too)."""

    def __init__(self, path: str, doc: dict):
        self.path, self.doc = path, doc
        self.lock = threading.Lock()

    def save(self, **top) -> None:
        with self.lock:
            self._write(top)

    def _write(self, top: dict) -> None:
        self.doc.update(top)
        self.doc["elapsed_s"] = round(time.monotonic() - _STARTED, 1)
        self.doc["updated"] = runs.now()
        measure.write_document(self.path, self.doc)


def start_watchdog(report: Report, at_s: float, what: dict) -> threading.Timer:
    """End the process at ``at_s`` seconds after the start, whatever runs then (a compile
    cannot be interrupted), leaving the JSON with what was measured."""
    def fire():
        if report.lock.acquire(timeout=10):  # not while the main thread writes
            try:
                report._write({"status": "ended by the watchdog",
                               "watchdog": f"the budget plus its grace ({at_s:.0f} s) ran out "
                                           f"during {what.get('now', '?')}; the process was "
                                           "ended"})
            finally:
                report.lock.release()
        print(f"gpu-check: watchdog: {at_s:.0f} s are up; wrote {report.path}", file=sys.stderr,
              flush=True)
        os._exit(3)

    timer = threading.Timer(max(0.0, at_s - (time.monotonic() - _STARTED)), fire)
    timer.daemon = True
    timer.start()
    return timer


def left(deadline: float) -> float:
    return deadline - time.monotonic()


# --- the loop's calls -----------------------------------------------------------------------


class RepeatedBatch:
    """An iterator that yields the same device-resident batch forever: inside the
    compiled ``train_steps`` it is read once, when the loop body is traced."""

    def __init__(self, batch):
        self.batch = batch

    def __iter__(self):
        return self

    def __next__(self):
        return self.batch


def synthetic_batch(exp):
    shape = (exp.batch_size, *exp.dataset.input_shape())
    images = tf.random.stateless_uniform(shape, seed=(0, 1), minval=-1.0, maxval=1.0)
    labels = tf.random.stateless_uniform((exp.batch_size,), seed=(0, 2), minval=0,
                                         maxval=exp.dataset.num_classes, dtype=tf.int32)
    return images, tf.cast(labels, tf.int64)  # as the pipelines give them


def flip_check(flips, sizes) -> dict:
    """Flip counts are sane: finite, between 0 and the layer's size, and some flipped."""
    flips = np.asarray(flips, dtype=np.float64).reshape(-1, len(sizes))
    finite = bool(np.isfinite(flips).all())
    in_range = bool(finite and (flips >= 0).all() and (flips <= sizes).all())
    total = float(flips.sum()) if finite else None
    return {"finite": finite, "within_0_and_layer_size": in_range, "total_flips": total,
            "any_flips": bool(total), "sane": bool(in_range and total),
            # float16: a step skipped for non-finite gradients flips nothing
            "zero_flip_steps": int((flips.sum(axis=1) == 0).sum()) if finite else None}


def loss_check(losses) -> dict:
    losses = np.asarray(losses, dtype=np.float64)
    return {"all_finite": bool(np.isfinite(losses).all()), "first": float(losses[0]),
            "last": float(losses[-1])}


# --- part 1: step time ----------------------------------------------------------------------


def build_experiment(spec: dict, name: str, jit: bool, args, data: dict):
    policy, _ = PRECISIONS[name]
    conf = {"scale": "paper", **spec["overrides"], **(spec["smoke"] if args.smoke else {}),
            "precision": policy, "jit_compile": jit, "progress": False,
            "data_dir": data["data_dir"]}
    if args.steps_per_loop:
        conf["steps_per_loop"] = args.steps_per_loop
    return measure.experiment(spec["experiment"], conf)


def measure_variant(spec: dict, name: str, jit: bool, args, data: dict, deadline: float) -> dict:
    """Build one ``TrainState``, compile it, warm up, then time ``args.windows`` windows
    (fewer where the deadline comes first)."""
    started = time.monotonic()
    tf.keras.backend.clear_session()
    gc.collect()
    tf32 = set_tf32(PRECISIONS[name][1])
    exp = build_experiment(spec, name, jit, args, data)
    plan = exp.plan_data()
    state = TrainState(exp, tf.distribute.get_strategy(), plan.n_train / exp.batch_size)
    calls = Calls(exp, state, RepeatedBatch(synthetic_batch(exp)))
    built = time.monotonic()
    calls.run(1)  # tracing, XLA compilation, autotuning: not timed
    compiled = time.monotonic()
    # warm-up: at least --warmup-steps steps and two calls, at most --warmup-s
    warm = [stamp()]
    while (len(warm) < 3 or (len(warm) - 1) * exp.steps_per_loop < args.warmup_steps) \
            and time.monotonic() - compiled < args.warmup_s:
        warm += calls.run(1)
    durations = [b[0] - a[0] for a, b in zip(warm, warm[1:])]
    call_s = statistics.median(durations) if durations else compiled - built
    per_window = max(1, min(args.max_calls_per_window, round(args.window_s / max(call_s, 1e-6))))
    windows = []
    for _ in range(args.windows):
        if windows and left(deadline) < per_window * call_s * 1.5:
            break
        start = stamp()
        end = calls.run(per_window)[-1]
        steps = per_window * exp.steps_per_loop
        windows.append(((end[0] - start[0]) / steps, (end[1] - start[1]) / steps))
    wall = [w[0] for w in windows]
    step_s = statistics.median(wall)
    record = {
        "status": "measured" if len(windows) >= min(args.windows, args.min_windows)
        else "incomplete",
        "precision": exp.precision, "tf32": tf32, "jit_compile": jit,
        "steps_per_loop": exp.steps_per_loop, "batch_size": exp.batch_size,
        "step_time_s": step_s,
        "images_per_s": round(exp.batch_size / step_s, 1),
        "window_step_times_s": [round(t, 6) for t in wall],
        "window_spread": round((max(wall) - min(wall)) / step_s, 3),
        "host_cpu_s_per_step": round(statistics.median(w[1] for w in windows), 6),
        "windows": len(windows), "steps_per_window": per_window * exp.steps_per_loop,
        "warmup_steps": (len(warm) - 1) * exp.steps_per_loop + exp.steps_per_loop,
        "build_s": round(built - started, 2), "first_call_s": round(compiled - built, 2),
        "total_s": round(time.monotonic() - started, 2),
        "loss": loss_check(calls.losses),
        "flips": flip_check(calls.flips, state.layer_sizes),
    }
    if record["status"] == "incomplete":
        record["reason"] = (f"budget: {len(windows)} of {args.windows} timed windows fitted "
                            "before the deadline")
    del state, calls
    tf.keras.backend.clear_session()
    gc.collect()
    return record


def summary(blocks: dict) -> dict:
    """``{network: {variant: "12.34 ms, 1.50x" or its status}}``: the step times at a glance."""
    out = {}
    for model, block in blocks.items():
        out[model] = {}
        for key, r in block["variants"].items():
            if not r.get("step_time_s"):
                out[model][key] = r["status"]
                continue
            ratio = r.get("speedup_vs_float32")
            out[model][key] = (f"{1e3 * r['step_time_s']:.3f} ms/step"
                               + (f", {ratio:.2f}x float32" if ratio else ""))
    return out


def add_ratios(variants: dict) -> None:
    base = variants.get(BASELINE, {}).get("step_time_s")
    for record in variants.values():
        if base and record.get("step_time_s"):
            record["speedup_vs_float32"] = round(base / record["step_time_s"], 3)


def estimated_cost(costs: dict, model: str, jit: bool):
    """What the next variant of ``model`` will take: the last one's time with the same
    jit_compile, else the last one's of that model (None: nothing measured yet)."""
    return costs.get((model, jit), costs.get((model, not jit)))


def measure_or_skip(variants, model, spec, name, jit, args, data, fp, deadline, costs,
                    now) -> None:
    """One variant into ``variants``: skipped (the machine cannot run it, or it does not
    fit the time left), failed (with its error), or measured."""
    key = variant_name(name, jit)
    why = unsupported(name, fp, args.smoke, model, jit)
    cost = estimated_cost(costs, model, jit)
    if why is None:
        room = left(deadline)
        if cost is not None and room < cost:
            why = (f"budget: about {cost:.0f} s needed (as the previous variant took), "
                   f"{max(room, 0):.0f} s left")
        elif cost is None and room < args.min_variant_s:
            why = f"budget: {max(room, 0):.0f} s left"
    if why:
        variants[key] = {"status": "skipped", "reason": why}
        print(f"{model} {key}: skipped ({why})", flush=True)
        return
    now["now"] = f"{model} {key}"
    variants[key] = {"status": "measuring"}  # what a watchdog's JSON shows for it
    print(f"{model} {key}: measuring", flush=True)
    try:
        r = variants[key] = measure_variant(spec, name, jit, args, data, deadline)
        costs[(model, jit)] = r["total_s"]
        print(f"{model} {key}: {1e3 * r['step_time_s']:.2f} ms/step, {r['images_per_s']:.0f} "
              f"images/s (first call {r['first_call_s']:.0f} s, {r['windows']} windows of "
              f"{r['steps_per_window']} steps)", flush=True)
    except Exception as e:  # noqa: BLE001 -- recorded, and the check goes on
        variants[key] = {"status": "failed", "error": f"{type(e).__name__}: {str(e)[:1000]}"}
        print(f"{model} {key}: failed: {type(e).__name__}: {str(e)[:300]}", file=sys.stderr,
              flush=True)
        tf.keras.backend.clear_session()
        gc.collect()
    add_ratios(variants)


def step_times(args, data, fp, report, deadline, now) -> dict:
    """Part 1: every variant of both networks, listed as pending from the start (a run
    ended early shows what it never reached); ``fastest`` per network."""
    out = {}
    for model, spec in MODELS.items():
        out[model] = {"experiment": spec["experiment"], "what": spec["what"],
                      "data": SYNTHETIC,
                      "overrides": {**spec["overrides"], **(spec["smoke"] if args.smoke else {})},
                      "variants": {variant_name(n, j): {"status": "pending"}
                                   for n in PRECISIONS for j in (False, True)}}
    report.save(step_time=out)
    costs = {}
    # variant by variant across the models, most wanted first: a budget cut drops the
    # same, least wanted, variants of both
    for name in RUN_ORDER:
        for jit in (False, True):
            for model, spec in MODELS.items():
                measure_or_skip(out[model]["variants"], model, spec, name, jit, args, data,
                                fp, deadline, costs, now)
                report.save(summary=summary(out))
    for block in out.values():
        timed = {k: v for k, v in block["variants"].items() if v.get("step_time_s")}
        block["fastest"] = min(timed, key=lambda k: timed[k]["step_time_s"]) if timed else None
    report.save(summary=summary(out))
    return out


# --- part 2: real §5.2 steps ----------------------------------------------------------------


def cifar10_source(data: dict):
    """Why CIFAR-10 cannot be read here without a download (None: it can)."""
    import tensorflow_datasets as tfds

    if data.get("dataset.archive"):
        return None
    if is_prepared(tfds.builder("cifar10", data_dir=data["data_dir"])):
        return None
    return (f"no CIFAR-10 is prepared in {data['data_dir']} and no dataset.archive= was given "
            "(this check does not download); give dataset.archive=/path/to/"
            "cifar-10-binary.tar.gz (make: CIFAR10_ARCHIVE=)")


def real_experiment(args, data: dict, name: str, jit: bool):
    conf = {"scale": "paper", "precision": PRECISIONS[name][0], "jit_compile": jit,
            "progress": False, **data,
            **(MODELS["binarynet"]["smoke"] if args.smoke else {})}
    if args.steps_per_loop:
        conf["steps_per_loop"] = args.steps_per_loop
    return measure.experiment(REAL_EXPERIMENT, conf)


def real_steps(args, data: dict, choice: str, deadline: float) -> dict:
    """``args.real_steps`` steps of §5.2 on CIFAR-10 through the real input pipeline."""
    name, jit = choice.removesuffix("+xla"), choice.endswith("+xla")
    started = time.monotonic()
    tf.keras.backend.clear_session()
    gc.collect()
    tf32 = set_tf32(PRECISIONS[name][1])
    exp = real_experiment(args, data, name, jit)
    builder, split, _, n_train, steps_per_epoch = prepare_data(exp)
    tf.keras.utils.set_random_seed(exp.seed)  # as train() does
    strategy = tf.distribute.get_strategy()
    state = TrainState(exp, strategy, n_train / exp.batch_size)
    calls = Calls(exp, state, train_iterator(exp, strategy, builder, split, epoch=0))
    n = exp.steps_per_loop
    total = min(args.real_steps, steps_per_epoch)
    built = time.monotonic()
    calls.run(1)
    compiled = time.monotonic()
    warmup_calls = max(0, math.ceil(args.real_warmup_steps / n) - 1)
    calls.run(warmup_calls, deadline)
    start = stamp()
    steps_before = calls.step
    rest = max(0, math.ceil((total - calls.step) / n))
    end = calls.run(rest, deadline)[-1] if rest else start
    timed = calls.step - steps_before
    losses = np.asarray(calls.losses)
    k = max(1, min(20, len(losses) // 4))
    flips = np.asarray(calls.flips, dtype=np.float64)
    first, last = float(losses[:k].mean()), float(losses[-k:].mean())
    record = {
        "status": "completed" if calls.step >= total else "incomplete",
        "experiment": exp.name, "scale": exp.scale, "variant": choice,
        "precision": exp.precision, "tf32": tf32, "jit_compile": jit,
        "batch_size": exp.batch_size, "steps_per_loop": n,
        "train_split": split, "train_examples": n_train,
        "data": "CIFAR-10, the suite's augmented training pipeline (train_iterator), epoch 0",
        "steps": calls.step, "steps_planned": total,
        "warmup_steps": steps_before, "timed_steps": timed,
        "images_per_s": round(timed * exp.batch_size / (end[0] - start[0]), 1) if timed else None,
        "host_cpu_s_per_step": round((end[1] - start[1]) / timed, 6) if timed else None,
        "build_s": round(built - started, 2), "first_call_s": round(compiled - built, 2),
        "total_s": round(time.monotonic() - started, 2),
        "loss": {**loss_check(losses), "mean_of_first_steps": first,
                 "mean_of_last_steps": last, "steps_averaged": k,
                 "went_down": bool(last < first)},
        "flips": {**flip_check(flips, state.layer_sizes),
                  "mean_pi_t_per_layer": dict(zip(
                      state.layer_names,
                      np.round(pi_t(flips.mean(axis=0), state.layer_sizes), 3).tolist()))},
    }
    if record["status"] == "incomplete":
        record["reason"] = f"budget: {calls.step} of {total} steps before the deadline"
    return record


# --- command line ---------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None,
                        help=f"the JSON (default {DEFAULT_OUT}; with --smoke {SMOKE_OUT})")
    parser.add_argument("--smoke", action="store_true",
                        help="the same code at tiny sizes on CPU, seconds: checks the plumbing")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="seconds from the start for everything (default 540; --smoke 240)")
    parser.add_argument("--grace-s", type=float, default=30.0,
                        help="the watchdog ends the process this long after the budget")
    parser.add_argument("--reserve-s", type=float, default=None,
                        help="seconds kept for the real §5.2 steps (default 60; --smoke 0)")
    parser.add_argument("--windows", type=int, default=None, help="timed windows (default 5)")
    parser.add_argument("--min-windows", type=int, default=3,
                        help="fewer than this is recorded as incomplete")
    parser.add_argument("--window-s", type=float, default=None,
                        help="about this long per timed window (default 1.0)")
    parser.add_argument("--max-calls-per-window", type=int, default=500)
    parser.add_argument("--warmup-steps", type=int, default=None,
                        help="untimed steps after the first call (default 10)")
    parser.add_argument("--warmup-s", type=float, default=5.0,
                        help="at most this long warming up after the first call")
    parser.add_argument("--min-variant-s", type=float, default=None,
                        help="do not start a variant with less time left (default 20)")
    parser.add_argument("--steps-per-loop", type=int, default=0,
                        help="steps per compiled call (default: the experiment's, as its "
                             "runs use)")
    parser.add_argument("--real-steps", type=int, default=None, help="§5.2 steps (default 200)")
    parser.add_argument("--real-warmup-steps", type=int, default=None,
                        help="of those, not timed (default 10)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="data_dir=... and/or dataset.archive=... (as for experiments)")
    args = parser.parse_args(argv)
    full = {"budget_s": 540.0, "reserve_s": 60.0, "windows": 5, "window_s": 1.0,
            "warmup_steps": 10, "min_variant_s": 20.0, "real_steps": 200,
            "real_warmup_steps": 10}
    smoke = {"budget_s": 240.0, "reserve_s": 0.0, "windows": 3, "window_s": 0.0,
             "warmup_steps": 1, "min_variant_s": 0.0, "real_steps": 6, "real_warmup_steps": 2}
    for key, value in (smoke if args.smoke else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.smoke:
        args.warmup_s = min(args.warmup_s, 1.0)
    args.out = args.out or (SMOKE_OUT if args.smoke else DEFAULT_OUT)
    return args


def summary_table(doc: dict) -> str:
    lines = [f"gpu-check on {doc['machine']['label']} ({'SMOKE, ' if doc['smoke'] else ''}"
             f"commit {(doc['git'].get('commit') or '?')[:7]}): ms per step (speedup vs "
             "float32 without XLA)", "",
             "| variant | " + " | ".join(doc.get("step_time", {})) + " |",
             "|---|" + "---:|" * len(doc.get("step_time", {}))]
    blocks = doc.get("step_time", {})
    keys = next(iter(blocks.values()))["variants"] if blocks else {}
    for key in keys:
        cells = []
        for block in blocks.values():
            r = block["variants"][key]
            ratio = r.get("speedup_vs_float32")
            cells.append(f"{1e3 * r['step_time_s']:.2f}" + (f" ({ratio:.2f}x)" if ratio else "")
                         if r.get("step_time_s") else r["status"])
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    real = doc.get("sec52_real_steps") or {}
    if real.get("images_per_s"):
        lines += ["", f"§5.2 real steps ({real['variant']}): {real['steps']} steps, "
                      f"{real['images_per_s']:.0f} images/s, loss {real['loss']['first']:.3f} -> "
                      f"{real['loss']['last']:.3f} (went down: {real['loss']['went_down']}), "
                      f"flips sane: {real['flips']['sane']}"]
    elif real:
        lines += ["", f"§5.2 real steps: {real.get('status')} ({real.get('reason') or real.get('error')})"]
    return "\n".join(lines)


def main(argv=None) -> int:
    raw = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(raw)
    if args.smoke:
        tf.config.set_visible_devices([], "GPU")  # the plumbing, on the CPU
    elif not visible_gpus():
        print(NO_GPU, file=sys.stderr)
        return 2
    data = measure.data_overrides(args.overrides, "gpu-check")
    runs.git_commit()  # the code imported now
    fp = fingerprint()
    if args.smoke:  # GPUs hidden: the run is on the CPU
        fp = {**fp, "gpus": [], "cuda": None, "cudnn": None}
        fp["label"] = label(fp)
    end = args.budget_s  # seconds from the start
    doc = {
        "what": "the suite's training step (TrainState.train_steps with flip counting and "
                "the loop's host work per call) on one device in float32, TF32, "
                "mixed_bfloat16 and mixed_float16, each without and with XLA, on synthetic "
                "batches; and real §5.2 steps on CIFAR-10 in the fastest variant",
        "smoke": args.smoke,
        "note": ("SMOKE: tiny models on the CPU; the numbers mean nothing, only that the "
                 "check runs" if args.smoke else
                 "measured on the machine named here; one device (replicas: 1)"),
        **measure.provenance(("python -m scripts.gpu_check " + " ".join(raw)).strip(), fp),
        "status": "running", "started": runs.now(),
        "machine": machine(fp),
        "settings": {**{k: getattr(args, k) for k in (
            "budget_s", "grace_s", "reserve_s", "windows", "min_windows", "window_s",
            "warmup_steps", "warmup_s", "min_variant_s", "real_steps", "real_warmup_steps")},
            "steps_per_loop": args.steps_per_loop or "each experiment's own"},
        "data": data,
    }
    report = Report(args.out, doc)
    now = {"now": "start-up"}
    watchdog = start_watchdog(report, end + args.grace_s, now)
    report.save()
    print(f"gpu-check on {fp['label']}: budget {end:.0f} s from the start "
          f"({time.monotonic() - _STARTED:.0f} s gone) -> {args.out}", flush=True)
    try:
        with sigterm_as_interrupt():  # SIGTERM too leaves the JSON saying so
            run_all(args, data, fp, report, end, now)
    except KeyboardInterrupt:
        report.save(status="interrupted")
        print(f"\ninterrupted; wrote what was measured to {args.out}", file=sys.stderr)
        return 130
    finally:
        watchdog.cancel()
    report.save(status="completed")
    print("\n" + summary_table(report.doc))
    print(f"\nwrote {args.out} ({report.doc['elapsed_s']:.0f} s)")
    return 0


def run_all(args, data, fp, report, end, now) -> None:
    """Part 1, then part 2 in the fastest BinaryNet variant of part 1. CIFAR-10 is
    prepared first (once per data_dir), so that its preparation does not eat part 2's
    reserve and a problem with it shows at once."""
    problem = cifar10_source(data)
    if problem is None:
        now["now"] = "CIFAR-10 preparation"
        try:
            prepare_data(real_experiment(args, data, "float32", False))
        except Exception as e:  # noqa: BLE001 -- recorded; part 1 needs no data
            problem = f"CIFAR-10 could not be prepared: {type(e).__name__}: {str(e)[:500]}"
    report.save(sec52_real_steps={"status": "skipped", "reason": problem} if problem
                else {"status": "pending"})
    reserve = 0.0 if problem else args.reserve_s
    blocks = step_times(args, data, fp, report, _STARTED + end - reserve, now)
    if problem:
        return
    measured = blocks["binarynet"].get("fastest")
    fastest = measured or BASELINE
    if left(_STARTED + end) < 5:
        report.save(sec52_real_steps={"status": "skipped", "reason": "budget: no time left"})
        return
    now["now"] = f"§5.2 real steps ({fastest})"
    print(f"§5.2: {args.real_steps} real steps in {fastest}", flush=True)
    try:
        real = real_steps(args, data, fastest, _STARTED + end)
        real["chosen_because"] = ("the fastest BinaryNet variant of the step times" if measured
                                  else "no BinaryNet variant was measured: float32")
    except Exception as e:  # noqa: BLE001 -- recorded
        real = {"status": "failed", "variant": fastest,
                "error": f"{type(e).__name__}: {str(e)[:1000]}"}
    report.save(sec52_real_steps=real)


if __name__ == "__main__":
    sys.exit(main())
