"""Throughput benchmark: the suite's training step against a plain ``model.fit``, and
the input pipelines. Two parts, each written into its own keys of one JSON file.

CIFAR-10 (``--only cifar10``; top-level keys ``sec52_bop``, ``sec52_adam``,
``input_pipeline_images_per_s``, ...): full-width BinaryNet at batch 50 (§5.2) under

* the suite's step (``experiments.engine.step.TrainState`` through ``train_iterator``,
  per-step, per-layer flip counts, the host work of the real loop), with the §5.2 Bop
  optimizer and with the §5.2 latent-weight Adam baseline;
* a plain ``model.compile`` + ``model.fit`` of the same larq model and optimizer, with
  none of the suite's extras, and with larq's own ``lq.optimizers.Bop`` where the suite
  runs ``CountingBop`` (the same update, its flip rule fused with the flip count);
* the input pipeline alone (augmented CIFAR-10 batches, no model).

ImageNet (``--only imagenet``; key ``imagenet``):

* the §5.3 training pipeline alone (JPEG decode, random resized crop, bicubic resize,
  flip, normalise), in images/s PER CPU CORE -- measured in a child process pinned to
  one core with ``os.sched_setaffinity`` before TensorFlow starts, so TensorFlow and
  tf.data size their thread pools for one core -- and on all cores, at 224 px and at
  the quick scale's 64 px;
* a §5.3 model (default Bi-Real Net, larq-zoo's factory) with the §5.3 Bop optimizer at
  a reduced input size: the suite's step against a plain ``model.fit``, both fed by the
  ImageNet pipeline.

The ImageNet part reads the ``imagenet2012`` prepared in ``data_dir`` if there is one;
otherwise it builds one from the 100-image sample (``../shared/data/imagenet-sample``,
with ``experiments/fakes/imagenet.py``), each training image repeated ``--sample-repeat`` times,
in a cache folder, and says so in the JSON (``"data"``).

Each suite-vs-fit comparison is timed in paired, interleaved rounds (the machine is noisy;
``experiments/tools/paired_rounds.py``): the ratio suite/fit in wall time and in CPU time, each as a
median with a distribution-free 95 % interval, rounds added until both intervals are
within ``--target-half-width`` (±3 %) or ``--max-rounds``; every round's number is kept,
and the verdict on "the suite's step is at least as fast as plain fit" (``TARGET_RATIO``)
is "holds" only when the whole interval is at or above 1. The JSON carries the machine,
the git commit, the package versions and the date. On a GPU machine the same command
works unchanged, e.g. ``--imagenet-size 224 --imagenet-batch 256 --distribution
mirrored``.

    python -m scripts.bench --out results/bench.json data_dir=~/tensorflow_datasets
    python -m scripts.bench --only imagenet data_dir=~/tensorflow_datasets
    python -m scripts.bench --only imagenet --smoke      # seconds; /tmp output

(``--quick-smoke`` is the smoke flag's former name, still accepted.)
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import larq as lq
import numpy as np
import tensorflow as tf

from experiments import registry
from experiments.datasets import imagenet, is_prepared
from experiments.engine import bf16, precision, runs
from experiments.engine.distribute import make_strategy
from experiments.engine.experiment import build
from experiments.engine.fingerprint import fingerprint
from experiments.engine.pipelines import prepare_data
from experiments.engine.step import synchronize_batchnorm
from experiments.optimizers.bop import CountingBop
from experiments.optimizers.schedules import ScaledSchedule
from experiments.tools import measure, paired_rounds
from experiments.tools.measure import provenance

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join("results", "bench.json")
TARGET_RATIO = 1.0  # issue #11: the suite's step at least as fast as plain fit
SAMPLE_DATA = "100-image sample, repeated"
# The child that measures the per-core pipeline rate: pinned to one CPU before Python
# imports anything, then runs this script as __main__.
_PINNED_CHILD = ("import os, runpy, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); "
                 "sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')")
_RESULT_MARK = "BENCH_RESULT "
# Keys of the JSON file written by the CIFAR-10 part (top level, as before the ImageNet part).
CIFAR10_KEYS = ("what", "command", "date", "hardware", "packages", "git", "settings",
                "input_pipeline_images_per_s", "sec52_bop", "sec52_adam")


# --- the JSON file --------------------------------------------------------------------------


def merge_report(path: str, cifar10: dict | None = None, imagenet: dict | None = None,
                 precision: dict | None = None, workers: dict | None = None,
                 bf16: dict | None = None) -> dict:
    """Write one part's results into ``path``, keeping the others': the CIFAR-10 part
    owns the top-level keys (``CIFAR10_KEYS``), the ImageNet part the key ``imagenet``,
    the mixed-precision part the key ``precision``, the workers part the key ``workers``,
    the part on bfloat16 without its hardware the key ``bf16``. Returns what was written."""
    report = runs.read_json(path, fix="Remove it and re-run the benchmark.") \
        if os.path.exists(path) else {}
    if cifar10 is not None:
        for key in CIFAR10_KEYS:
            report.pop(key, None)
        report.update({k: v for k, v in cifar10.items() if k != "imagenet"})
    if imagenet is not None:
        report["imagenet"] = imagenet
    if precision is not None:
        report["precision"] = precision
    if workers is not None:
        report["workers"] = workers
    if bf16 is not None:
        report["bf16"] = bf16
    measure.write_document(path, report)
    return report


# --- timing ---------------------------------------------------------------------------------


class BatchStamps(tf.keras.callbacks.Callback):
    """A (wall, CPU) stamp after every batch. Keras hands a callback that does not take
    tensor logs numpy values, so every step is finished (also on a GPU) when it fires."""

    def __init__(self):
        super().__init__()
        self.stamps = []

    def on_train_batch_end(self, batch, logs=None):
        self.stamps.append(paired_rounds.stamp())


def with_larqs_own_bop(optimizer):
    """The plain-fit baseline trains with larq's own ``lq.optimizers.Bop``, as anyone
    using larq without the suite would: the suite's ``CountingBop`` is swapped for it,
    hyperparameters and schedules unchanged. Other optimizers stay as built."""
    pairs = getattr(optimizer, "pred_opt_pairs", None)
    if pairs is None:
        return optimizer

    def own(opt):
        if not isinstance(opt, CountingBop):
            return opt
        return lq.optimizers.Bop.from_config(
            opt.get_config(), custom_objects={"ScaledSchedule": ScaledSchedule})

    return lq.optimizers.CaseOptimizer(*[(predicate, own(opt)) for predicate, opt in pairs],
                                       default_optimizer=optimizer.default)


def fit_model(exp, strategy, steps_per_epoch):
    """The same larq model and optimizer as the suite's, compiled for a plain fit."""
    tf.keras.backend.reset_uids()
    bf16.follow(exp.precision, fingerprint())  # as TrainState does
    with strategy.scope():
        with precision.policy(exp.precision):  # as TrainState builds it
            model = exp.build_model()
        optimizer, _ = exp.optimizer.build(model, steps_per_epoch, exp.epochs)
        optimizer = with_larqs_own_bop(optimizer)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    if exp.sync_batchnorm and strategy.num_replicas_in_sync > 1:
        synchronize_batchnorm(model)  # as TrainState does: the same model
    return model


