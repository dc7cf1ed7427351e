"""Uncertainty for the report's numbers: intervals on accuracies and tests on paired differences.

Inputs are per-image correctness, one boolean array per seed, aligned over the same test images. Two sources of
noise are in play (Bouthillier et al., MLSys 2021): which test images were drawn, and which seed trained the
model. One seed can only speak to the first; several seeds speak to both.

Rules, kept in one place:
  * One seed: Wilson interval for an accuracy; exact McNemar test (two-sided binomial on the discordant images)
    for a difference, with the interval that inverts the same test (Clopper-Pearson on the discordant split,
    as a difference in points). A paired image bootstrap would be the other choice; it can disagree with the
    exact p near 0.05, this interval cannot.
  * Several seeds: a bootstrap over seeds and images. Seeds and images are crossed (every seed sees every
    image), so each resample draws images once, shared by all seeds and both runs (the pairing), and seeds of
    each run independently (seed i of one network has nothing in common with seed i of another).
    Percentile interval; p is twice the smaller tail, so p < 0.05 exactly when the interval excludes zero.
  * Counts whose images cannot be paired (two classes of a confusion matrix): a bootstrap of two independent
    binomials, same interval and p.
  * The interval decides a verdict (`judge`); p is reported beside it and agrees with it by construction
    (Clopper-Pearson inverts the same two-sided binomial test McNemar's p comes from).
Resampling n seeds understates their variance by a factor (n - 1) / n, a third for n = 3: more seeds, not a
cleverer interval, is the cure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from lab_utils.errors import ConfigError

LEVEL = 0.95
RESAMPLES = 4000  # Monte Carlo error on a bootstrap p near 0.05: about ±0.0035
SEED = 0  # fixed, so the same predictions give byte-identical tables
_CHUNK = 250  # resamples per vectorised batch: about 40 MB for 10,000 test images

MCNEMAR = "exact McNemar"
HIERARCHICAL = "hierarchical bootstrap"
UNPAIRED = "bootstrap, unpaired"
OUTCOMES = ("reproduced", "inconclusive", "contradicted")


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
    """Accuracy of a minus accuracy of b, in percentage points, with its interval and two-sided p."""

    points: float
    low: float
    high: float
    p: float
    test: str
    n_seeds: tuple[int, int]

    @property
    def significant(self) -> bool:
        """The interval excludes zero (the rule's p is below 1 - LEVEL with it)."""
        return self.low > 0 or self.high < 0


def _matrix(per_seed: Sequence[np.ndarray], what: str) -> np.ndarray:
    """Seeds × images boolean matrix; refuses empty, ragged or non-boolean input with the fix named."""
    arrays = [np.asarray(a) for a in per_seed]
    if not arrays or any(a.ndim != 1 or a.size == 0 for a in arrays):
        raise ConfigError(f"{what}: give one non-empty 1-D array of per-image correctness per seed")
    if len({a.size for a in arrays}) > 1:
        raise ConfigError(f"{what}: seeds have {sorted({a.size for a in arrays})} images; every seed must be "
                          "evaluated on the same test images, in the same order")
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
            raise ConfigError(f"seed {seed}: {predicted.size} predictions for {y.size} test labels; evaluate every "
                              "seed on the same test images (a smoke profile's test subsample depends on the seed)")
        out.append(predicted == y)
    return out


def wilson_interval(correct: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval for `correct` of `n`: keeps its coverage near 0 % and 100 %, where the normal one fails."""
    if not (isinstance(n, (int, np.integer)) and n > 0 and 0 <= correct <= n):
        raise ConfigError(f"wilson_interval({correct!r}, {n!r}): need 0 <= correct <= n and n > 0")
    ci = stats.binomtest(int(correct), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def _bootstrap(*matrices: np.ndarray, resamples: int = RESAMPLES) -> np.ndarray:
    """Resampled mean accuracies (resamples × runs): images drawn once per resample and shared by the runs,
    seeds drawn per run. Counts are whole numbers in float64, so the sums are exact whatever the BLAS."""
    rng = np.random.default_rng(SEED)
    n = matrices[0].shape[1]
    stacked = np.concatenate(matrices).astype(np.float64)  # every seed of every run × images
    bounds = np.cumsum([0] + [len(m) for m in matrices])
    # Seeds are drawn run by run in an order set by the data, not the arguments: swapping a and b then
    # mirrors the resamples exactly, and paired_difference(b, a) is -paired_difference(a, b).
    order = sorted(range(len(matrices)), key=lambda i: (matrices[i].shape, np.packbits(matrices[i]).tobytes()))
    out = np.empty((resamples, len(matrices)))
    for start in range(0, resamples, _CHUNK):
        r = min(_CHUNK, resamples - start)
        draws = rng.integers(0, n, size=(r, n)) + n * np.arange(r)[:, None]
        weights = np.bincount(draws.ravel(), minlength=r * n).reshape(r, n).astype(np.float64)
        counts = weights @ stacked.T  # correct answers of each seed on each resampled test set
        for i in order:
            k = len(matrices[i])
            seeds = rng.integers(0, k, size=(r, k))
            run = counts[:, bounds[i]:bounds[i + 1]]
            out[start:start + r, i] = np.take_along_axis(run, seeds, axis=1).sum(axis=1) / (k * n)
    return out


def _percentile(samples: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval, inverted-CDF quantiles from both ends so `_tail_p` < 1 - level iff it excludes zero."""
    tail = (1 - level) / 2
    low = np.quantile(samples, tail, method="inverted_cdf")
    high = -np.quantile(-samples, tail, method="inverted_cdf")
    return float(low), float(high)


def _tail_p(samples: np.ndarray) -> float:
    """Two-sided bootstrap p: twice the share of resamples on the far side of zero."""
    return float(min(1.0, 2 * min(np.mean(samples <= 0), np.mean(samples >= 0))))


def accuracy_interval(correct_per_seed: Sequence[np.ndarray], level: float = LEVEL) -> Accuracy:
    """Mean accuracy over seeds with a `level` interval: Wilson for one seed, hierarchical bootstrap for several."""
    m = _matrix(correct_per_seed, "accuracy_interval")
    per_seed = m.mean(axis=1)
    std = float(per_seed.std(ddof=1)) if len(m) > 1 else 0.0
    if len(m) == 1:
        low, high = wilson_interval(int(m.sum()), m.shape[1], level)
        return Accuracy(float(per_seed[0]), std, 1, m.shape[1], low, high, "Wilson")
    low, high = _percentile(_bootstrap(m)[:, 0], level)
    return Accuracy(float(per_seed.mean()), std, len(m), m.shape[1], low, high, HIERARCHICAL)


def _mcnemar(a: np.ndarray, b: np.ndarray, level: float) -> Difference:
    """Exact McNemar on one seed each, with the Clopper-Pearson interval of the same binomial, in points."""
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n, discordant = a.size, a_only + b_only
    if discordant == 0:  # identical predictions: no evidence either way
        return Difference(0.0, 0.0, 0.0, 1.0, MCNEMAR, (1, 1))
    test = stats.binomtest(a_only, discordant, 0.5)
    ci = test.proportion_ci(confidence_level=level, method="exact")
    scale = 100 * discordant / n  # share of a among the discordant images -> difference in points
    return Difference(100 * (a_only - b_only) / n, scale * (2 * ci.low - 1), scale * (2 * ci.high - 1),
                      float(test.pvalue), MCNEMAR, (1, 1))


def paired_difference(a: Sequence[np.ndarray], b: Sequence[np.ndarray], level: float = LEVEL) -> Difference:
    """Accuracy of a minus b on the same test images (one boolean array per seed each), tested.

    Exact McNemar when both have one seed, the hierarchical bootstrap otherwise (see the module docstring).
    """
    ma, mb = _matrix(a, "paired_difference: a"), _matrix(b, "paired_difference: b")
    if ma.shape[1] != mb.shape[1]:
        raise ConfigError(f"paired_difference: a has {ma.shape[1]} images and b {mb.shape[1]}; a paired test "
                          "needs both runs evaluated on the same test images")
    if len(ma) == len(mb) == 1:
        return _mcnemar(ma[0], mb[0], level)
    samples = _bootstrap(ma, mb)
    diff = 100 * (samples[:, 0] - samples[:, 1])
    low, high = _percentile(diff, level)
    point = 100 * (ma.mean() - mb.mean())
    return Difference(float(point), low, high, _tail_p(diff), HIERARCHICAL, (len(ma), len(mb)))


def proportion_difference(a: tuple[int, int], b: tuple[int, int], level: float = LEVEL) -> Difference:
    """Accuracy a minus b from (correct, total) counts on different or unmatched images, such as two classes of
    a confusion matrix: a bootstrap of two independent binomials, percentile interval and tail p as above.
    Ignoring a pairing that exists only widens the interval."""
    for k, n in (a, b):
        if not (isinstance(n, (int, np.integer)) and n > 0 and 0 <= k <= n):
            raise ConfigError(f"proportion_difference: ({k!r}, {n!r}) is not (correct, total) with 0 <= correct <= total")
    rng = np.random.default_rng(SEED)
    draws = [np.empty(RESAMPLES), np.empty(RESAMPLES)]
    for i in sorted((0, 1), key=lambda i: (a, b)[i]):  # drawn in the counts' order: swapping a and b mirrors
        k, n = (a, b)[i]
        draws[i] = rng.binomial(n, k / n, RESAMPLES) / n
    diff = 100 * (draws[0] - draws[1])
    low, high = _percentile(diff, level)
    return Difference(100 * (a[0] / a[1] - b[0] / b[1]), low, high, _tail_p(diff), UNPAIRED, (1, 1))


def judge(diff: Difference, expected_sign: int) -> str:
    """"reproduced" (significant in the paper's direction), "contradicted" (significant the other way) or
    "inconclusive". The interval decides, so a verdict never rests on a point estimate alone."""
    if expected_sign not in (1, -1):
        raise ConfigError(f"expected_sign={expected_sign!r}: use +1 (a beats b) or -1 (a loses to b)")
    if not diff.significant:
        return "inconclusive"
    return "reproduced" if (diff.low > 0) == (expected_sign > 0) else "contradicted"
