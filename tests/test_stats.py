"""Each routine of lab_utils.report.stats against scipy or statsmodels on random and edge cases, then the
simulation of item 3 of issue 31: no more than 5 % false calls under a true null with seed SDs of 1-3 points."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, TTestPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint, proportions_ztest
from statsmodels.stats.weightstats import ttost_ind

from lab_utils.errors import ConfigError
from lab_utils.report import stats
from lab_utils.report.stats import (
    accuracy_interval,
    class_difference,
    correct_per_seed,
    crossed_difference,
    detectable_difference,
    equivalence_margin,
    equivalence_p,
    format_p,
    holm,
    newcombe_interval,
    one_sample,
    paired_difference,
    proportion_difference,
    wilson_interval,
)


def pair(both: int, a_only: int, b_only: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """Correctness of two runs on the same images, from the four cells of McNemar's table."""
    a = np.repeat([True, True, False, False], [both, a_only, b_only, neither])
    b = np.repeat([True, False, True, False], [both, a_only, b_only, neither])
    return a, b


def flat(per_seed: np.ndarray, n: int = 50) -> np.ndarray:
    """Seeds × images with every image of a seed equal to that seed's value: no image or interaction variance,
    so the crossed t must reduce to a t on the per-seed values."""
    return np.repeat(np.asarray(per_seed, dtype=float)[:, None], n, axis=1)


# --- one seed: Wilson, Newcombe, score test, McNemar -----------------------------------------------------------


@pytest.mark.parametrize(("correct", "n"), [(0, 1), (1, 1), (0, 20), (20, 20), (1, 29), (81, 263), (760, 761)])
def test_wilson_matches_statsmodels_at_the_edges(correct: int, n: int) -> None:
    assert wilson_interval(correct, n) == pytest.approx(proportion_confint(correct, n, 0.05, "wilson"), abs=1e-12)


@given(st.integers(1, 2000), st.data())
@settings(max_examples=60, deadline=None)
def test_wilson_matches_statsmodels(n: int, data) -> None:
    correct = data.draw(st.integers(0, n))
    assert wilson_interval(correct, n) == pytest.approx(proportion_confint(correct, n, 0.05, "wilson"), abs=1e-12)


@given(st.integers(1, 300), st.integers(1, 300), st.data())
@settings(max_examples=60, deadline=None)
def test_newcombe_and_score_test_match_statsmodels(n_a: int, n_b: int, data) -> None:
    a, b = (data.draw(st.integers(0, n_a)), n_a), (data.draw(st.integers(0, n_b)), n_b)
    expected = confint_proportions_2indep(a[0], a[1], b[0], b[1], method="newcomb", compare="diff")
    assert newcombe_interval(a, b) == pytest.approx(expected, abs=1e-10)
    diff = proportion_difference(a, b)
    assert (diff.low, diff.high) == pytest.approx(tuple(100 * x for x in expected), abs=1e-8)
    if 0 < a[0] + b[0] < n_a + n_b:  # statsmodels divides by zero when both are 0 % or both 100 %
        assert diff.p == pytest.approx(proportions_ztest([a[0], b[0]], [n_a, n_b])[1], rel=1e-9, abs=1e-15)
    else:
        assert diff.p == 1.0


@pytest.mark.parametrize("cells", [(10, 0, 0, 5), (0, 1, 0, 0), (5, 0, 9, 1), (300, 25, 9, 100), (0, 40, 41, 0)])
def test_mcnemar_matches_statsmodels_exact(cells: tuple[int, int, int, int]) -> None:
    a, b = pair(*cells)
    diff = paired_difference([a], [b])
    both, a_only, b_only, neither = cells
    expected = mcnemar([[both, a_only], [b_only, neither]], exact=True).pvalue
    assert diff.test == stats.MCNEMAR and diff.p == pytest.approx(expected, rel=1e-12)
    assert diff.points == pytest.approx(100 * (a_only - b_only) / sum(cells))
    if a_only + b_only:
        ci = sps.binomtest(a_only, a_only + b_only).proportion_ci(method="exact")
        scale = 100 * (a_only + b_only) / sum(cells)
        assert (diff.low, diff.high) == pytest.approx((scale * (2 * ci.low - 1), scale * (2 * ci.high - 1)))