def fit_window(model, dataset, steps):
    """Stamps of a plain ``model.fit`` of ``1 + steps`` batches of the epoch's pipeline:
    from the end of its first batch (Keras's per-call set-up and a fresh pipeline
    excluded) to its last. The pipeline is not truncated (``steps_per_epoch``, not
    ``take``): it keeps decoding ahead, as the suite's does. Truncated, it stops working
    before fit's last steps, which then have the CPU to themselves: in a one-off diagnosis
    on Binary AlexNet at 64 px, that alone made fit 5 % faster (0.297 vs 0.312 s/step)."""
    stamps = BatchStamps()
    model.fit(dataset, epochs=1, steps_per_epoch=1 + steps, verbose=0, callbacks=[stamps])
    return stamps.stamps


def fit_rounds(exp, strategy, builder, split, steps_per_epoch, steps):
    """The plain-fit variant: one compiled Keras model of the same config."""
    model = fit_model(exp, strategy, steps_per_epoch)

    def fit(r):
        return fit_window(model, exp.dataset.train_dataset(builder, split, exp.batch_size,
                                                           exp.seed, r), steps)
    return fit, exp.batch_size, model


def compare_suite_and_fit(exp, strategy, builder, split, steps_per_epoch, steps, rounds,
                          log, fit_exp=None, targets=(TARGET_RATIO, 0.95), names=None):
    """One ``TrainState`` (of ``exp``) and one compiled Keras model (of ``fit_exp``, by
    default the same config), built once and warmed up; then paired, interleaved rounds
    (``experiments/tools/paired_rounds.py``), round r of both on a fresh pipeline of epoch r (the
    same images and crops)."""
    suite, suite_images, state = measure.suite_rounds(exp, strategy, builder, split,
                                                      steps_per_epoch, steps)
    fit, fit_images, _ = fit_rounds(fit_exp or exp, strategy, builder, split, steps_per_epoch,
                                    steps)
    suite(0), fit(0)  # compile both, outside every round
    names = names or ("suite", "plain_fit")
    result = paired_rounds.compare(suite, fit, dict(zip(names, (suite_images, fit_images))),
                                   names=names, min_rounds=rounds[0], max_rounds=rounds[1],
                                   target_half_width=rounds[2], target_ratio=targets[0],
                                   extra_targets=targets[1:], log=log)
    result["binary_weights"] = int(sum(np.prod(k.shape) for k in state.kernels))
    result["steps_per_round"] = steps
    result["steps_per_loop"] = exp.steps_per_loop
    return result


