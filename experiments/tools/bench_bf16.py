"""``make bench``'s bf16 part: what ``mixed_bfloat16`` costs on a CPU without bfloat16
hardware, with the suite's float32 contractions (``experiments.engine.bf16``) against
TensorFlow's own bfloat16 kernels and against float32.

One process, the long scale's config (quarter-width BinaryNet, batch 50, the suite's
training step, flip counting on). Three training states are built once: the run's own
(mixed_bfloat16, float32 contractions, as every run on this machine trains), the same
config traced with TensorFlow's own bfloat16 kernels, and the config in float32. Two
comparisons of paired, interleaved rounds (``experiments/tools/paired_rounds.py``):
float32 contractions over TensorFlow's kernels (the speed-up the module buys) and over
float32 (what bfloat16 still costs here); and how TensorFlow's own bfloat16 matrix
product rounds on this machine (:func:`matmul_rounding`). On a machine where bfloat16 is
native the part measures nothing and says so: its runs never use the module.
"""
import time

import tensorflow as tf

from experiments import registry
from experiments.engine import bf16
from experiments.engine.experiment import build
from experiments.engine.fingerprint import fingerprint
from experiments.engine.pipelines import prepare_data
from experiments.tools import measure, paired_rounds

LONG = {"scale": "long", "train_subset": 15000, "validation": "holdout", "final_test": False}
SMOKE = {"scale": "tiny", "train_subset": 60, "holdout": 20}


def _rounds(exp, strategy, builder, split, steps, own_kernels=False):
    """``measure.suite_rounds`` for ``exp``; with ``own_kernels`` every call (the first,
    which traces the step, included) runs with TensorFlow's own bfloat16 kernels."""
    fn, images, _ = measure.suite_rounds(exp, strategy, builder, split,
                                       exp.train_subset / exp.batch_size, steps)
    if not own_kernels:
        return fn, images

    def own(r):
        with bf16.float32_contractions(False):
            return fn(r)
    return own, images


def matmul_rounding(rows=100, depth=4608, cols=256, seed=0) -> dict:
    """How TensorFlow's own bfloat16 matrix product rounds its float32 sums on this
    machine, and how the float32 contractions do: the fraction of outputs equal to the
    float32 product of the same operands rounded to nearest (what bfloat16 hardware
    gives) and truncated toward zero. Operands: normal bfloat16 values by ±1 ones, the
    shape of a dense layer's input by its binary kernel."""
    import numpy as np

    rng = np.random.default_rng(seed)
    a = tf.cast(rng.standard_normal((rows, depth)).astype(np.float32), tf.bfloat16)
    b = tf.cast(np.sign(rng.standard_normal((depth, cols))).astype(np.float32), tf.bfloat16)
    exact = tf.matmul(tf.cast(a, tf.float32), tf.cast(b, tf.float32)).numpy()
    nearest = tf.cast(tf.cast(exact, tf.bfloat16), tf.float32).numpy()
    truncated = (exact.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
    out = {"shape": [rows, depth, cols]}
    for name, matmul in (("tensorflow_bf16", tf.matmul),
                         ("float32_contractions", bf16.in_float32(tf.matmul))):
        got = tf.cast(matmul(a, b), tf.float32).numpy()
        out[name] = {"equal_to_nearest": round(float((got == nearest).mean()), 4),
                     "equal_to_truncated": round(float((got == truncated).mean()), 4)}
    return out


def bf16_part(args, overrides: dict, provenance: dict) -> dict:
    """Measure both comparisons; ``provenance``: the command, machine, commit, packages."""
    started = time.perf_counter()
    here = fingerprint()
    report = {
        "what": ("training images/s of the suite's step in mixed_bfloat16 with float32 "
                 "contractions (experiments/engine/bf16.py) against the same step with "
                 "TensorFlow's own bfloat16 kernels and against float32; paired interleaved "
                 "rounds, median ratio with its 95 % interval"),
        **provenance,
    }
    if not bf16.wanted("mixed_bfloat16", here):
        print("bf16 part: bfloat16 is native on this machine; its runs use TensorFlow's "
              "kernels, so there is nothing to compare", flush=True)
        return {**report, "skipped": "bfloat16 is native on this machine"}
    rounding = matmul_rounding()
    print(f"bf16 part, matrix product rounding: {rounding}", flush=True)
    found = registry.load().experiment("sec52_bop")
    config = {**LONG, **(SMOKE if args.smoke else {}), **overrides, "progress": False}
    exp = build(found, config)
    exp32 = build(found, {**config, "precision": "float32"})
    builder, split, _, _, _ = prepare_data(exp)
    strategy = tf.distribute.get_strategy()
    # TensorFlow's kernels are an order of magnitude slower: fewer steps per round there
    steps, slow_steps = args.steps * 2, max(1, args.steps // 2)
    rounds = (args.min_rounds, args.max_rounds, args.target_half_width)

    def log(name):
        return lambda m: print(f"bf16 {name} {m}", flush=True)

    results = {}
    for name, (other, other_steps, own) in {
            "float32_contractions_vs_tensorflow_bf16": (exp, slow_steps, True),
            "float32_contractions_vs_float32": (exp32, steps, False)}.items():
        tf.keras.backend.clear_session()
        ours, ours_images = _rounds(exp, strategy, builder, split, other_steps)
        theirs, theirs_images = _rounds(other, strategy, builder, split, other_steps,
                                        own_kernels=own)
        ours(0), theirs(0)  # trace and compile both, outside every round
        names = ("float32_contractions", name.rsplit("_vs_", 1)[1])
        print(f"bf16 part, {name}: {other_steps} steps per round", flush=True)
        results[name] = {
            **paired_rounds.compare(ours, theirs, dict(zip(names, (ours_images, theirs_images))),
                                    names=names, min_rounds=rounds[0], max_rounds=rounds[1],
                                    target_half_width=rounds[2], target_ratio=1.0,
                                    log=log(name)),
            "steps_per_round": other_steps}
        r = results[name]["ratio_wall"]
        print(f"  {name}: wall ratio {r['median']:.3f} [{r['low']}, {r['high']}]", flush=True)
    return {**report, "experiment": "sec52_bop", "overrides": LONG,
            "batch_size": exp.batch_size, "matmul_rounding": rounding, "cases": results,
            "settings": {"steps_per_round": steps, "tensorflow_bf16_steps_per_round": slow_steps,
                         "min_rounds": args.min_rounds, "max_rounds": args.max_rounds,
                         "interval_target_half_width": args.target_half_width,
                         "smoke": bool(args.smoke)},
            "wall_time_s": round(time.perf_counter() - started, 1)}