@given(st.tuples(*[st.integers(0, 60)] * 4).filter(lambda c: sum(c) > 0))
@settings(max_examples=100, deadline=None)
def test_mcnemar_agrees_with_statsmodels_and_flips_with_a_swap(c: tuple[int, int, int, int]) -> None:
    a, b = pair(*c)
    diff, swapped = paired_difference([a], [b]), paired_difference([b], [a])
    assert diff.p == pytest.approx(mcnemar([[c[0], c[1]], [c[2], c[3]]], exact=True).pvalue, rel=1e-9)
    assert diff.low <= diff.points <= diff.high and not diff.seeds_as_unit
    assert (swapped.points, swapped.low, swapped.high) == pytest.approx((-diff.points, -diff.high, -diff.low))


# --- several seeds: the crossed t ---------------------------------------------------------------------------------


@given(st.integers(2, 6), st.integers(2, 6), st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_crossed_t_reduces_to_welch_without_image_variance(k_a: int, k_b: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    acc_a, acc_b = rng.uniform(0.5, 0.9, k_a), rng.uniform(0.5, 0.9, k_b)
    point, var, df = crossed_difference(flat(acc_a), flat(acc_b))
    welch = sps.ttest_ind(acc_a, acc_b, equal_var=False)
    assert float(df) == pytest.approx(welch.df, rel=1e-9)
    assert float(point) / math.sqrt(float(var)) == pytest.approx(welch.statistic, rel=1e-9)
    diff = stats._t_difference(float(point), float(var), float(df), (k_a, k_b), stats.LEVEL)
    ci = welch.confidence_interval(0.95)
    assert (diff.p, diff.low, diff.high) == pytest.approx((welch.pvalue, 100 * ci.low, 100 * ci.high), rel=1e-9)


@given(st.integers(2, 8), st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_one_run_and_paired_classes_reduce_to_one_sample_and_paired_t(k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    acc_a, acc_b = rng.uniform(0.4, 0.9, k), rng.uniform(0.4, 0.9, k)
    point, var, df = crossed_difference(flat(acc_a))
    one = sps.ttest_1samp(acc_a, 0.0)
    assert (float(df), float(point) / math.sqrt(float(var))) == pytest.approx((k - 1, one.statistic), rel=1e-9)
    # Two classes of one run: seeds paired, images independent -> images as rows (what class_difference does).
    point, var, df = crossed_difference(flat(acc_a, 7).T, flat(acc_b, 9).T)
    rel = sps.ttest_rel(acc_a, acc_b)
    assert (float(df), float(point) / math.sqrt(float(var))) == pytest.approx((k - 1, rel.statistic), rel=1e-9)


def test_crossed_variance_counts_the_interaction_once() -> None:
    """Seed effects, shared image effects and seed × image noise: on average the estimate is the variance of
    the difference of grand means, 2 σ²_seed / k + 2 σ²_interaction / (k n), the interaction counted once (the old
    bootstrap counted it about 2.3 times, which here would be 20 % too much)."""
    rng = np.random.default_rng(1)
    reps, k, n, seed_sd, image_sd, noise_sd = 800, 4, 300, 0.05, 0.3, 0.4
    images = rng.normal(0, image_sd, (reps, 1, 1, n))  # the same test images for both runs: cancels
    x = images + rng.normal(0, seed_sd, (reps, 2, k, 1)) + rng.normal(0, noise_sd, (reps, 2, k, n))
    _, var, _ = crossed_difference(x[:, 0], x[:, 1])
    truth = 2 * seed_sd**2 / k + 2 * noise_sd**2 / (k * n)
    assert np.mean(var) == pytest.approx(truth, rel=0.05)
    point = x[:, 0].mean((-2, -1)) - x[:, 1].mean((-2, -1))
    assert np.var(point) == pytest.approx(truth, rel=0.15)  # the truth is the truth


def test_paired_difference_uses_seeds_when_both_sides_have_them() -> None:
    rng = np.random.default_rng(0)
    a = [rng.random(200) < 0.7 for _ in range(3)]
    b = [rng.random(200) < 0.6 for _ in range(3)]
    diff = paired_difference(a, b)
    assert diff.test == stats.SEEDS_T and diff.seeds_as_unit and diff.n_seeds == (3, 3)
    assert paired_difference(a[:1], b).test == stats.MCNEMAR  # one seed on a side: these two models
    swapped = paired_difference(b, a)
    assert (swapped.points, swapped.p, swapped.low) == pytest.approx((-diff.points, diff.p, -diff.high))


def test_class_and_one_sample_differences() -> None:
    rng = np.random.default_rng(2)
    cats, birds = rng.random((3, 40)) < 0.5, rng.random((3, 60)) < 0.8
    diff = class_difference(cats, birds)
    assert diff.points < 0 and diff.seeds_as_unit and diff.df == pytest.approx(diff.df)
    assert class_difference(cats[:1], birds[:1]).test == stats.SCORE
    d = rng.choice([-1.0, 0.0, 1.0], size=(1, 500), p=[0.1, 0.7, 0.2])
    t = sps.ttest_1samp(d[0], 0.0)
    assert one_sample(d).p == pytest.approx(t.pvalue, rel=1e-9)


def test_accuracy_interval() -> None:
    one = accuracy_interval([np.arange(761) < 396])
    assert (one.low, one.high) == pytest.approx(proportion_confint(396, 761, 0.05, "wilson"))
    rows = [np.arange(100) < k for k in (50, 60, 70)]
    three = accuracy_interval(rows)
    assert three.std == pytest.approx(0.1) and three.n_seeds == 3
    assert 0 <= three.low < 0.6 < three.high <= 1


# --- Holm, power, equivalence, p formatting -------------------------------------------------------------------------


@given(st.lists(st.floats(0, 1), min_size=1, max_size=25))
@settings(max_examples=30, deadline=None)
def test_holm_matches_statsmodels(p: list[float]) -> None:
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1], abs=1e-12)


@pytest.mark.parametrize("p", [[0.0], [1.0], [0.01, 0.01, 0.01], [0.0, 0.0, 0.5, 1.0], [0.04, 0.03, 0.02, 0.01]])
def test_holm_edge_cases(p: list[float]) -> None:
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1], abs=1e-12)
    assert len(holm([])) == 0
    with pytest.raises(ConfigError, match="in \\[0, 1\\]"):
        holm([0.5, 1.5])