def compare_suites(exp_a, exp_b, strategy, builder, split, steps_per_epoch, steps, rounds,
                   log, names):
    """Two configurations of the suite's own step (e.g. with and without XLA), paired."""
    a, images_a, _ = measure.suite_rounds(exp_a, strategy, builder, split, steps_per_epoch,
                                          steps)
    b, images_b, _ = measure.suite_rounds(exp_b, strategy, builder, split, steps_per_epoch,
                                          steps)
    a(0), b(0)
    return {**paired_rounds.compare(a, b, dict(zip(names, (images_a, images_b))), names=names,
                                    min_rounds=rounds[0], max_rounds=rounds[1],
                                    target_half_width=rounds[2], target_ratio=1.0, log=log),
            "steps_per_round": steps}


# --- CIFAR-10 -------------------------------------------------------------------------------


def cifar10_part(args, overrides) -> dict:
    exps = {name: measure.experiment(name, overrides) for name in ("sec52_bop", "sec52_adam")}
    some = exps["sec52_bop"]
    builder, split, _, n_train, _ = prepare_data(some)
    strategy = tf.distribute.get_strategy()
    steps_per_epoch = n_train / some.batch_size

    results = {}
    rounds = (args.min_rounds, args.max_rounds, args.target_half_width)
    for name, exp in exps.items():
        tf.keras.backend.clear_session()
        print(f"{name}: suite vs plain fit, {args.steps} steps per round, "
              f"{args.min_rounds}-{args.max_rounds} rounds", flush=True)
        results[name] = compare_suite_and_fit(
            exp, strategy, builder, split, steps_per_epoch, args.steps, rounds,
            lambda m, name=name: print(f"{name} {m}", flush=True))
    pipeline = cifar10_pipeline_rate(some, builder, split, batches=args.pipeline_batches)
    print(f"input pipeline alone: {pipeline:.0f} images/s")

    report = {
        "what": "training images/s, full-width BinaryNet (128 filters, 1024 units, valid "
                "first conv), batch 50, CIFAR-10 train split: the suite's step (flip "
                "counting on) against a plain model.fit, paired interleaved rounds",
        **provenance("make bench"),
        "settings": {"steps_per_round": args.steps, "min_rounds": args.min_rounds,
                     "max_rounds": args.max_rounds,
                     "interval_target_half_width": args.target_half_width},
        "input_pipeline_images_per_s": round(pipeline, 1),
    }
    for name, result in results.items():
        result["input_pipeline_over_suite"] = round(pipeline / result["suite_images_per_s"], 1)
        report[name] = result
        print(summary_line(name, result))
    return report


def summary_line(name, r) -> str:
    w, c = r["ratio_wall"], r["ratio_cpu"]
    return (f"{name}: suite {r['suite_images_per_s']:.2f} vs plain fit "
            f"{r['plain_fit_images_per_s']:.2f} images/s; suite/fit wall {w['median']:.3f} "
            f"[{w['low']}, {w['high']}], CPU {c['median']:.3f} [{c['low']}, {c['high']}] "
            f"over {r['rounds']} rounds; >= {r['target_ratio']}: wall {r['verdict_wall']}, "
            f"CPU {r['verdict_cpu']}; >= 0.95: wall {r['verdicts_by_target']['0.95']['wall']}, "
            f"CPU {r['verdicts_by_target']['0.95']['cpu']}")


def cifar10_pipeline_rate(exp, builder, split, batches):
    dataset = exp.dataset.train_dataset(builder, split, exp.batch_size, 0, 1)
    next(iter(dataset))  # decode the split into memory first
    start = time.perf_counter()
    n = 0
    for images, _ in dataset.take(batches):
        n += int(images.shape[0])
    return n / (time.perf_counter() - start)


# --- ImageNet: data -------------------------------------------------------------------------


def imagenet_is_prepared(data_dir: str) -> bool:
    import tensorflow_datasets as tfds

    return is_prepared(tfds.builder(imagenet.NAME, data_dir=data_dir))


