"""Intervals and paired tests on hand-made per-image correctness: known values, each verdict of each rule,
and properties (the interval holds the estimate, swapping the runs flips the sign, p and interval agree)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab_utils.errors import ConfigError
from lab_utils.report import stats
from lab_utils.report.stats import (Difference, accuracy_interval, correct_per_seed, judge, paired_difference,
                                   wilson_interval)


def pair(both: int, a_only: int, b_only: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """Correctness of two runs on the same images, from the four cells of McNemar's table."""
    a = np.repeat([True, True, False, False], [both, a_only, b_only, neither])
    b = np.repeat([True, False, True, False], [both, a_only, b_only, neither])
    return a, b


def seeds(rate: float, n_seeds: int, n: int = 400, *, seed: int = 0) -> list[np.ndarray]:
    """`n_seeds` runs of about `rate` accuracy on `n` images: easy images first, so seeds agree on most."""
    rng = np.random.default_rng(seed)
    difficulty = np.linspace(0, 1, n)
    return [difficulty + rng.normal(0, 0.25, n) < rate for _ in range(n_seeds)]


# --- Wilson ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("correct", "n", "expected"), [
    # Newcombe (1998), Stat. Med. 17:857, Table I, method 3 (score interval without continuity correction)
    (81, 263, (0.2553, 0.3662)), (15, 148, (0.0624, 0.1605)), (0, 20, (0.0, 0.1611)), (1, 29, (0.0061, 0.1718)),
])
def test_wilson_matches_newcombe(correct: int, n: int, expected: tuple[float, float]) -> None:
    assert wilson_interval(correct, n) == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize(("correct", "n"), [(5, 0), (-1, 10), (11, 10), (3, 2.5)])
def test_wilson_refuses_impossible_counts(correct, n) -> None:
    with pytest.raises(ConfigError, match="0 <= correct <= n"):
        wilson_interval(correct, n)


def test_one_seed_accuracy_is_wilson() -> None:
    acc = accuracy_interval([np.array([True] * 81 + [False] * 182)])
    assert (acc.n_seeds, acc.n_images, acc.std, acc.method) == (1, 263, 0.0, "Wilson")
    assert (acc.mean, acc.low, acc.high) == pytest.approx((81 / 263, 0.2553, 0.3662), abs=5e-5)


def test_several_seeds_accuracy_is_bootstrapped_and_reproducible() -> None:
    runs = seeds(0.6, 3)
    acc = accuracy_interval(runs)
    assert acc.method == stats.HIERARCHICAL and acc.n_seeds == 3
    assert acc.std == pytest.approx(np.std([r.mean() for r in runs], ddof=1))
    assert acc.low < acc.mean < acc.high
    assert accuracy_interval(runs) == acc  # seeded: the same table every time
    one = accuracy_interval(runs[:1])
    assert acc.high - acc.low < 1.2 * (one.high - one.low)  # more seeds: no wider than one seed's test-set noise


# --- one seed each: exact McNemar ----------------------------------------------------------------------------

def test_mcnemar_known_value() -> None:
    # 10 images only a gets right, 2 only b: p = 2 * P(X <= 2 | 12, 1/2) = 2 * 79 / 4096
    diff = paired_difference(*([x] for x in pair(80, 10, 2, 8)))
    assert diff.test == stats.MCNEMAR and diff.n_seeds == (1, 1)
    assert diff.points == pytest.approx(8.0) and diff.p == pytest.approx(158 / 4096)
    assert diff.low > 0 and judge(diff, +1) == "reproduced" and judge(diff, -1) == "contradicted"


@pytest.mark.parametrize(("cells", "expected"), [
    ((300, 40, 10, 150), "reproduced"),  # 40 vs 10 discordant: p ≈ 2e-5
    ((300, 28, 20, 152), "inconclusive"),  # +1.6 points, p ≈ 0.31: the lesson run's kind of gap
    ((300, 10, 40, 150), "contradicted"),
])
def test_mcnemar_verdicts(cells: tuple[int, int, int, int], expected: str) -> None:
    a, b = pair(*cells)
    assert judge(paired_difference([a], [b]), +1) == expected


def test_identical_predictions_are_inconclusive_never_reproduced() -> None:
    a, _ = pair(300, 40, 10, 150)
    for n_seeds in (1, 3):
        diff = paired_difference([a] * n_seeds, [a.copy()] * n_seeds)
        assert (diff.points, diff.p) == (0.0, 1.0)
        assert judge(diff, +1) == judge(diff, -1) == "inconclusive"
    varied = seeds(0.6, 3)
    diff = paired_difference(varied, [v.copy() for v in varied])  # same seeds, resampled independently
    assert diff.points == 0.0 and judge(diff, +1) == "inconclusive"


# --- several seeds: hierarchical bootstrap --------------------------------------------------------------------

