"""Throughput benchmark: the suite's training step against a plain ``model.fit``.

Measures, in one process, images/s for full-width BinaryNet at batch 50 (§5.2) under

* the suite's step (``experiments.train.TrainState``: per-step, per-layer flip counts),
  with the §5.2 Bop optimizer and with the §5.2 latent-weight Adam baseline;
* a plain ``model.compile`` + ``model.fit`` of the same larq model and optimizer, with
  none of the suite's extras;
* the input pipeline alone (augmented CIFAR-10 batches, no model).

Each training variant is timed in ``--rounds`` alternating rounds (the machine is
noisy) and the median is reported. Output: a JSON file with machine information.

    python scripts/bench.py --out results/bench.json data_dir=~/tensorflow_datasets
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments import _keras2  # noqa: E402,F401
import tensorflow as tf  # noqa: E402

from configs import EXPERIMENTS  # noqa: E402
from experiments import data, runs  # noqa: E402
from experiments.cli import parse_overrides  # noqa: E402
from experiments.experiment import build  # noqa: E402
from experiments.train import INPUT_SHAPE, NUM_CLASSES, TrainState  # noqa: E402


class BatchTimes(tf.keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def images_per_s(times, batch_size, warmup):
    """Rate over the batches after ``warmup`` (compilation and first steps excluded)."""
    steps = len(times) - 1 - warmup
    return steps * batch_size / (times[-1] - times[warmup])


def suite_rate(exp, builder, split, steps, warmup):
    state = TrainState(exp, tf.distribute.get_strategy(), steps_per_epoch=1000)
    iterator = iter(data.train_dataset(builder, split, exp.batch_size, seed=0, epoch=0))
    times = []
    for _ in range(warmup + steps + 1):
        flips, losses = state.train_steps(iterator, tf.constant(1))
        flips.numpy(), losses.numpy()  # the real loop reads both back every step
        times.append(time.perf_counter())
    return images_per_s(times, exp.batch_size, warmup)


def fit_rate(exp, builder, split, steps, warmup):
    model = exp.model.build(input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES,
                            kernel_quantizer=exp.optimizer.kernel_quantizer(),
                            kernel_constraint=exp.optimizer.kernel_constraint())
    optimizer, _ = exp.optimizer.build(model, steps_per_epoch=1000, epochs=exp.epochs)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    dataset = data.train_dataset(builder, split, exp.batch_size, seed=0, epoch=0)
    timer = BatchTimes()
    model.fit(dataset.take(warmup + steps + 1), epochs=1, verbose=0, callbacks=[timer])
    return images_per_s(timer.times, exp.batch_size, warmup)


def pipeline_rate(builder, split, batch_size, batches):
    dataset = data.train_dataset(builder, split, batch_size, seed=0, epoch=1)
    next(iter(dataset))  # decode the split into memory first
    start = time.perf_counter()
    n = 0
    for images, _ in dataset.take(batches):
        n += int(images.shape[0])
    return n / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="results/bench.json")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="data_dir=... and/or cifar10_archive=... (as for experiments)")
    args = parser.parse_args(argv)
    git = runs.git_commit()  # the code imported now
    overrides = parse_overrides(args.overrides)
    unknown = set(overrides) - {"data_dir", "cifar10_archive"}
    if unknown:
        parser.error(f"only data_dir= and cifar10_archive= are accepted, got {sorted(unknown)}")
    overrides.setdefault("data_dir", os.path.expanduser("~/tensorflow_datasets"))
    exps = {name: build(EXPERIMENTS[name], overrides) for name in ("sec52_bop", "sec52_adam")}
    some = exps["sec52_bop"]
    builder = data.load_cifar10_builder(
        os.path.expanduser(some.data_dir),
        archive=os.path.expanduser(some.cifar10_archive) if some.cifar10_archive else None)
    split = "train"

    results = {name: {"suite": [], "plain_fit": []} for name in exps}
    for r in range(args.rounds):
        for name, exp in exps.items():
            for variant, fn in (("suite", suite_rate), ("plain_fit", fit_rate)):
                tf.keras.backend.clear_session()
                rate = fn(exp, builder, split, args.steps, args.warmup)
                results[name][variant].append(round(rate, 2))
                print(f"round {r + 1}/{args.rounds}  {name:<11} {variant:<9} {rate:7.1f} images/s",
                      flush=True)
    pipeline = pipeline_rate(builder, split, some.batch_size, batches=400)
    print(f"input pipeline alone: {pipeline:.0f} images/s")

    report = {
        "what": "training images/s, full-width BinaryNet (128 filters, 1024 units, valid "
                "first conv), batch 50, CIFAR-10 train split; median of rounds",
        "command": "make bench",
        "date": runs.now(),
        "hardware": runs.hardware(),
        "packages": runs.package_versions(),
        "git": git,
        "settings": {"steps": args.steps, "warmup": args.warmup, "rounds": args.rounds},
        "input_pipeline_images_per_s": round(pipeline, 1),
    }
    for name, variants in results.items():
        suite, fit = statistics.median(variants["suite"]), statistics.median(variants["plain_fit"])
        report[name] = {
            "suite_images_per_s": suite, "plain_fit_images_per_s": fit,
            "suite_over_plain_fit": round(suite / fit, 3),
            "input_pipeline_over_suite": round(pipeline / suite, 1),
            "rounds": variants,
        }
        print(f"{name}: suite {suite:.1f} vs plain fit {fit:.1f} images/s "
              f"-> ratio {suite / fit:.3f} (target >= 0.95); pipeline/suite {pipeline / suite:.0f}x "
              f"(target >= 20x)")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    runs.write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