@pytest.mark.parametrize(("k", "alpha"), [(2, 0.05), (3, 0.05), (5, 0.01), (5, 0.05 / 13), (20, 0.05)])
def test_detectable_difference_has_80_percent_power_by_statsmodels(k: int, alpha: float) -> None:
    """statsmodels' power of the one-sample t at our detectable difference is 80 % (its solve_power does not always
    converge: at k = 5, α = 0.05 / 13 it stops at 76 %)."""
    se = 1.7  # the standard error of a mean of k values with sd se * sqrt(k)
    effect = detectable_difference(se, k - 1, alpha) / (se * math.sqrt(k))
    power = TTestPower().power(effect, k, alpha, alternative="two-sided")
    if np.isfinite(power):  # statsmodels' noncentral t is NaN far in the tail (k = 2)
        assert power == pytest.approx(0.8, abs=1e-6)
    rng = np.random.default_rng(0)  # and by simulation: the t statistic of k values with that true mean
    t = (rng.standard_normal(400_000) + effect * math.sqrt(k)) / np.sqrt(rng.chisquare(k - 1, 400_000) / (k - 1))
    assert np.mean(np.abs(t) > sps.t.ppf(1 - alpha / 2, k - 1)) == pytest.approx(0.8, abs=0.003)
    if k == 20:
        assert effect == pytest.approx(TTestPower().solve_power(nobs=k, alpha=alpha, power=0.8), rel=1e-4)


@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.05 / 16])
def test_detectable_difference_matches_statsmodels_normal_power(alpha: float) -> None:
    effect = NormalIndPower().solve_power(nobs1=1, ratio=0, alpha=alpha, power=0.8, alternative="two-sided")
    assert detectable_difference(2.0, math.inf, alpha) == pytest.approx(2.0 * effect, rel=1e-4)
    # The number: 761 test images, a McNemar with about a fifth of the images discordant, α = 0.05.
    assert detectable_difference(100 * math.sqrt(0.2 * 761) / 761) == pytest.approx(4.5, abs=0.1)


