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


def test_weighted_line_matches_a_hand_computation():
    # x = 3, 4, 5 (log2 of 8, 16, 32 epochs); y = -6, -2, -1; errors 1, 2, 1 -> w = 1, 1/4, 1.
    # Σw = 2.25, Σwx = 9, Σwy = -7.5, Σwx² = 38, Σwxy = -25, Δ = 2.25·38 - 9² = 4.5.
    # slope = (2.25·(-25) - 9·(-7.5)) / 4.5 = 11.25 / 4.5 = 2.5
    # intercept = (38·(-7.5) - 9·(-25)) / 4.5 = -60 / 4.5 = -13.333...
    # se = sqrt(2.25 / 4.5) = sqrt(0.5); residuals y - fit = -1/6, 4/3, -1/6, so
    # χ² = 1·(1/6)² + (1/4)·(4/3)² + 1·(1/6)² = 1/36 + 4/9 + 1/36 = 0.5.
    # χ² / (k - 2) = 0.5 < 1: the interval is not widened, 2.5 ± 1.959964·sqrt(0.5).
    line = stats.weighted_line([3, 4, 5], [-6, -2, -1], [1, 2, 1])
    assert line.k == 3
    assert line.slope == pytest.approx(2.5)
    assert line.intercept == pytest.approx(-40 / 3)
    assert line.se == pytest.approx(math.sqrt(0.5))
    assert line.chi2 == pytest.approx(0.5)
    assert line.scale == 1.0
    assert (line.low, line.high) == pytest.approx((2.5 - 1.385904, 2.5 + 1.385904), abs=1e-6)


def test_weighted_line_widens_its_interval_when_the_points_scatter_beyond_their_errors():
    # the same points, every error 0.5 (w = 4): the ordinary line, slope 2.5, intercept -13;
    # residuals -0.5, 1, -0.5 -> χ² = 4·1.5 = 6 on 1 degree of freedom; Δ = 12·200 - 48² = 96,
    # se = sqrt(12 / 96); the interval is widened by sqrt(6): 2.5 ± 1.959964·sqrt(0.75).
    line = stats.weighted_line([3, 4, 5], [-6, -2, -1], [0.5, 0.5, 0.5])
    assert (line.slope, line.intercept, line.chi2) == pytest.approx((2.5, -13.0, 6.0))
    assert line.se == pytest.approx(math.sqrt(0.125))
    assert line.scale == pytest.approx(math.sqrt(6))
    assert (line.low, line.high) == pytest.approx((2.5 - 1.697379, 2.5 + 1.697379), abs=1e-6)
    # a line through two points fits them exactly: χ² = 0, nothing to widen by
    two = stats.weighted_line([3, 5], [-6, -1], [1, 1])
    assert (two.slope, two.chi2, two.scale) == pytest.approx((2.5, 0.0, 1.0))
    assert two.se == pytest.approx(math.sqrt(2 / 4))  # Σw = 2, Δ = 2·34 - 8² = 4


@pytest.mark.parametrize("xs, ys, errors, message", [
    ([3, 3], [1, 2], [1, 1], "two distinct x"),
    ([3, 4], [1, 2], [1, 0], "must be > 0"),
    ([3, 4], [1, 2], [1], "equal lengths"),
])
def test_weighted_line_refuses_what_it_cannot_fit(xs, ys, errors, message):
    with pytest.raises(ValueError, match=message):
        stats.weighted_line(xs, ys, errors)


def test_standard_error_of_an_unpaired_difference():
    d = difference([1.0, 2.0, 3.0], [2.0, 4.0])  # s_a² = 1, s_b² = 2
    assert stats.standard_error(d) == pytest.approx(math.sqrt(1 / 3 + 2 / 2))
    assert stats.standard_error(difference([1.0], [2.0, 3.0])) is None