def write_sample_manual_dir(out_dir: str, sample_tar: str, repeat: int) -> dict:
    """A manual download in the ILSVRC-2012 layout from the 100-image sample, each
    training image stored ``repeat`` times (``<wnid>_<k>.JPEG``, the same bytes)."""
    from experiments.fakes import imagenet as fake_imagenet

    fake = fake_imagenet.write_fake_imagenet_manual_dir(out_dir, sample_tar=sample_tar)
    if repeat > 1:
        rows = fake_imagenet.read_sample(sample_tar)
        class_tars = {f"{row['wnid']}.tar": fake_imagenet.tar_bytes(
            {f"{row['wnid']}_{k + 1}.JPEG": row["bytes"] for k in range(repeat)})
            for row in rows}
        with open(fake["train_tar"], "wb") as f:
            f.write(fake_imagenet.tar_bytes(class_tars))
    return fake


def sample_stats(sample_tar: str) -> dict:
    """Mean file size and resolution of the sample's JPEGs (full-size ILSVRC-2012 images)."""
    from experiments.fakes import imagenet as fake_imagenet

    rows = fake_imagenet.read_sample(sample_tar)
    return {"images": len(rows),
            "mean_jpeg_bytes": round(statistics.mean(len(r["bytes"]) for r in rows)),
            "mean_width": round(statistics.mean(int(r["width"]) for r in rows)),
            "mean_height": round(statistics.mean(int(r["height"]) for r in rows))}


def imagenet_data(data_dir: str, sample_tar: str, cache: str, repeat: int):
    """``(data_dir, description)`` of the imagenet2012 to measure on: the one prepared in
    ``data_dir``, else the sample, prepared once in ``cache``."""
    if imagenet_is_prepared(data_dir):
        return data_dir, {"data": f"imagenet2012 prepared in {data_dir}"}
    if not os.path.isfile(sample_tar):
        raise SystemExit(f"error: no imagenet2012 is prepared in {data_dir} and the sample "
                         f"{sample_tar} does not exist; give --sample-tar")
    cache_dir = os.path.join(cache, f"repeat{repeat}")
    tfds_dir = os.path.join(cache_dir, "tfds")
    if not imagenet_is_prepared(tfds_dir):
        print(f"no imagenet2012 prepared in {data_dir}: preparing the 100-image sample "
              f"(each training image x{repeat}) in {cache_dir}", flush=True)
        manual = write_sample_manual_dir(os.path.join(cache_dir, "manual"), sample_tar, repeat)
        imagenet.load_imagenet_builder(tfds_dir, manual_dir=manual["manual_dir"])
        shutil.rmtree(manual["manual_dir"], ignore_errors=True)  # the archives: 10 MB x repeat
    else:
        print(f"no imagenet2012 prepared in {data_dir}: using the 100-image sample "
              f"prepared in {cache_dir}", flush=True)
    return tfds_dir, {"data": SAMPLE_DATA, "sample": os.path.relpath(sample_tar, REPO),
                      "sample_repeat": repeat, "sample_jpegs": sample_stats(sample_tar),
                      "note": "read from the page cache (a small file set): JPEG decoding and "
                              "augmentation are measured, disk reads are not"}


# --- ImageNet: input pipeline ---------------------------------------------------------------


def imagenet_pipeline_rate(data_dir, image_size, batch, images, warmup, epoch,
                           one_thread=False):
    """Images/s of ``experiments.datasets.imagenet.train_dataset`` alone (no model): ``warmup``
    batches, then at least ``images`` images timed; consecutive epochs from ``epoch``
    (each with its own order and crops) when the split is small."""
    from experiments.datasets.imagenet import crop_padding_for as crop_padding

    builder = imagenet.load_imagenet_builder(data_dir)
    n_train = imagenet.num_examples(builder, "train")
    batches = warmup + math.ceil(images / batch)
    per_epoch = n_train // batch
    ds = None
    for e in range(math.ceil(batches / per_epoch)):
        one = imagenet.train_dataset(builder, "train", batch, seed=0, epoch=epoch + e,
                                     image_size=image_size, crop_padding=crop_padding(image_size))
        ds = one if ds is None else ds.concatenate(one)
    ds = ds.take(batches)
    if one_thread:  # fallback where the process cannot be pinned
        options = tf.data.Options()
        options.threading.private_threadpool_size = 1
        options.threading.max_intra_op_parallelism = 1
        ds = ds.with_options(options)
    it = iter(ds)
    for _ in range(warmup):
        next(it)
    start = time.perf_counter()
    n = 0
    for x, _ in it:
        n += int(x.shape[0])
    return n / (time.perf_counter() - start)