@given(st.integers(2, 6), st.integers(2, 6), st.floats(0.5, 5), st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_equivalence_p_matches_statsmodels_tost(k_a: int, k_b: int, margin: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    acc_a, acc_b = rng.uniform(0.6, 0.7, k_a), rng.uniform(0.6, 0.7, k_b)
    point, var, df = (float(x) for x in crossed_difference(flat(acc_a), flat(acc_b)))
    diff = stats._t_difference(point, var, df, (k_a, k_b), stats.LEVEL)
    expected = ttost_ind(100 * acc_a, 100 * acc_b, -margin, margin, usevar="unequal")[0]
    assert equivalence_p(diff, margin) == pytest.approx(expected, rel=1e-7)


def test_equivalence_margin_has_the_power_it_claims() -> None:
    se, alpha = 1.3, 0.01
    m = equivalence_margin(se, math.inf, alpha)
    z = sps.norm.ppf(1 - alpha)
    assert sps.norm.cdf(m / se - z) - sps.norm.cdf(-m / se + z) == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("p", "text"), [(0.0, "< 0.0001"), (1e-300, "< 0.0001"), (0.00042, "4.2e-04"), (0.0123, "0.012"), (1.0, "1.000")]
)
def test_format_p_never_prints_zero(p: float, text: str) -> None:
    assert format_p(p) == text


# --- the simulation of issue 31, item 3 --------------------------------------------------------------------------


@pytest.mark.parametrize("seed_sd", [1.0, 2.0, 3.0])
def test_false_calls_under_a_true_null_are_at_most_5_percent(seed_sd: float) -> None:
    """Two methods with the same accuracy, 5 seeds each, seeds moving accuracy by `seed_sd` points, 1,000 test
    images of varied difficulty: the crossed t calls them different at most 5 % of the time (Monte Carlo SE 0.4 %
    at 3,000 repeats, so the bound allows two of it)."""
    rng = np.random.default_rng(31)
    k, n, reps = 5, 1000, 3000
    ease = rng.beta(2, 0.8, n)
    calls = 0
    for _ in range(reps // 500):
        shift = rng.normal(0, seed_sd / 100, (2, 500, k, 1))
        a, b = (rng.random((500, k, n)) < ease + shift[i] for i in range(2))
        point, var, df = crossed_difference(a, b)
        calls += int((2 * sps.t.sf(np.abs(point) / np.sqrt(var), df) < 0.05).sum())
    assert calls / reps <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / reps)


# --- bad input -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        ([], [np.ones(3, bool)], "one non-empty 1-D array"),
        ([np.ones(3, bool), np.ones(4, bool)], [np.ones(3, bool)], "same test images"),
        ([np.ones(3, bool)], [np.ones(4, bool)], "a has 3 images and b 4"),
        ([np.array([0.2, 0.9, 1.0])], [np.ones(3, bool)], "booleans"),
        ([np.ones((2, 3), bool)], [np.ones(3, bool)], "1-D"),
    ],
)
def test_bad_input_is_named(a, b, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        paired_difference(a, b)


def test_bad_counts_and_arguments_are_named() -> None:
    with pytest.raises(ConfigError, match="0 <= correct <= n"):
        wilson_interval(5, 3)
    with pytest.raises(ConfigError, match="se > 0"):
        detectable_difference(0.0)
    with pytest.raises(ConfigError, match="positive"):
        equivalence_p(paired_difference([np.ones(3, bool)], [np.ones(3, bool)]), 0)


def test_correct_per_seed_compares_predictions_with_labels() -> None:
    y = np.array([0, 1, 2, 3])
    got = correct_per_seed([[0, 1, 0, 3], np.array([1, 1, 2, 3])], y)
    assert [g.tolist() for g in got] == [[True, True, False, True], [False, True, True, True]]
    with pytest.raises(ConfigError, match="seed 1: 3 predictions for 4 test labels"):
        correct_per_seed([[0, 1, 2, 3], [0, 1, 2]], y)
