"""Throughput of two ways to train, compared so that a noisy machine cannot decide it.

One number per run is not enough on a shared CPU: single rounds of the suite's step
against a plain ``model.fit`` ranged 0.79-1.28 on this machine. So the comparison is

* **paired and interleaved**: every round times both variants back to back, and the one
  that goes first alternates, so slow drifts (thermal, other processes, page cache) hit
  both sides of a round alike and cancel in that round's ratio;
* **per window of steps, start-up excluded**: a window starts after a variant's first
  step of the round (a fresh input pipeline, Keras's per-call set-up) and ends after its
  last, so a round compares steady-state steps only;
* **in wall time and in CPU time** (``time.process_time``: every thread of the
  process), since a variant can look fast in wall time by using more cores;
* **a median with a distribution-free 95 % interval** (order statistics,
  ``experiments.analysis.stats.median_interval``), the rounds repeated until both
  intervals are narrower than ``±target_half_width`` of the median or ``max_rounds`` is
  reached (then it says so).

A variant is ``fn(round) -> stamps``: a list of ``(wall, cpu)`` time stamps, one before
timing starts and one after every timed step (or block of steps), with
``images_per_stamp`` images between consecutive stamps.
"""
import statistics
import time

from experiments.analysis.stats import median_interval


def stamp() -> tuple:
    return time.perf_counter(), time.process_time()


def window_rates(stamps, images_per_stamp: int) -> tuple:
    """(images per wall second, CPU seconds per image) between the first and last stamp."""
    if len(stamps) < 2:
        raise ValueError("a timed window needs at least two stamps")
    images = (len(stamps) - 1) * images_per_stamp
    wall = stamps[-1][0] - stamps[0][0]
    cpu = stamps[-1][1] - stamps[0][1]
    return images / wall, cpu / images


def interval(values, level=0.95) -> dict:
    m = median_interval(values, level)
    return {"median": round(m.median, 4), "low": None if m.low is None else round(m.low, 4),
            "high": None if m.high is None else round(m.high, 4),
            "ranks": list(m.ranks) if m.ranks else None,
            "coverage": None if m.coverage is None else round(m.coverage, 4),
            "relative_half_width": None if m.relative_half_width() is None
            else round(m.relative_half_width(), 4)}


def verdict(interval: dict, target: float) -> str:
    """Whether ``a / b >= target``: "holds" when the whole interval is at or above it,
    "does not hold" when all of it is below, otherwise "inconclusive"."""
    if interval["low"] is None:
        return "inconclusive"
    if interval["low"] >= target:
        return "holds"
    if interval["high"] < target:
        return "does not hold"
    return "inconclusive"


def compare(a, b, images_per_stamp: dict, *, names=("a", "b"), min_rounds=10, max_rounds=40,
            target_half_width=0.03, target_ratio=1.0, extra_targets=(), log=print) -> dict:
    """Rounds of ``a`` and ``b`` (alternating which goes first) until the intervals of
    both ratios - wall: rate_a / rate_b; CPU: cpu_per_image_b / cpu_per_image_a (above 1:
    ``a`` spends less CPU per image) - are narrower than ``target_half_width``."""
    fns = {names[0]: a, names[1]: b}
    rates = {n: [] for n in names}
    cpu = {n: [] for n in names}
    wall_ratio, cpu_ratio = [], []
    r = 0
    while r < max_rounds:
        order = list(names) if r % 2 == 0 else list(names[::-1])
        for n in order:
            rate, cpu_per_image = window_rates(fns[n](r), images_per_stamp[n])
            rates[n].append(rate)
            cpu[n].append(cpu_per_image)
        wall_ratio.append(rates[names[0]][-1] / rates[names[1]][-1])
        cpu_ratio.append(cpu[names[1]][-1] / cpu[names[0]][-1])
        r += 1
        log(f"round {r:2d}: {names[0]} {rates[names[0]][-1]:8.2f} images/s, {names[1]} "
            f"{rates[names[1]][-1]:8.2f} -> wall ratio {wall_ratio[-1]:.3f}, CPU ratio "
            f"{cpu_ratio[-1]:.3f}")
        if r >= min_rounds:
            widths = [median_interval(v).relative_half_width() for v in (wall_ratio, cpu_ratio)]
            if all(w is not None and w <= target_half_width for w in widths):
                break
    wall, cpu_int = interval(wall_ratio), interval(cpu_ratio)
    converged = all(i["relative_half_width"] is not None
                    and i["relative_half_width"] <= target_half_width for i in (wall, cpu_int))
    return {
        f"{names[0]}_images_per_s": round(statistics.median(rates[names[0]]), 2),
        f"{names[1]}_images_per_s": round(statistics.median(rates[names[1]]), 2),
        f"{names[0]}_cpu_ms_per_image": round(1000 * statistics.median(cpu[names[0]]), 3),
        f"{names[1]}_cpu_ms_per_image": round(1000 * statistics.median(cpu[names[1]]), 3),
        "ratio_wall": wall, "ratio_cpu": cpu_int,
        "target_ratio": target_ratio,
        "verdict_wall": verdict(wall, target_ratio), "verdict_cpu": verdict(cpu_int, target_ratio),
        # the same intervals against other yardsticks (e.g. issue #9's 0.95)
        "verdicts_by_target": {f"{t:g}": {"wall": verdict(wall, t), "cpu": verdict(cpu_int, t)}
                               for t in sorted({target_ratio, *extra_targets})},
        "rounds": r, "interval_target_half_width": target_half_width,
        "intervals_within_target": converged,
        "per_round": {"wall_ratio": [round(x, 4) for x in wall_ratio],
                      "cpu_ratio": [round(x, 4) for x in cpu_ratio],
                      **{f"{n}_images_per_s": [round(x, 2) for x in rates[n]] for n in names}},
        "how": (f"paired, interleaved rounds ({names[0]} and {names[1]} back to back, "
                "alternating which goes first); each round times steady-state steps only (the "
                "first step of each window excluded); medians with distribution-free 95 % "
                "intervals (order statistics); rounds added until both intervals are within "
                f"±{100 * target_half_width:g} % or {max_rounds} rounds"),
    }
