"""Small statistics for the suite's comparison verdicts.

A verdict such as "Bop beats Adam" or "a larger tau flips fewer weights" rests on a
handful of seeds, so the report never states it from two means alone: every comparison
states n, mean and std of each arm and a 95 % interval of the difference, and says
"inconclusive" when that interval straddles the threshold of the claim. A reader can
then see whether a verdict is carried by the data or by the noise between seeds.

Pure Python (``math`` and ``statistics``), so the report can be built without SciPy.
The Student-t quantile is computed from the regularized incomplete beta function,
which also covers the non-integer degrees of freedom of Welch's interval.
"""
import math
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Difference:
    """Two arms (one value per seed) and the interval of ``mean_a - mean_b``."""

    n_a: int
    mean_a: float
    std_a: float | None  # sample std; None when n_a == 1
    n_b: int
    mean_b: float
    std_b: float | None
    diff: float  # mean_a - mean_b (paired: mean of the per-pair differences)
    low: float | None  # interval of the difference; None when it cannot be computed
    high: float | None
    method: str  # how the interval was computed, or why there is none
    level: float = 0.95


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz, as in
    Numerical Recipes ``betacf``)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    # The number of terms needed grows like sqrt(a): generous for df up to ~1e8.
    for m in range(1, 100_000):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            delta = d * c
            h *= delta
        if abs(delta - 1.0) < eps:
            return h
    raise ArithmeticError(f"incomplete beta did not converge (a={a}, b={b}, x={x})")