def pipeline_rounds(spec: dict, one_thread=False) -> dict:
    """``{size: [rate per round]}``; sizes interleaved within each round."""
    out = {str(s): [] for s in spec["sizes"]}
    for r in range(spec["rounds"]):
        for size in spec["sizes"]:
            rate = imagenet_pipeline_rate(spec["data_dir"], size, spec["batch"], spec["images"],
                                          spec["warmup"], epoch=100 + r, one_thread=one_thread)
            out[str(size)].append(round(rate, 1))
    return out


def pipeline_worker(spec_json: str) -> None:
    """The pinned child: measure and print one result line."""
    spec = json.loads(spec_json)
    pinned = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    rates = pipeline_rounds(spec, one_thread=spec.get("one_thread", False))
    print(_RESULT_MARK + json.dumps({"rates": rates, "cpus_visible": pinned}), flush=True)


def per_core_pipeline(spec: dict) -> dict:
    """Run `pipeline_worker` in a child pinned to one CPU (the last this process may
    use); where that is impossible, unpinned with tf.data limited to one thread."""
    script = os.path.abspath(__file__)
    can_pin = hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity")
    if can_pin:
        cpu = max(os.sched_getaffinity(0))
        cmd = [sys.executable, "-c", _PINNED_CHILD, str(cpu), script, "--pipeline-worker",
               json.dumps(spec)]
        method = (f"child process pinned to CPU {cpu} with os.sched_setaffinity before "
                  "TensorFlow starts (TensorFlow and tf.data then size their pools for one "
                  "core)")
    else:
        cmd = [sys.executable, script, "--pipeline-worker",
               json.dumps({**spec, "one_thread": True})]
        method = ("no CPU affinity on this platform: tf.data private thread pool of 1 thread "
                  "and max_intra_op_parallelism 1 (an approximation of one core)")
    # CPU work only: the child leaves the GPUs alone (the parent may hold their memory)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith(_RESULT_MARK)]
    if done.returncode or not lines:
        raise RuntimeError(f"the per-core pipeline measurement failed (exit {done.returncode}):"
                           f"\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    result = json.loads(lines[-1][len(_RESULT_MARK):])
    if can_pin and result["cpus_visible"] != 1:
        raise RuntimeError(f"the child saw {result['cpus_visible']} CPUs, not 1")
    return {"method": method, "rates": result["rates"]}


# --- ImageNet: training ---------------------------------------------------------------------

WIDTH_KEYS = ("model.filters", "model.conv_filters", "model.dense_units")


def imagenet_experiment(name, data_dir, image_size, batch, width, distribution, extra=None):
    """The §5.3 config ``name`` (paper scale, its Bop or Adam optimizer) at ``image_size``
    and ``batch``, with its paper widths or its quick scale's (``width``). Below 224 px
    the quick preset's other model keys apply too (XNOR-Net's ``fc_kernel_size``)."""
    from experiments.datasets.imagenet import at_size as data_scale

    cls = registry.load().experiment(name)
    quick = {k: v for k, v in cls.scales.get("quick", {}).items() if k.startswith("model.")}
    model_keys = {k: v for k, v in quick.items()
                  if (k in WIDTH_KEYS and width == "quick")
                  or (k not in WIDTH_KEYS and image_size < 224)}
    overrides = {"scale": "paper", "data_dir": data_dir, "batch_size": batch,
                 "distribution": distribution, "progress": False, **data_scale(image_size),
                 **model_keys, **(extra or {})}
    return build(cls, overrides), model_keys


def imagenet_training(args, name, data_dir, log) -> dict:
    exp, model_keys = imagenet_experiment(name, data_dir, args.imagenet_size, args.imagenet_batch,
                                          args.imagenet_width, args.distribution)
    strategy = make_strategy(exp.distribution)
    builder, split, _, n_train, _ = prepare_data(exp)
    needed = args.imagenet_steps + 1
    if needed > n_train // exp.batch_size:
        raise SystemExit(f"error: a round needs {needed} batches of {exp.batch_size}, the train "
                         f"split has {n_train} images; raise --sample-repeat or lower the steps")
    steps_per_epoch = n_train / exp.batch_size
    print(f"{name}: building the suite's TrainState and a compiled plain model "
          f"({exp.dataset.image_size} px, batch {exp.batch_size}, "
          f"{strategy.num_replicas_in_sync} replica(s))", flush=True)
    result = compare_suite_and_fit(
        exp, strategy, builder, split, steps_per_epoch, args.imagenet_steps,
        (args.min_rounds, args.max_rounds, args.target_half_width),
        lambda m: log(f"{name} {m}"))
    return {
        "experiment": name,
        "model": type(exp.model).__name__,
        "image_size": exp.dataset.image_size,
        "width": args.imagenet_width,
        "model_overrides": model_keys,
        "optimizer": type(exp.optimizer).__name__,
        "batch_size": exp.batch_size,
        "distribution": exp.distribution,
        "replicas": strategy.num_replicas_in_sync,
        **result,
        "note": "the input pipeline runs concurrently on the same CPU for both variants",
    }


def imagenet_part(args, overrides, command: str) -> dict:
    started = time.perf_counter()
    data_dir = overrides["data_dir"]
    data_dir, data_info = imagenet_data(data_dir, args.sample_tar, args.sample_cache,
                                        args.sample_repeat)
    data_info["train_examples"] = imagenet.num_examples(
        imagenet.load_imagenet_builder(data_dir), "train")
    sizes = list(dict.fromkeys(args.pipeline_sizes + [args.imagenet_size]))
    spec = {"data_dir": data_dir, "sizes": sizes, "batch": args.pipeline_batch,
            "images": args.pipeline_images, "warmup": args.pipeline_warmup,
            "rounds": args.pipeline_rounds}
    print(f"input pipeline, one core: {sizes} px, {args.pipeline_rounds} rounds of "
          f">= {args.pipeline_images} images", flush=True)
    per_core = per_core_pipeline(spec)
    print(f"input pipeline, all cores ({os.cpu_count()})", flush=True)
    all_cores = pipeline_rounds(spec)
    pipeline = {
        "what": "experiments.datasets.imagenet.train_dataset alone (decode, random resized crop, "
                "bicubic resize, flip, normalise; no model), images/s; median of rounds",
        "per_core_method": per_core["method"],
        "batch": args.pipeline_batch, "images_per_round": args.pipeline_images,
        "warmup_batches": args.pipeline_warmup, "rounds": args.pipeline_rounds,
        "per_core_images_per_s": {s: statistics.median(v) for s, v in per_core["rates"].items()},
        "all_cores_images_per_s": {s: statistics.median(v) for s, v in all_cores.items()},
        "all_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "per_core_rounds": per_core["rates"], "all_cores_rounds": all_cores,
    }
    for s in map(str, sizes):
        print(f"  {s:>3} px: {pipeline['per_core_images_per_s'][s]:8.1f} images/s per core, "
              f"{pipeline['all_cores_images_per_s'][s]:8.1f} on all cores", flush=True)

    training = {}
    for name in args.imagenet_models:
        result = imagenet_training(args, name, data_dir, lambda m: print(m, flush=True))
        result["input_pipeline_over_suite"] = round(
            pipeline["all_cores_images_per_s"][str(args.imagenet_size)]
            / result["suite_images_per_s"], 1)
        training[name] = result
        print(summary_line(name, result), flush=True)
    return {
        "what": "ImageNet (§5.3): the training input pipeline per CPU core and on all cores, "
                "and the suite's training step against a plain model.fit of the same "
                "§5.3 model and optimizer at a reduced input size; medians of rounds",
        **provenance(command),
        **data_info,
        "smoke": args.smoke,
        "input_pipeline": pipeline,
        "training": training,
        "wall_time_s": round(time.perf_counter() - started, 1),
    }


# --- mixed precision --------------------------------------------------------------------------

MIXED_TARGET = 1.4  # the suite in a mixed precision against plain float32 fit of the same model
QUARTER = {"model.filters": 32, "model.dense_units": 256}


def precision_part(args, overrides, command: str) -> dict:
    """The suite's step in ``args.mixed`` against a plain float32 ``model.fit`` of the same
    model (goal: ``MIXED_TARGET``) and against a plain fit in the same precision (0.95),
    for BinaryNet at quarter and full width (batch 50, CIFAR-10) and Bi-Real Net at 64 px
    (batch 128, the ImageNet data or the sample); and the suite's step with XLA
    (``jit_compile``) against without, in float32, on quarter-width BinaryNet."""
    started = time.perf_counter()
    rounds = (args.min_rounds, args.max_rounds, args.target_half_width)
    strategy = tf.distribute.get_strategy()
    mixed = {"precision": args.mixed, "force_precision": True}
    cifar = dict(overrides)
    bop = registry.load().experiment("sec52_bop")
    cases = {"binarynet_quarter": (bop, {**cifar, **QUARTER}, args.steps * 2),
             "binarynet_full": (bop, cifar, args.steps)}
    results = {}

    def log(name):
        return lambda m: print(f"{name} {m}", flush=True)

    def both(name, exp, mixed_exp, data):
        builder, split, steps_per_epoch, steps = data
        print(f"{name}: suite {args.mixed} vs plain fit float32, then vs plain fit "
              f"{args.mixed}", flush=True)
        tf.keras.backend.clear_session()
        against_float32 = compare_suite_and_fit(
            mixed_exp, strategy, builder, split, steps_per_epoch, steps, rounds, log(name),
            fit_exp=exp, targets=(MIXED_TARGET, 1.0), names=("suite_mixed", "fit_float32"))
        tf.keras.backend.clear_session()
        same = compare_suite_and_fit(
            mixed_exp, strategy, builder, split, steps_per_epoch, steps, rounds, log(name),
            targets=(0.95, 1.0), names=("suite_mixed", "fit_mixed"))
        results[name] = {"suite_mixed_vs_fit_float32": against_float32,
                         "suite_mixed_vs_fit_mixed": same, "batch_size": exp.batch_size}

    for name, (cls, extra, steps) in cases.items():
        exp = build(cls, extra)
        builder, split, _, n_train, _ = prepare_data(exp)
        data = (builder, split, n_train / exp.batch_size, steps)
        both(name, exp, build(cls, {**extra, **mixed}), data)
        if name == "binarynet_quarter":
            print(f"{name}: the suite's step with XLA vs without (float32)", flush=True)
            tf.keras.backend.clear_session()
            results[name]["suite_xla_vs_suite"] = compare_suites(
                build(cls, {**extra, "jit_compile": True}), exp, strategy, builder, split,
                n_train / exp.batch_size, steps, rounds, log(name + " xla"),
                names=("suite_xla", "suite"))

    data_dir, data_info = imagenet_data(overrides["data_dir"], args.sample_tar,
                                        args.sample_cache, args.sample_repeat)
    size, batch = args.imagenet_size, args.imagenet_batch
    exp, _ = imagenet_experiment("sec53_birealnet", data_dir, size, batch, "paper",
                                 args.distribution)
    mixed_exp, _ = imagenet_experiment("sec53_birealnet", data_dir, size, batch, "paper",
                                       args.distribution, extra=mixed)
    builder, split, _, n_train, _ = prepare_data(exp)
    both(f"birealnet_{size}px", exp, mixed_exp,
         (builder, split, n_train / exp.batch_size, args.imagenet_steps))
    results[f"birealnet_{size}px"]["data"] = data_info.get("data")
    return {
        "what": (f"the suite's training step in {args.mixed} against a plain float32 model.fit "
                 "of the same model (the speed-up mixed precision buys) and against a plain "
                 "fit in the same precision (what the suite's extras cost there); XLA on the "
                 "suite's step against without; paired interleaved rounds"),
        **provenance(command), "mixed": args.mixed,
        "settings": {"cifar10_steps_per_round": args.steps,
                     "imagenet_steps_per_round": args.imagenet_steps,
                     "min_rounds": args.min_rounds, "max_rounds": args.max_rounds,
                     "interval_target_half_width": args.target_half_width},
        "cases": results,
        "wall_time_s": round(time.perf_counter() - started, 1),
    }


# --- command line ---------------------------------------------------------------------------


def parse_args(argv=None):
    from experiments.fakes.imagenet import SAMPLE_TAR

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help=f"JSON file (default {DEFAULT_OUT}; "
                        "with --smoke a file in the temp folder)")
    parser.add_argument("--only", choices=("cifar10", "imagenet", "precision", "workers", "bf16"),
                        help="run one part (default: both); the other part's keys are kept")
    parser.add_argument("--smoke", "--quick-smoke", dest="smoke", action="store_true",
                        help="tiny settings that only check that the benchmark runs "
                             "(--quick-smoke: its former name)")
    parser.add_argument("--mixed", default="mixed_bfloat16",
                        choices=("mixed_bfloat16", "mixed_float16"),
                        help="the mixed precision the precision part measures")
    cifar = parser.add_argument_group("CIFAR-10")
    cifar.add_argument("--steps", type=int, default=10, help="timed steps per round")
    cifar.add_argument("--pipeline-batches", type=int, default=400)
    inet = parser.add_argument_group("ImageNet")
    inet.add_argument("--imagenet-models", nargs="+", default=None,
                      choices=sorted(n for n in registry.load().experiments
                                     if n.startswith("sec53")),
                      metavar="NAME", help="§5.3 configs to train (default: Bi-Real Net and "
                                           "Binary AlexNet)")
    inet.add_argument("--imagenet-size", type=int, default=64, help="training input side (px)")
    inet.add_argument("--imagenet-width", choices=("paper", "quick"), default="paper",
                      help="the config's paper widths or its quick scale's")
    inet.add_argument("--imagenet-batch", type=int, default=128, help="global batch")
    inet.add_argument("--imagenet-steps", type=int, default=6, help="timed steps per round")
    inet.add_argument("--distribution", default="default",
                      choices=("default", "one_device", "mirrored"))
    inet.add_argument("--pipeline-sizes", type=int, nargs="+", default=[224, 64])
    inet.add_argument("--pipeline-batch", type=int, default=50)
    inet.add_argument("--pipeline-images", type=int, default=300,
                      help="images timed per size and round")
    inet.add_argument("--pipeline-warmup", type=int, default=2, help="batches not timed")
    inet.add_argument("--pipeline-rounds", type=int, default=3)
    inet.add_argument("--sample-tar", default=os.path.normpath(SAMPLE_TAR))
    inet.add_argument("--sample-repeat", type=int, default=None,
                      help="copies of each sample image in the train split (sample only; "
                           "default: enough for one epoch per round, at least 10)")
    inet.add_argument("--sample-cache", default=os.path.join(tempfile.gettempdir(),
                                                             "bnn_bench_imagenet_sample"))
    rounds = parser.add_argument_group("paired rounds (training comparisons)")
    rounds.add_argument("--min-rounds", type=int, default=10)
    rounds.add_argument("--max-rounds", type=int, default=40)
    rounds.add_argument("--target-half-width", type=float, default=0.03,
                        help="stop adding rounds once both 95 %% intervals of the ratio are "
                             "within this fraction of the median (0.03 = ±3 %%)")
    pool = parser.add_argument_group("workers (N pinned processes vs one on all cores)")
    pool.add_argument("--workers", type=int, default=0, help="N (default: one per core)")
    pool.add_argument("--worker-rounds", type=int, default=8, help="paired rounds per case")
    pool.add_argument("--window-s", type=float, default=15.0, help="seconds per timed window")
    pool.add_argument("--setup-s", type=float, default=90.0,
                      help="seconds the processes get to build their runs before round 1")
    pool.add_argument("--scratch", default=os.path.join(tempfile.gettempdir(), "bnn_bench_workers"),
                      help="results_dir of the measured configs (nothing is written there)")
    parser.add_argument("--pipeline-worker", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="data_dir=... and/or dataset.archive=... (as for experiments)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.pipeline_batches, args.min_rounds, args.max_rounds = 1, 5, 2, 2
        args.imagenet_models = args.imagenet_models or ["sec53_birealnet"]
        args.imagenet_size, args.imagenet_width, args.imagenet_batch = 64, "quick", 8
        args.imagenet_steps = 2
        args.pipeline_sizes, args.pipeline_batch, args.pipeline_images = [224], 10, 20
        args.pipeline_rounds, args.pipeline_warmup = 1, 1
        args.worker_rounds, args.window_s, args.setup_s = 2, 2.0, 45.0
    args.imagenet_models = args.imagenet_models or ["sec53_birealnet", "sec53_binary_alexnet"]
    if args.sample_repeat is None:  # each round reads one epoch: enough batches in it
        images = max((args.imagenet_steps + 1) * args.imagenet_batch,
                     args.pipeline_warmup * args.pipeline_batch + args.pipeline_images)
        args.sample_repeat = max(1 if args.smoke else 10, math.ceil(images / 100))
    args.out = args.out or (os.path.join(tempfile.gettempdir(), "bench_smoke.json")
                            if args.smoke else DEFAULT_OUT)
    return args


def main(argv=None):
    raw = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(raw)
    if args.pipeline_worker:
        pipeline_worker(args.pipeline_worker)
        return
    runs.git_commit()  # the code imported now
    overrides = measure.data_overrides(args.overrides, "the benchmark")
    if args.only in (None, "cifar10"):
        merge_report(args.out, cifar10=cifar10_part(args, overrides))
        print(f"wrote the CIFAR-10 part into {args.out}")
    command = ("python -m scripts.bench " + " ".join(raw)).strip()
    if args.only in (None, "imagenet"):
        tf.keras.backend.clear_session()
        merge_report(args.out, imagenet=imagenet_part(args, overrides, command))
        print(f"wrote the ImageNet part into {args.out}")
    if args.only in (None, "precision"):
        tf.keras.backend.clear_session()
        merge_report(args.out, precision=precision_part(args, overrides, command))
        print(f"wrote the precision part into {args.out}")
    if args.only in (None, "workers"):
        from experiments.tools.bench_workers import workers_part

        merge_report(args.out, workers=workers_part(args, overrides, measure.provenance(command)))
        print(f"wrote the workers part into {args.out}")
    if args.only in (None, "bf16"):
        from experiments.tools.bench_bf16 import bf16_part

        tf.keras.backend.clear_session()
        merge_report(args.out, bf16=bf16_part(args, overrides, measure.provenance(command)))
        print(f"wrote the bf16 part into {args.out}")


if __name__ == "__main__":
    main()
