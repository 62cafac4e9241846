"""The benchmark's numbers in REPORT.md (``results/bench.json``, written by ``make bench``):
mixed precision against float32, bfloat16 without its hardware, and workers. Each table
names the command, the machine, the commit and the date the numbers came from."""
import json
import os
import statistics

from experiments.engine.fingerprint import label


def _part(bench_path, key):
    """One part of the benchmark's file, or None where it has not been measured."""
    if not os.path.exists(bench_path):
        return None
    with open(bench_path) as f:
        return json.load(f).get(key)


def _source(part) -> str:
    return (f"`{part['command']}`, {label(part['hardware'])}, commit "
            f"{(part['git'].get('commit') or '?')[:7]}, {part['date'][:10]}")


def ratio(w) -> str:
    """A median ratio with its 95 % interval."""
    bounds = (f" [{w['low']:.2f}, {w['high']:.2f}]" if w["low"] is not None
              else " (too few rounds for an interval)")
    return f"{w['median']:.2f}{bounds}"


def precision_lines(bench_path) -> list:
    """The bench's side-by-side step-rate ratios (``make bench``'s precision part)."""
    part = _part(bench_path, "precision")
    if not part:
        return ["Speed: `make bench` has not measured mixed precision yet.", ""]
    mixed = part["mixed"]
    lines = [f"Speed ({_source(part)}): ratios of "
             "training images/s, median over paired rounds with its distribution-free 95 % "
             "interval, and the verdict against each goal:", "",
             f"| model | batch | suite {mixed} / plain fit float32 (goal ≥ 1.4) | suite "
             f"{mixed} / plain fit {mixed} (goal ≥ 0.95) | rounds |", "|---|---|---|---|---|"]

    def cell(r, target):
        return f"{ratio(r['ratio_wall'])}: {r['verdicts_by_target'][f'{target:g}']['wall']}"

    notes = []
    for name, case in part["cases"].items():
        a, b = case["suite_mixed_vs_fit_float32"], case["suite_mixed_vs_fit_mixed"]
        lines.append(f"| {name} | {case['batch_size']} | {cell(a, 1.4)} | {cell(b, 0.95)} | "
                     f"{a['rounds']}, {b['rounds']} |")
        if "suite_xla_vs_suite" in case:
            notes.append(f"XLA (`jit_compile=True`) on {name}, float32: the suite's step with "
                         f"XLA / without = {ratio(case['suite_xla_vs_suite']['ratio_wall'])}.")
    return lines + [""] + notes + ([""] if notes else [])


def bf16_lines(bench_path) -> list:
    """``make bench``'s bf16 part: float32 contractions against TensorFlow's own bfloat16
    kernels and against float32, and how TensorFlow's bfloat16 matrix product rounds."""
    part = _part(bench_path, "bf16")
    if not part:
        return []
    if part.get("skipped"):
        return [f"bfloat16 without its hardware, speed ({_source(part)}): not measured, "
                f"{part['skipped']}.", ""]
    cases = part["cases"]
    own = cases["float32_contractions_vs_tensorflow_bf16"]
    f32 = cases["float32_contractions_vs_float32"]
    rounding = part["matmul_rounding"]
    return [f"bfloat16 without its hardware, speed ({_source(part)}; {part['experiment']}, "
            f"{part['overrides']['scale']} scale, batch {part['batch_size']}, training "
            "images/s, median ratio over paired rounds with its 95 % interval): float32 "
            f"contractions / TensorFlow's own bfloat16 kernels = {ratio(own['ratio_wall'])} "
            f"({own['float32_contractions_images_per_s']:.0f} against "
            f"{own['tensorflow_bf16_images_per_s']:.0f} images/s, {own['rounds']} rounds); "
            f"float32 contractions / float32 = {ratio(f32['ratio_wall'])} "
            f"({f32['float32_contractions_images_per_s']:.0f} against "
            f"{f32['float32_images_per_s']:.0f}, {f32['rounds']} rounds). TensorFlow's own "
            f"bfloat16 matrix product ({' × '.join(map(str, rounding['shape']))}): "
            f"{100 * rounding['tensorflow_bf16']['equal_to_truncated']:.1f} % of its outputs "
            "equal the float32 sum truncated to bfloat16, "
            f"{100 * rounding['tensorflow_bf16']['equal_to_nearest']:.1f} % its nearest "
            "bfloat16 (what bfloat16 hardware gives); the float32 contractions: "
            f"{100 * rounding['float32_contractions']['equal_to_nearest']:.1f} % nearest.", ""]


def workers_section(bench_path) -> list:
    """``make bench``'s workers part: N pinned worker processes against one process on
    every core, per config, with the goal and its verdict."""
    part = _part(bench_path, "workers")
    lines = ["## Runs side by side: workers", ""]
    if not part:
        return lines + ["`make bench-workers` has not measured workers yet.", ""]
    lines += [f"Training images/s of pinned worker processes together against one process on "
              f"every core, the same config, in alternating timed windows ({_source(part)}; "
              f"{part['settings']['rounds']} paired rounds of {part['settings']['window_s']:g} s "
              "windows). The ratio is a median with its distribution-free 95 % interval; "
              "a goal **holds** only when the whole interval is at or above it.", "",
              "| config | precision | one process, all cores | pinned workers, summed | "
              "ratio [95 % CI] | goal |", "|---|---|---|---|---|---|"]
    for name, case in part["cases"].items():
        single = statistics.median(case["single_process_images_per_s"])
        pinned = statistics.median(case["pinned_workers_images_per_s"])
        lines.append(f"| {name} ({case['experiment']}, batch {case['batch_size']}) | "
                     f"{case['precision']} | {single:.0f} images/s | "
                     f"{case['workers']} workers: {pinned:.0f} images/s | "
                     f"{ratio(case['ratio_pinned_over_single'])} | ≥ {case['goal']:g}: "
                     f"**{case['verdict']}** |")
    return lines + [""]