def _betai(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    # The continued fraction converges fast for x < (a+1)/(a+b+2); use symmetry otherwise.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def _two_sided_tail(t: float, df: float) -> float:
    """P(|T| > t) for Student's t with ``df`` degrees of freedom."""
    return _betai(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(df: float, level: float = 0.95) -> float:
    """Two-sided Student-t critical value: P(|T| <= t) = level.

    Found by bisection on the tail probability, which is monotone in t; df may be
    non-integer (Welch). ``df = inf`` gives the normal quantile.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if not df > 0:  # also rejects NaN
        raise ValueError(f"degrees of freedom must be > 0, got {df}")
    if math.isinf(df):
        return statistics.NormalDist().inv_cdf(0.5 + level / 2.0)
    alpha = 1.0 - level
    lo, hi = 0.0, 1.0
    while _two_sided_tail(hi, df) > alpha:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _two_sided_tail(mid, df) > alpha:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


def _std(xs: list[float]) -> float | None:
    return statistics.stdev(xs) if len(xs) >= 2 else None


def difference(a, b, *, paired: bool = False, level: float = 0.95) -> Difference:
    """Compare two arms of per-seed values: ``a - b`` with its ``level`` interval.

    ``paired=True`` when ``a[i]`` and ``b[i]`` come from the same seed: the interval is
    a one-sample t interval on the per-seed differences, which removes the between-seed
    noise both arms share. Otherwise Welch's interval, which does not assume equal
    variances, with Welch–Satterthwaite degrees of freedom. With too few values there
    is no interval (``low``/``high`` None) and ``method`` says why.
    """
    a, b = [float(x) for x in a], [float(x) for x in b]
    if not a or not b:
        raise ValueError("both arms need at least one value")
    if paired and len(a) != len(b):
        raise ValueError(f"paired comparison needs equal lengths, got {len(a)} and {len(b)}")
    n_a, n_b = len(a), len(b)
    mean_a, mean_b = statistics.fmean(a), statistics.fmean(b)
    std_a, std_b = _std(a), _std(b)
    arms = dict(n_a=n_a, mean_a=mean_a, std_a=std_a, n_b=n_b, mean_b=mean_b, std_b=std_b,
                level=level)

    if paired:
        d = [x - y for x, y in zip(a, b)]
        diff = statistics.fmean(d)
        method = f"paired t, {n_a} pairs"
        if n_a < 2:
            return Difference(**arms, diff=diff, low=None, high=None,
                              method="no interval: 1 pair")
        sd = statistics.stdev(d)
        if sd == 0.0:
            return Difference(**arms, diff=diff, low=diff, high=diff,
                              method=f"{method}; degenerate: identical differences")
        half = t_quantile(n_a - 1, level) * sd / math.sqrt(n_a)
        return Difference(**arms, diff=diff, low=diff - half, high=diff + half, method=method)

    diff = mean_a - mean_b
    if n_a < 2 or n_b < 2:
        which = "both arms" if n_a < 2 and n_b < 2 else "one arm"
        return Difference(**arms, diff=diff, low=None, high=None,
                          method=f"no interval: n = 1 in {which}")
    va, vb = std_a ** 2 / n_a, std_b ** 2 / n_b
    se2 = va + vb
    if se2 == 0.0:
        return Difference(**arms, diff=diff, low=diff, high=diff,
                          method="Welch t; degenerate: zero variance in both arms")
    df = se2 ** 2 / (va ** 2 / (n_a - 1) + vb ** 2 / (n_b - 1))
    half = t_quantile(df, level) * math.sqrt(se2)
    return Difference(**arms, diff=diff, low=diff - half, high=diff + half,
                      method=f"Welch t, df = {df:.1f}")


@dataclass(frozen=True)
class Prediction:
    """Where the mean of ``m`` new draws should fall, from ``n`` earlier draws."""

    n: int
    mean: float
    std: float | None
    m: int
    low: float | None  # None: fewer than 2 earlier draws
    high: float | None
    level: float

    def contains(self, value: float) -> bool | None:
        if self.low is None or self.high is None:
            return None
        return self.low <= value <= self.high


def prediction_interval(values, m: int = 1, level: float = 0.99) -> Prediction:
    """The ``level`` prediction interval for the mean of ``m`` further draws from the
    distribution that gave ``values``: mean ± t(n-1) · s · sqrt(1/n + 1/m), exact for
    normal draws. It answers "is this new result another draw of the same experiment?",
    where a confidence interval of a difference would answer "do the means differ?"."""
    xs = [float(x) for x in values]
    n = len(xs)
    if n == 0 or m < 1:
        raise ValueError(f"need at least one earlier value and m >= 1, got n = {n}, m = {m}")
    mean, std = statistics.fmean(xs), _std(xs)
    if std is None:
        return Prediction(n, mean, None, m, None, None, level)
    half = t_quantile(n - 1, level) * std * math.sqrt(1 / n + 1 / m)
    return Prediction(n, mean, std, m, mean - half, mean + half, level)


def verdict(d: Difference, threshold: float = 0.0) -> str:
    """Verdict on the claim ``a - b > threshold`` (threshold in the units of the values).

    "holds" only when the whole interval lies above the threshold, "does not hold" when
    none of it does (a degenerate interval sitting exactly on the threshold included:
    "> t" is then false on every seed), and "inconclusive" when it straddles the
    threshold or there is no interval: a difference of means alone never decides a claim.
    """
    if d.low is None or d.high is None:
        return "inconclusive"
    if d.low > threshold:
        return "holds"
    if d.high <= threshold:
        return "does not hold"
    return "inconclusive"


def describe(d: Difference, *, scale: float = 100.0, unit: str = " pp", fmt: str = ".2f",
             names=("a", "b")) -> str:
    """One line of evidence for the report: each arm's mean ± std (n) and the interval.

    Values are multiplied by ``scale`` (accuracies are stored as fractions, shown in
    percentage points by default).
    """
    def num(x, sign=""):
        return "—" if x is None else format(x * scale, sign + fmt)

    arms = ", ".join(f"{name}: {num(m)} ± {num(s)} (n = {n})" for name, m, s, n in
                     ((names[0], d.mean_a, d.std_a, d.n_a), (names[1], d.mean_b, d.std_b, d.n_b)))
    line = f"{arms}; difference {num(d.diff, '+')}{unit}"
    if d.low is None or d.high is None:
        why = d.method.removeprefix("no interval:").strip()
        return f"{line}, no interval ({why})"
    return (f"{line}, {d.level * 100:g} % CI [{num(d.low, '+')}, {num(d.high, '+')}]"
            f" ({d.method})")


def paired_by_seed(a_runs: dict, b_runs: dict) -> tuple[list, list, bool]:
    """Arrange ``{seed: value}`` runs of two arms for :func:`difference`.

    When both arms ran the same seeds (at least two), pairing by seed is valid and
    tighter, so the values come back sorted by seed with ``paired=True``. Otherwise
    each arm's values (in seed order) with ``paired=False``.
    """
    if set(a_runs) == set(b_runs) and len(a_runs) >= 2:
        seeds = sorted(a_runs)
        return [a_runs[s] for s in seeds], [b_runs[s] for s in seeds], True
    return ([a_runs[s] for s in sorted(a_runs)], [b_runs[s] for s in sorted(b_runs)], False)


@dataclass(frozen=True)
class MedianInterval:
    """The median of ``n`` values and a distribution-free interval for it."""

    n: int
    median: float
    low: float | None  # None: too few values for the level asked
    high: float | None
    ranks: tuple[int, int] | None  # 1-based order statistics that bound the interval
    coverage: float | None  # the exact coverage of those ranks (>= level)
    level: float = 0.95

    def relative_half_width(self) -> float | None:
        """Half the interval's width over the median (0.03 = ±3 %)."""
        if self.low is None or self.high is None or self.median == 0:
            return None
        return (self.high - self.low) / 2 / abs(self.median)


def _binomial_cdf_half(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n


def median_interval(values, level: float = 0.95) -> MedianInterval:
    """The median with the order-statistic interval ``[x_(k), x_(n+1-k)]`` for the largest
    ``k`` whose coverage ``1 - 2 P(Binomial(n, 1/2) <= k - 1)`` is at least ``level``.

    Why this one: benchmark rounds on a shared machine have outliers (a round that ran
    beside another process) and skewed noise, which a median and a rank interval take
    without any assumption on the distribution; only that rounds are independent. Below
    6 values no 95 % interval exists (its coverage would be 1 - 2/2^n < 0.95)."""
    xs = sorted(float(x) for x in values)
    n = len(xs)
    if n == 0:
        raise ValueError("median_interval needs at least one value")
    med = statistics.median(xs)
    best = None
    for k in range(1, n // 2 + 1):
        coverage = 1.0 - 2.0 * _binomial_cdf_half(k - 1, n)
        if coverage >= level:
            best = (k, coverage)
    if best is None:
        return MedianInterval(n, med, None, None, None, None, level)
    k, coverage = best
    return MedianInterval(n, med, xs[k - 1], xs[n - k], (k, n + 1 - k), coverage, level)


def standard_error(d: Difference) -> float | None:
    """The standard error of an unpaired difference, sqrt(s_a²/n_a + s_b²/n_b) (Welch's);
    None when an arm has a single value."""
    if d.std_a is None or d.std_b is None:
        return None
    return math.sqrt(d.std_a ** 2 / d.n_a + d.std_b ** 2 / d.n_b)


@dataclass(frozen=True)
class Line:
    """``y = intercept + slope * x`` fitted by weighted least squares to ``k`` points."""

    k: int
    slope: float
    intercept: float
    se: float  # standard error of the slope, the points' errors taken as known
    chi2: float  # Σ w·residual², about k - 2 when the points scatter as their errors allow
    scale: float  # what the interval's width was multiplied by: max(1, sqrt(chi2 / (k - 2)))
    low: float  # the slope's ``level`` interval
    high: float
    level: float = 0.95


def weighted_line(xs, ys, errors, level: float = 0.95) -> Line:
    """Fit a straight line through points whose ``errors`` are the standard errors of
    their ``ys``, with weights w = 1/error².

    Why weighted: the points are means of different numbers of seeds with different
    spreads, and an unweighted fit would let the noisiest point pull the line as hard as
    the best-measured one. The slope's standard error takes the errors as known,
    sqrt(Σw / Δ) with Δ = Σw·Σw x² - (Σw x)². Where the points scatter about the line
    more than their errors allow (chi2 above its k - 2 degrees of freedom) the errors
    were too small for a line, so the interval, slope ± z·se·scale (z the normal
    quantile), is widened by the scale factor sqrt(chi2 / (k - 2)) as the Particle Data
    Group does for inconsistent measurements; it is never narrowed. The fit describes
    the range of ``xs`` it was given and nothing beyond it.
    """
    xs, ys, errors = [float(x) for x in xs], [float(y) for y in ys], [float(e) for e in errors]
    if not len(xs) == len(ys) == len(errors):
        raise ValueError(f"xs, ys and errors need equal lengths, got {len(xs)}, {len(ys)}, "
                         f"{len(errors)}")
    if len(set(xs)) < 2:
        raise ValueError(f"a line needs at least two distinct x values, got {xs}")
    if any(not e > 0 for e in errors):
        raise ValueError(f"every error must be > 0 to weigh its point, got {errors}")
    w = [1.0 / e ** 2 for e in errors]
    s = sum(w)
    sx = sum(wi * x for wi, x in zip(w, xs))
    sy = sum(wi * y for wi, y in zip(w, ys))
    sxx = sum(wi * x * x for wi, x in zip(w, xs))
    sxy = sum(wi * x * y for wi, x, y in zip(w, xs, ys))
    delta = s * sxx - sx ** 2
    slope = (s * sxy - sx * sy) / delta
    intercept = (sxx * sy - sx * sxy) / delta
    se = math.sqrt(s / delta)
    chi2 = sum(wi * (y - intercept - slope * x) ** 2 for wi, x, y in zip(w, xs, ys))
    k = len(xs)
    scale = max(1.0, math.sqrt(chi2 / (k - 2))) if k > 2 else 1.0
    half = t_quantile(math.inf, level) * se * scale
    return Line(k, slope, intercept, se, chi2, scale, slope - half, slope + half, level)
