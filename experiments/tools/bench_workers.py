"""``make bench``'s workers part: the training images per second of N pinned worker
processes together against one process on every core, for the long scale (quarter-width
BinaryNet, mixed_bfloat16) and the quick scale (float32).

Both set-ups train the same config in worker processes of the suite
(``experiments.engine.workers``): one process on all cores, and N processes pinned one
share of the cores each. Each process builds its run once, then trains only inside the
time windows it is given and sleeps between them, so that the two set-ups are timed
alone, one after the other, in paired rounds whose order alternates (slow drifts of a
shared machine hit both sides of a round alike). A round's ratio is the N processes'
summed rate over the single process's; the verdict on a goal takes the median ratio's
distribution-free 95 % interval (``experiments.analysis.stats.median_interval``): "holds"
only when the whole interval is at or above the goal.
"""
import os
import statistics
import threading
import time

from experiments import registry
from experiments.engine.experiment import build
from experiments.engine.schedule import Recorder
from experiments.engine.workers import Pool, available_cores, shares
from experiments.tools import paired_rounds

# name -> (experiment, overrides, goal on 2 cores from the workers issue)
CASES = {
    "long_mixed_bfloat16": ("sec52_bop", {"scale": "long", "train_subset": 15000,
                                          "validation": "holdout", "final_test": False}, 1.25),
    "quick_float32": ("sec52_bop", {"scale": "quick", "train_subset": 15000,
                                    "validation": "holdout", "final_test": False}, 1.15),
}
# --smoke: the tiny scale, on as few images as any dataset has (the tests' fake CIFAR-10)
SMOKE = {"scale": "tiny", "train_subset": 60, "holdout": 20}


def _windows(t0: float, rounds: int, seconds: float, gap: float) -> tuple:
    """Alternating windows: in even rounds the single process first, in odd ones the
    pinned workers first. Returns (single windows, pinned windows)."""
    single, pinned = [], []
    for r in range(rounds):
        a = (t0 + r * 2 * (seconds + gap), t0 + r * 2 * (seconds + gap) + seconds)
        b = (a[1] + gap, a[1] + gap + seconds)
        (single if r % 2 == 0 else pinned).append(a)
        (pinned if r % 2 == 0 else single).append(b)
    return single, pinned


def _measure_both(single_pool, pinned_pool, job, n, single_w, pinned_w):
    out = {}

    def go(name, pool, jobs, windows):
        out[name] = pool.measure(jobs, windows=windows)

    threads = [threading.Thread(target=go, args=("single", single_pool, [job], single_w)),
               threading.Thread(target=go, args=("pinned", pinned_pool, [job] * n, pinned_w))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def workers_part(args, overrides: dict, provenance: dict) -> dict:
    """Measure every case; ``provenance``: the command, machine, commit and packages."""
    started = time.perf_counter()
    cores = available_cores()
    n = args.workers or len(cores)
    found = registry.load()
    recorder = Recorder(lambda name, o: build(found.experiment(name), o))
    data = {k: v for k, v in overrides.items() if k in ("data_dir", "dataset.archive")}
    results = {}
    single_pool, pinned_pool = Pool([cores]), Pool(shares(n, cores))
    try:
        for name, (experiment, settings, goal) in CASES.items():
            config = {**settings, **(SMOKE if args.smoke else {}), **data,
                      "results_dir": os.path.join(args.scratch, "runs"), "progress": False}
            exp = recorder(experiment, config)
            job = recorder.job(exp, name)
            print(f"workers part, {name}: {n} pinned worker(s) vs 1 process on CPU "
                  f"{','.join(map(str, cores))}, {args.worker_rounds} rounds of "
                  f"{args.window_s:g} s windows", flush=True)
            single_w, pinned_w = _windows(time.time() + args.setup_s, args.worker_rounds,
                                          args.window_s, gap=1.0)
            got = _measure_both(single_pool, pinned_pool, job, n, single_w, pinned_w)
            if got["single"][0] is None or any(m is None for m in got["pinned"]):
                raise SystemExit(f"error: a worker failed to measure {name}; see its lines above")
            single = got["single"][0]["window_images_per_s"]
            per_worker = [m["window_images_per_s"] for m in got["pinned"]]
            pinned = [sum(rates) for rates in zip(*per_worker)]
            ratios = [p / s for p, s in zip(pinned, single)]
            interval = paired_rounds.interval(ratios)
            results[name] = {
                "experiment": experiment, "overrides": settings, "precision": exp.precision,
                "batch_size": exp.batch_size, "workers": n,
                "single_process_images_per_s": [round(v, 1) for v in single],
                "pinned_workers_images_per_s": [round(v, 1) for v in pinned],
                "pinned_per_worker_images_per_s": [[round(v, 1) for v in w] for w in per_worker],
                "ratio_pinned_over_single": interval,
                "goal": goal, "verdict": paired_rounds.verdict(interval, goal),
                "setup_s": [round(m["setup_s"], 1) for m in got["single"] + got["pinned"]],
            }
            print(f"  {name}: single {statistics.median(single):.0f} images/s, {n} pinned "
                  f"{statistics.median(pinned):.0f} images/s; "
                  f"ratio {interval['median']:.3f} [{interval['low']}, {interval['high']}] "
                  f"-> goal >= {goal}: {results[name]['verdict']}", flush=True)
    finally:
        single_pool.close()
        pinned_pool.close()
    return {
        "what": ("training images/s of N worker processes pinned one share of the cores each "
                 "(summed) against one process on all cores, the same config, timed in "
                 "alternating windows (paired rounds); median ratio with its 95 % interval"),
        **provenance,
        "settings": {"rounds": args.worker_rounds, "window_s": args.window_s,
                     "smoke": bool(args.smoke)},
        "cases": results,
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