@pytest.mark.parametrize(("rate_a", "rate_b", "expected"), [
    (0.70, 0.55, "reproduced"),
    (0.61, 0.60, "inconclusive"),
    (0.55, 0.70, "contradicted"),
])
def test_hierarchical_verdicts(rate_a: float, rate_b: float, expected: str) -> None:
    diff = paired_difference(seeds(rate_a, 3, seed=1), seeds(rate_b, 3, seed=2))
    assert diff.test == stats.HIERARCHICAL and diff.n_seeds == (3, 3)
    assert judge(diff, +1) == expected


def test_seed_spread_widens_the_interval() -> None:
    """Seeds that disagree a lot make a gap less certain than the same mean gap from seeds that agree."""
    steady = paired_difference(seeds(0.62, 3, seed=1), seeds(0.58, 3, seed=2))
    shaky_a = [s for rate in (0.52, 0.62, 0.72) for s in seeds(rate, 1, seed=3)]
    shaky = paired_difference(shaky_a, seeds(0.58, 3, seed=2))
    assert shaky.high - shaky.low > 1.5 * (steady.high - steady.low)


def test_the_bootstrap_keeps_images_paired() -> None:
    """A run right on a superset of the other's images (+1.5 points): certain when paired, not when unpaired."""
    base = [np.roll(np.arange(1000) < 500, 70 * s) for s in range(3)]
    better = [np.roll(np.arange(1000) < 515, 70 * s) for s in range(3)]
    gap = paired_difference(better, base)
    assert gap.points == pytest.approx(1.5) and judge(gap, +1) == "reproduced"


def test_mixed_seed_counts_use_the_bootstrap() -> None:
    diff = paired_difference(seeds(0.7, 1), seeds(0.5, 3))
    assert diff.test == stats.HIERARCHICAL and diff.n_seeds == (1, 3)


# --- bad input -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "b", "match"), [
    ([], [np.ones(3, bool)], "one non-empty 1-D array"),
    ([np.ones(3, bool), np.ones(4, bool)], [np.ones(3, bool)], "same test images"),
    ([np.ones(3, bool)], [np.ones(4, bool)], "a has 3 images and b 4"),
    ([np.array([0.2, 0.9, 1.0])], [np.ones(3, bool)], "booleans"),
    ([np.ones((2, 3), bool)], [np.ones(3, bool)], "1-D"),
])
def test_bad_input_is_named(a, b, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        paired_difference(a, b)


def test_correct_per_seed_compares_predictions_with_labels() -> None:
    y = np.array([0, 1, 2, 3])
    got = correct_per_seed([[0, 1, 0, 3], np.array([1, 1, 2, 3])], y)
    assert [g.tolist() for g in got] == [[True, True, False, True], [False, True, True, True]]
    with pytest.raises(ConfigError, match="seed 1: 3 predictions for 4 test labels"):
        correct_per_seed([[0, 1, 2, 3], [0, 1, 2]], y)


def test_judge_refuses_a_bad_sign() -> None:
    with pytest.raises(ConfigError, match="expected_sign"):
        judge(Difference(1.0, 0.5, 1.5, 0.01, "t", (1, 1)), 0)


# --- properties --------------------------------------------------------------------------------------------------

cells = st.tuples(*[st.integers(0, 60)] * 4).filter(lambda c: sum(c) > 0)


@given(cells)
@settings(max_examples=200, deadline=None)
def test_mcnemar_interval_agrees_with_p_and_flips_with_a_swap(c: tuple[int, int, int, int]) -> None:
    a, b = pair(*c)
    diff, swapped = paired_difference([a], [b]), paired_difference([b], [a])
    assert diff.low <= diff.points <= diff.high
    assert diff.significant == (diff.p < 1 - stats.LEVEL)
    assert swapped.points == pytest.approx(-diff.points) and swapped.p == pytest.approx(diff.p)
    assert (swapped.low, swapped.high) == pytest.approx((-diff.high, -diff.low))


@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None)
def test_bootstrap_interval_agrees_with_p_and_flips_with_a_swap(n_a: int, n_b: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.3, 0.8, 2)
    a = [rng.random(60) < rates[0] for _ in range(n_a)]
    b = [rng.random(60) < rates[1] for _ in range(n_b)]
    if n_a == n_b == 1:
        b.append(b[0])  # keep this property on the bootstrap rule
    diff, swapped = paired_difference(a, b), paired_difference(b, a)
    assert diff.significant == (diff.p < 1 - stats.LEVEL)
    assert swapped.points == pytest.approx(-diff.points)
    assert (swapped.p, swapped.low, swapped.high) == pytest.approx((diff.p, -diff.high, -diff.low))
    flipped = {"reproduced": "contradicted", "contradicted": "reproduced", "inconclusive": "inconclusive"}
    assert judge(swapped, +1) == flipped[judge(diff, +1)]


@given(st.integers(1, 200), st.data())
@settings(max_examples=100, deadline=None)
def test_accuracy_interval_contains_the_estimate(n: int, data) -> None:
    correct = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    n_seeds = data.draw(st.integers(1, 3))
    acc = accuracy_interval([correct] + [np.roll(correct, k) ^ (np.arange(n) % 7 == k) for k in range(1, n_seeds)])
    assert 0.0 <= acc.low <= acc.mean <= acc.high <= 1.0
