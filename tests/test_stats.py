"""experiments.analysis.stats against numbers worked out by hand and textbook t tables."""
import math

import pytest

from experiments.analysis import stats
from experiments.analysis.stats import Difference, describe, difference, paired_by_seed, t_quantile, verdict


@pytest.mark.parametrize("df, expected", [
    (1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (10, 2.228), (30, 2.042), (1000, 1.962),
])
def test_t_quantile_matches_table(df, expected):
    assert t_quantile(df) == pytest.approx(expected, abs=5e-4)


def test_t_quantile_other_levels_and_limits():
    assert t_quantile(10, 0.99) == pytest.approx(3.169, abs=5e-4)
    assert t_quantile(5, 0.90) == pytest.approx(2.015, abs=5e-4)
    assert t_quantile(1, 0.999) == pytest.approx(636.619, abs=5e-3)
    assert t_quantile(1e6) == pytest.approx(1.960, abs=5e-4)
    assert t_quantile(math.inf) == pytest.approx(1.959964, abs=1e-6)


def test_t_quantile_non_integer_df_lies_between_neighbours():
    t35 = t_quantile(3.5)
    assert t_quantile(4) < t35 < t_quantile(3)
    assert t35 == pytest.approx(2.940, abs=5e-4)


@pytest.mark.parametrize("df, level", [(0, 0.95), (-1, 0.95), (float("nan"), 0.95),
                                       (3, 0.0), (3, 1.0), (3, 1.5)])
def test_t_quantile_rejects_bad_arguments(df, level):
    with pytest.raises(ValueError):
        t_quantile(df, level)


def test_welch_interval_by_hand():
    # a = [1, 2, 3]:    mean 2, s² = (1 + 0 + 1) / 2 = 1,          s²/n = 1/3
    # b = [0, 2, 4, 6]: mean 3, s² = (9 + 1 + 1 + 9) / 3 = 20/3,   s²/n = 5/3
    # se² = 1/3 + 5/3 = 2
    # df = se⁴ / ((1/3)²/2 + (5/3)²/3) = 4 / (1/18 + 25/27) = 4 / (53/54) = 216/53 ≈ 4.075
    # t(216/53) ≈ 2.756 (between t(5) = 2.571 and t(4) = 2.776)
    # interval = -1 ± 2.756 * √2 = -1 ± 3.898 = [-4.898, +2.898]
    d = difference([1, 2, 3], [0, 2, 4, 6])
    assert (d.n_a, d.mean_a, d.std_a) == (3, 2.0, 1.0)
    assert (d.n_b, d.mean_b) == (4, 3.0)
    assert d.std_b == pytest.approx(math.sqrt(20 / 3))
    assert d.diff == -1.0
    t = t_quantile(216 / 53)
    assert t == pytest.approx(2.756, abs=5e-4)
    assert d.low == pytest.approx(-1 - t * math.sqrt(2))
    assert d.high == pytest.approx(-1 + t * math.sqrt(2))
    assert d.low == pytest.approx(-4.898, abs=1e-3) and d.high == pytest.approx(2.898, abs=1e-3)
    assert d.method.startswith("Welch t")
    assert verdict(d) == "inconclusive"


def test_paired_interval_by_hand():
    # differences d = [3-1, 5-4, 7-5] = [2, 1, 2]: mean 5/3
    # sd(d)² = ((1/3)² + (2/3)² + (1/3)²) / 2 = 1/3, so se = sqrt(1/3) / sqrt(3) = 1/3
    # interval = 5/3 ± t(2) / 3 = 1.6667 ± 4.303 / 3 = [0.2324, 3.1009]
    d = difference([3, 5, 7], [1, 4, 5], paired=True)
    assert d.diff == pytest.approx(5 / 3)
    assert d.low == pytest.approx(5 / 3 - t_quantile(2) / 3)
    assert d.high == pytest.approx(5 / 3 + t_quantile(2) / 3)
    assert d.low == pytest.approx(0.2324, abs=1e-4) and d.high == pytest.approx(3.1009, abs=1e-4)
    assert d.method == "paired t, 3 pairs"
    assert verdict(d) == "holds"
    # Unpaired, the same numbers cannot separate the arms: pairing removes the seed noise.
    assert verdict(difference([3, 5, 7], [1, 4, 5])) == "inconclusive"


def _interval(low, high):
    return Difference(3, 0.5, 0.01, 3, 0.5, 0.01, (low + high) / 2, low, high, "hand-made")


def test_verdict_outcomes():
    assert verdict(_interval(0.01, 0.03)) == "holds"
    assert verdict(_interval(-0.03, -0.01)) == "does not hold"
    assert verdict(_interval(-0.01, 0.03)) == "inconclusive"
    # Against a threshold: a - b > 0.02 is not established by [0.01, 0.03].
    assert verdict(_interval(0.01, 0.03), threshold=0.02) == "inconclusive"
    assert verdict(_interval(0.01, 0.03), threshold=0.005) == "holds"
    assert verdict(_interval(0.01, 0.03), threshold=0.05) == "does not hold"
    # an interval ending exactly on the threshold: "> threshold" holds for none of it
    assert verdict(_interval(-0.01, 0.0)) == "does not hold"


def test_no_interval_with_one_value_is_inconclusive():
    d = difference([0.60], [0.50, 0.51])
    assert d.low is None and d.high is None
    assert d.std_a is None
    assert d.method == "no interval: n = 1 in one arm"
    assert verdict(d) == "inconclusive"
    both = difference([0.60], [0.50])
    assert both.method == "no interval: n = 1 in both arms" and verdict(both) == "inconclusive"
    pair = difference([0.60], [0.50], paired=True)
    assert pair.low is None and verdict(pair) == "inconclusive"


def test_zero_variance_gives_degenerate_interval():
    d = difference([0.5, 0.5, 0.5], [0.25, 0.25])
    assert (d.low, d.high) == (0.25, 0.25)
    assert "degenerate" in d.method
    assert verdict(d) == "holds"
    p = difference([3, 4, 5], [1, 2, 3], paired=True)
    assert (p.low, p.high) == (2.0, 2.0) and "degenerate" in p.method


def test_one_arm_with_zero_variance_still_has_interval():
    # se² = 0 + 1/3, df = (1/3)² / ((1/3)² / 2) = 2, so the interval is 0 ± t(2) / sqrt(3).
    d = difference([2, 2, 2], [1, 2, 3])
    assert d.low == pytest.approx(-t_quantile(2) / math.sqrt(3))
    assert d.high == pytest.approx(t_quantile(2) / math.sqrt(3))


def test_value_errors():
    with pytest.raises(ValueError):
        difference([], [1.0, 2.0])
    with pytest.raises(ValueError):
        difference([1.0], [])
    with pytest.raises(ValueError):
        difference([1.0, 2.0, 3.0], [1.0, 2.0], paired=True)


def test_describe_states_n_interval_and_method():
    d = difference([0.513, 0.521, 0.529], [0.491, 0.502, 0.513], paired=True)
    text = describe(d, names=("Bop", "Adam"))
    assert text.startswith("Bop: 52.10 ± 0.80 (n = 3), Adam: 50.20 ± 1.10 (n = 3); ")
    assert "difference +1.90 pp, 95 % CI [" in text
    assert f"[{d.low * 100:+.2f}, {d.high * 100:+.2f}]" in text
    assert text.endswith("(paired t, 3 pairs)")


def test_describe_without_interval():
    text = describe(difference([0.521], [0.50, 0.51]))
    assert text == ("a: 52.10 ± — (n = 1), b: 50.50 ± 0.71 (n = 2); "
                    "difference +1.60 pp, no interval (n = 1 in one arm)")


def test_describe_scale_unit_fmt():
    d = difference([3, 5, 7], [1, 4, 5], paired=True)
    assert describe(d, scale=1, unit=" flips", fmt=".1f") == (
        "a: 5.0 ± 2.0 (n = 3), b: 3.3 ± 2.1 (n = 3); "
        "difference +1.7 flips, 95 % CI [+0.2, +3.1] (paired t, 3 pairs)")


def test_paired_by_seed_same_seeds():
    a, b, paired = paired_by_seed({2: 0.52, 0: 0.50, 1: 0.51}, {1: 0.41, 2: 0.42, 0: 0.40})
    assert (a, b, paired) == ([0.50, 0.51, 0.52], [0.40, 0.41, 0.42], True)


def test_paired_by_seed_falls_back_to_unpaired():
    a, b, paired = paired_by_seed({0: 0.50, 1: 0.51}, {0: 0.40, 2: 0.42})
    assert (a, b, paired) == ([0.50, 0.51], [0.40, 0.42], False)
    # A single shared seed is not enough to pair.
    assert paired_by_seed({0: 0.5}, {0: 0.4}) == ([0.5], [0.4], False)


def test_median_interval_uses_the_textbook_order_statistics():
    # 95 % distribution-free intervals for the median: ranks from the binomial(n, 1/2)
    # table (e.g. Conover, Practical Nonparametric Statistics, table A3)
    for n, ranks in ((6, (1, 6)), (10, (2, 9)), (20, (6, 15)), (30, (10, 21)), (40, (14, 27))):
        m = stats.median_interval(range(1, n + 1))
        assert m.ranks == ranks and (m.low, m.high) == ranks, n
        assert m.coverage >= 0.95
    assert stats.median_interval([5, 1, 3, 2, 4]).low is None  # n = 5: no 95 % interval
    m = stats.median_interval([1.0, 1.02, 0.98, 1.01, 0.99, 1.0, 1.03, 0.97, 1.0, 1.0])
    assert m.median == 1.0 and m.relative_half_width() == pytest.approx(0.02)
