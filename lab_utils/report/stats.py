"""Uncertainty for the report's numbers: intervals on accuracies, paired tests, Holm, power and equivalence.

Inputs are per-image correctness, one boolean array per seed, aligned over the same test images. Two sources of
noise are in play (Bouthillier et al., MLSys 2021): which test images were drawn, and which seed trained the
model. One seed can only speak to the first, so it tests two trained models; several seeds test a method.

Rules, kept in one place:
  * One seed: Wilson interval for an accuracy; exact McNemar (two-sided binomial on the discordant images) for a
    difference, with the Clopper-Pearson interval that inverts the same test. Two classes of one model (different
    images): Newcombe's hybrid score interval with the pooled score test.
  * Several seeds: variance components of the crossed seeds × images design (`crossed_difference`), a t on
    Satterthwaite's degrees of freedom (about k - 1 when seeds dominate). The seed × image interaction sits in both
    the seed and the image mean squares; it is counted once, and each component is floored at zero (conservative).
    Seeds of two runs are independent (seed i of one network has nothing in common with seed i of another) and
    the images are shared: the pairing. Two classes of one run share the seeds and not the images: the same
    formula with the roles of seeds and images swapped.
  * Many claims are one family: `holm` adjusts their p-values; `detectable_difference` is the smallest true
    difference found with 80 % power at a given α; `equivalence_p` is the two one-sided tests (TOST).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from lab_utils.errors import ConfigError

LEVEL = 0.95
ALPHA = 1 - LEVEL  # familywise, after Holm
POWER = 0.80  # for the detectable difference

# The words of every outcome, in one place. A test (in the Holm family) ends in one of OUTCOMES; a check without a
# test (curves, timings) in one of CHECK_OUTCOMES, reported apart; a claim whose premise is absent is NOT_CHECKED.
REPRODUCED = "reproduced"
CONTRADICTED = "contradicted"
RULES_OUT = "rules out the report's effect"
UNDERPOWERED = "inconclusive — underpowered"
OUTCOMES = (REPRODUCED, CONTRADICTED, RULES_OUT, UNDERPOWERED)
HOLDS, DOES_NOT_HOLD, UNCLEAR = "holds", "does not hold", "unclear"
CHECK_OUTCOMES = (HOLDS, DOES_NOT_HOLD, UNCLEAR)
NOT_CHECKED = "not checked"

MCNEMAR = "exact McNemar"
SEEDS_T = "t over seeds × images"
SCORE = "score test, Newcombe interval"


@dataclass(frozen=True)
class Accuracy:
    """An accuracy (fractions) over seeds, with its interval."""

    mean: float
    std: float  # across seeds (ddof 1); 0.0 for one seed
    n_seeds: int
    n_images: int
    low: float
    high: float
    method: str


@dataclass(frozen=True)
class Difference:
    """A minus b in percentage points, with its interval, two-sided p, standard error and degrees of freedom."""

    points: float
    low: float
    high: float
    p: float
    test: str
    n_seeds: tuple[int, int]
    se: float = math.nan  # points; under the null for McNemar
    df: float = math.inf  # inf = a normal reference

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.low > 0 or self.high < 0

    @property
    def seeds_as_unit(self) -> bool:
        """Several seeds on both sides: a statement about the methods, not about two trained models."""
        return min(self.n_seeds) >= 2


def _matrix(per_seed: Sequence[np.ndarray], what: str) -> np.ndarray:
    """Seeds × images boolean matrix; refuses empty, ragged or non-boolean input with the fix named."""
    arrays = [np.asarray(a) for a in per_seed]
    if not arrays or any(a.ndim != 1 or a.size == 0 for a in arrays):
        raise ConfigError(f"{what}: give one non-empty 1-D array of per-image correctness per seed")
    if len({a.size for a in arrays}) > 1:
        raise ConfigError(
            f"{what}: seeds have {sorted({a.size for a in arrays})} images; every seed must be "
            "evaluated on the same test images, in the same order"
        )
    for a in arrays:
        if a.dtype != bool and not np.isin(a, (0, 1)).all():
            raise ConfigError(f"{what}: per-image correctness must be booleans (y_pred == y_true), got {a.dtype}")
    return np.stack(arrays).astype(bool)


def correct_per_seed(predictions: Sequence[Sequence[int]], y_true: Sequence[int]) -> list[np.ndarray]:
    """Per-image correctness of each seed's predicted classes (e.g. RunRecord.test_predictions) against the test
    labels; a seed predicted on another number of images is refused, since it cannot be paired image by image."""
    y = np.asarray(y_true).ravel()
    out = []
    for seed, predicted in enumerate(predictions):
        predicted = np.asarray(predicted).ravel()
        if predicted.shape != y.shape:
            raise ConfigError(
                f"seed {seed}: {predicted.size} predictions for {y.size} test labels; evaluate every "
                "seed on the same test images (the whole test set, or the same fixed subsample)"
            )
        out.append(predicted == y)
    return out


def _check_count(correct: int, n: int, what: str) -> None:
    whole = isinstance(n, (int, np.integer)) and isinstance(correct, (int, np.integer))
    if not (whole and n > 0 and 0 <= correct <= n):
        raise ConfigError(f"{what}({correct!r}, {n!r}): need whole numbers with 0 <= correct <= n and n > 0")


def wilson_interval(correct: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval for `correct` of `n`: keeps its coverage near 0 % and 100 %, where the normal one fails."""
    _check_count(correct, n, "wilson_interval")
    ci = stats.binomtest(int(correct), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def newcombe_interval(a: tuple[int, int], b: tuple[int, int], level: float = LEVEL) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p_a - p_b of two independent (correct, total) counts (Newcombe 1998,
    method 10): built from the two Wilson intervals, so it stays inside [-1, 1] near 0 % and 100 %."""
    (la, ua), (lb, ub) = wilson_interval(*a, level), wilson_interval(*b, level)
    pa, pb = a[0] / a[1], b[0] / b[1]
    return (pa - pb - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2), pa - pb + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2))


def proportion_difference(a: tuple[int, int], b: tuple[int, int], level: float = LEVEL) -> Difference:
    """(correct, total) a minus b on different images (two classes of one model): pooled score test, Newcombe
    interval, in points."""
    _check_count(*a, "proportion_difference")
    _check_count(*b, "proportion_difference")
    pa, pb = a[0] / a[1], b[0] / b[1]
    pooled = (a[0] + b[0]) / (a[1] + b[1])
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / a[1] + 1 / b[1]))
    p = 1.0 if se0 == 0 else float(2 * stats.norm.sf(abs(pa - pb) / se0))
    low, high = newcombe_interval(a, b, level)
    se = math.sqrt(pa * (1 - pa) / a[1] + pb * (1 - pb) / b[1])
    if se == 0:  # both at 0 % or 100 %: the power of a test that has seen no errors, from (c + 1/2) / (n + 1)
        ta, tb = (a[0] + 0.5) / (a[1] + 1), (b[0] + 0.5) / (b[1] + 1)
        se = math.sqrt(ta * (1 - ta) / a[1] + tb * (1 - tb) / b[1])
    return Difference(100 * (pa - pb), 100 * low, 100 * high, p, SCORE, (1, 1), 100 * se)


def _mcnemar(a: np.ndarray, b: np.ndarray, level: float) -> Difference:
    """Exact McNemar on one seed each, with the Clopper-Pearson interval of the same binomial, in points."""
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n, discordant = a.size, a_only + b_only
    se = 100 * math.sqrt(max(discordant, 1)) / n  # under the null; one discordant image at least, for the power
    if discordant == 0:  # identical predictions: no evidence either way
        return Difference(0.0, 0.0, 0.0, 1.0, MCNEMAR, (1, 1), se)
    test = stats.binomtest(a_only, discordant, 0.5)
    ci = test.proportion_ci(confidence_level=level, method="exact")
    scale = 100 * discordant / n  # share of a among the discordant images -> difference in points
    return Difference(
        100 * (a_only - b_only) / n,
        scale * (2 * ci.low - 1),
        scale * (2 * ci.high - 1),
        float(test.pvalue),
        MCNEMAR,
        (1, 1),
        se,
    )


def _interaction(m: np.ndarray) -> np.ndarray:
    """Residual mean square of a (..., rows, columns) two-way layout without replication: the interaction."""
    k, n = m.shape[-2:]
    resid = m - m.mean(-1, keepdims=True) - m.mean(-2, keepdims=True) + m.mean((-2, -1), keepdims=True)
    return (resid**2).sum((-2, -1)) / ((k - 1) * (n - 1))


def crossed_difference(a: np.ndarray, b: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of `a` minus mean of `b`, its variance and Satterthwaite's degrees of freedom (fractions).

    `a` (..., ka, n) and `b` (..., kb, n): rows independent between a and b (seeds), columns paired (images); b None
    is a single run. Leading axes are batches (the simulation test). Rows of one matrix are crossed with its
    columns; the variance of the grand mean is  σ²_row/k + σ²_col/n + σ²_row×col/(k n)  per matrix, the column
    part taken on the paired difference. Each component is estimated from the mean squares and floored at zero.
    """
    a = np.asarray(a, dtype=np.float64)
    parts = [(a, 1.0)] + ([(np.asarray(b, dtype=np.float64), -1.0)] if b is not None else [])
    n = a.shape[-1]
    point = sum(s * m.mean((-2, -1)) for m, s in parts)
    column = sum(s * m.mean(-2) for m, s in parts).var(-1, ddof=1) / n
    var, dfs, inter_total = 0.0, [(column, n - 1)], 0.0
    for m, _ in parts:
        k = m.shape[-2]
        if k < 2:
            continue
        row = m.mean(-1).var(-1, ddof=1) / k
        inter = _interaction(m) / (k * n)
        var = var + np.maximum(row - inter, 0) + inter
        inter_total = inter_total + inter
        dfs += [(row, k - 1), (inter, (k - 1) * (n - 1))]
    var = var + np.maximum(column - inter_total, 0)
    var = np.where(var > 0, var, (1.0 / (a.shape[-2] * n)) ** 2)  # no spread at all: one image of one seed's worth
    spread = sum(np.square(t) / d for t, d in dfs)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(spread > 0, var**2 / np.where(spread > 0, spread, 1.0), np.inf)  # no spread: normal
    return point, var, np.maximum(df, 1.0)


def _t_difference(point: float, var: float, df: float, n_seeds: tuple[int, int], level: float) -> Difference:
    se = math.sqrt(var)
    half = float(stats.t.ppf(1 - (1 - level) / 2, df)) * se
    p = float(2 * stats.t.sf(abs(point) / se, df))
    return Difference(100 * point, 100 * (point - half), 100 * (point + half), p, SEEDS_T, n_seeds, 100 * se, df)


def accuracy_interval(correct_per_seed: Sequence[np.ndarray], level: float = LEVEL) -> Accuracy:
    """Mean accuracy over seeds with a `level` interval: Wilson for one seed, the crossed t for several."""
    m = _matrix(correct_per_seed, "accuracy_interval")
    per_seed = m.mean(axis=1)
    if len(m) == 1:
        low, high = wilson_interval(int(m.sum()), m.shape[1], level)
        return Accuracy(float(per_seed[0]), 0.0, 1, m.shape[1], low, high, "Wilson")
    point, var, df = (float(x) for x in crossed_difference(m))
    half = float(stats.t.ppf(1 - (1 - level) / 2, df)) * math.sqrt(var)
    return Accuracy(
        point, float(per_seed.std(ddof=1)), len(m), m.shape[1], max(0.0, point - half), min(1.0, point + half), SEEDS_T
    )


def paired_difference(a: Sequence[np.ndarray], b: Sequence[np.ndarray], level: float = LEVEL) -> Difference:
    """Accuracy of a minus b on the same test images (one boolean array per seed each), tested.

    Both with several seeds: the crossed t (a method claim). Otherwise exact McNemar on each run's first seed:
    a statement about two trained models (a single seed has no seed variance to measure).
    """
    ma, mb = _matrix(a, "paired_difference: a"), _matrix(b, "paired_difference: b")
    if ma.shape[1] != mb.shape[1]:
        raise ConfigError(
            f"paired_difference: a has {ma.shape[1]} images and b {mb.shape[1]}; a paired test "
            "needs both runs evaluated on the same test images"
        )
    if min(len(ma), len(mb)) == 1:
        return _mcnemar(ma[0], mb[0], level)
    point, var, df = (float(x) for x in crossed_difference(ma, mb))
    return _t_difference(point, var, df, (len(ma), len(mb)), level)


def class_difference(a: np.ndarray, b: np.ndarray, level: float = LEVEL) -> Difference:
    """Accuracy on images `a` minus images `b` (seeds × images boolean matrices of the same seeds, different
    images: two classes of one run). Seeds are the clusters: paired across the two, images independent. One seed:
    the score test and Newcombe's interval."""
    a, b = np.atleast_2d(np.asarray(a, bool)), np.atleast_2d(np.asarray(b, bool))
    if a.shape[0] != b.shape[0] or 0 in a.shape or 0 in b.shape:
        raise ConfigError(f"class_difference: {a.shape} and {b.shape}: the same seeds and some images on each side")
    if len(a) == 1:
        return proportion_difference((int(a.sum()), a.size), (int(b.sum()), b.size), level)
    if min(a.shape[1], b.shape[1]) < 2:
        raise ConfigError("class_difference: need two images or more per class with several seeds")
    point, var, df = (float(x) for x in crossed_difference(a.T, b.T))  # images as the independent rows
    return _t_difference(point, var, df, (len(a), len(b)), level)


def one_sample(d: np.ndarray, level: float = LEVEL) -> Difference:
    """Mean of a seeds × images matrix of paired per-image differences (e.g. is-this-confusion minus
    is-that-confusion), tested against zero; seeds and images crossed (one seed: a t over the images)."""
    d = np.atleast_2d(np.asarray(d, dtype=np.float64))
    if d.shape[-1] < 2:
        raise ConfigError("one_sample: need two images or more")
    point, var, df = (float(x) for x in crossed_difference(d))
    return _t_difference(point, var, df, (len(d), len(d)), level)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (familywise error), in the input order."""
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1 or np.any((p < 0) | (p > 1)) or np.isnan(p).any():
        raise ConfigError(f"holm: p-values must be numbers in [0, 1], got {pvalues!r}")
    order = np.argsort(p, kind="stable")
    m = len(p)
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order]) if m else p
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def detectable_difference(se: float, df: float = math.inf, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest true difference a two-sided level-`alpha` test of standard error `se` finds with `power`:
    the noncentral t (or normal, df = inf) solved for its noncentrality."""
    if not (se > 0 and 0 < alpha < 1 and 0 < power < 1):
        raise ConfigError(f"detectable_difference(se={se!r}, alpha={alpha!r}, power={power!r}): need se > 0")
    if math.isinf(df):
        crit = stats.norm.ppf(1 - alpha / 2)
        reach = lambda nc: stats.norm.sf(crit - nc) + stats.norm.cdf(-crit - nc)  # noqa: E731
    else:  # the noncentral t's tails, averaged over chi-square quantiles (scipy's nct returns NaN far out)
        crit = stats.t.ppf(1 - alpha / 2, df)
        scale = crit * np.sqrt(stats.chi2.ppf((np.arange(4000) + 0.5) / 4000, df) / df)

        def reach(nc: float) -> float:
            fast = stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)
            if np.isfinite(fast):
                return float(fast)
            return float(np.mean(stats.norm.sf(scale - nc) + stats.norm.cdf(-scale - nc)))

    if reach(0.0) >= power:
        return 0.0
    high = 1.0
    while reach(high) < power:
        high *= 2
    return se * float(optimize.brentq(lambda nc: reach(nc) - power, 0.0, high, xtol=1e-10))


def equivalence_p(diff: Difference, margin: float) -> float:
    """TOST p that |a - b| < `margin` points: the larger of the two one-sided p-values, on the test's se and df."""
    if not margin > 0:
        raise ConfigError(f"equivalence margin {margin!r}: need a positive number of points")
    dist = stats.norm if math.isinf(diff.df) else stats.t(diff.df)
    return float(max(dist.sf((diff.points + margin) / diff.se), dist.sf((margin - diff.points) / diff.se)))


def equivalence_margin(se: float, df: float = math.inf, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest margin TOST shows with `power` when the true difference is zero (normal approximation on df)."""
    dist = stats.norm if math.isinf(df) else stats.t(df)
    return se * float(dist.ppf(1 - alpha) + dist.ppf(1 - (1 - power) / 2))


def format_p(p: float) -> str:
    """Three decimals, two significant digits below 0.001, "< 0.0001" below that (never a printed 0)."""
    if not 0 <= p <= 1:
        raise ConfigError(f"format_p({p!r}): not a probability")
    if p < 1e-4:
        return "< 0.0001"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"
