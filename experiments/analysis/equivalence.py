"""Equivalence tests, not failed difference tests: "no significant difference" is never
read as equivalence.

Two questions use them. Is a lower precision equivalent to float32 for the science? The
same seeds are trained in float32 and in the mixed precision; per seed the difference
(mixed - float32) of the final test accuracy and of the log10 flip ratio over all binary
weights. Precision is called **equivalent** for a quantity only where the whole 95 %
interval of the mean paired difference lies inside the stated margin (:data:`MARGINS`);
**not equivalent** where the whole interval lies outside it; **not shown** otherwise -
too few seeds, or too much spread, to tell. And are two optimizers equivalent at one
rung of the horizon ladder? The same reading of the Welch interval of their picks' test
accuracies against the ladder's declared margin, in the words **equivalent**,
**different** and **inconclusive** (:func:`optimizers`).
"""
from experiments.analysis import stats
from experiments.analysis.remake import overall_log10_flip_ratio

# quantity -> (value of a run, margin, unit shown)
MARGINS = {
    "final test accuracy": (lambda run: 100 * run.metrics[-1]["val_accuracy"], 2.0, "pp"),
    "log10 flip ratio (all binary weights, whole run)": (overall_log10_flip_ratio, 0.05, ""),
}


def verdict(d: stats.Difference, margin: float, *, outside: str = "not equivalent",
            undecided: str = "not shown") -> str:
    """Two one-sided tests against ``-margin`` and ``+margin``, read off ``d``'s interval.

    With a 95 % interval each one-sided test is at the 2.5 % level: "equivalent" when
    the whole interval lies inside the margin (both tests reject a difference as large as
    the margin), ``outside`` when the whole interval lies beyond one side of it (the
    difference is larger than the margin), ``undecided`` when the interval crosses an
    edge or there is none. The words differ by study: a precision is "not equivalent",
    two optimizers are "different"."""
    if d.low is None or d.high is None:
        return undecided
    if -margin <= d.low and d.high <= margin:
        return "equivalent"
    if d.low > margin or d.high < -margin:
        return outside
    return undecided


def optimizers(d: stats.Difference, margin: float) -> str:
    """The verdict on two optimizers' difference (the horizon ladder's): "equivalent",
    "different" or "inconclusive"."""
    return verdict(d, margin, outside="different", undecided="inconclusive")


def compare(reference: list, other: list) -> list:
    """``[(quantity, Difference, margin, unit, verdict)]`` for runs of two precisions,
    paired by seed (only seeds both have count)."""
    ref = {r.seed: r for r in reference}
    oth = {r.seed: r for r in other}
    seeds = sorted(set(ref) & set(oth))
    rows = []
    for quantity, (value, margin, unit) in MARGINS.items():
        a = [value(oth[s]) for s in seeds]
        b = [value(ref[s]) for s in seeds]
        if not seeds:
            continue
        d = stats.difference(a, b, paired=len(seeds) >= 2)
        rows.append((quantity, d, margin, unit, verdict(d, margin)))
    return rows


def equivalent(rows: list) -> bool:
    """Every quantity shown equivalent (and at least one compared)."""
    return bool(rows) and all(v == "equivalent" for *_, v in rows)
