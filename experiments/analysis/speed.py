"""Time to accuracy: the steps and training seconds a run needed to first reach a given
validation accuracy, read from ``metrics.jsonl`` (one row per epoch, so the answer is
resolved to epoch ends). Comparing optimizers by final accuracy alone hides how fast
each gets there; a threshold never reached is reported as such, not dropped."""
from experiments.analysis.collect import mean_std

# Thresholds per scale (validation accuracy): what each scale's runs can reach.
THRESHOLDS = {"quick": (0.40, 0.50, 0.55), "paper": (0.80, 0.85, 0.90), "tiny": (0.10,)}


def first_reach(run, threshold: float):
    """``(step, seconds)`` at the end of the first epoch whose validation accuracy is
    >= ``threshold`` (seconds: training time summed over epochs), or None."""
    seconds = 0.0
    for row in run.metrics:
        seconds += row.get("epoch_time_s", 0.0)
        if row["val_accuracy"] >= threshold:
            return row["step"], seconds
    return None


def table(arms: dict, thresholds) -> list:
    """Markdown rows: per arm (label -> runs) and threshold, how many runs reached it and
    the mean ± std of their steps and seconds."""
    lines = ["| optimizer | val acc ≥ | reached | steps (mean ± std) | training time (mean ± std) |",
             "|---|---|---|---|---|"]
    for label, runs in arms.items():
        for threshold in thresholds:
            hits = [h for h in (first_reach(r, threshold) for r in runs) if h is not None]
            if not hits:
                lines.append(f"| {label} | {100 * threshold:g} % | 0 of {len(runs)} | not reached | "
                             "not reached |")
                continue
            steps, secs = mean_std([h[0] for h in hits]), mean_std([h[1] for h in hits])
            lines.append(
                f"| {label} | {100 * threshold:g} % | {len(hits)} of {len(runs)} | "
                f"{steps[0]:.0f}" + (f" ± {steps[1]:.0f}" if steps[1] is not None else "") + " | "
                f"{secs[0]:.0f} s" + (f" ± {secs[1]:.0f} s" if secs[1] is not None else "") + " |")
    return lines
