"""The evidence a claim reads, a claim's shape, and the rules of the claims that are not plain accuracy pairs.

lab_utils.report.claims lists the claims (the catalogue); this module holds what they are judged with: the
per-seed `Evidence`, the premise test ("not checked" with the reason), the paired accuracy rule, the class rules
(fixed rivals, seeds as clusters) and the curve and timing checks (lab_utils.report.curve_checks), reported apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lab_utils.errors import ConfigError
from lab_utils.report import curve_checks as curves
from lab_utils.report import stats
from lab_utils.report.stats import NOT_CHECKED
from lab_utils.report.tables import format_spread
from lab_utils.report.verdicts import CHECK, Pair, Tested, Verdict
from lab_utils.training.records import RunRecord

FIG8_RUN = "cifar_vgg_bn"  # Fig. 8: VGG blocks + dropout + batch norm, no augmentation
FS = "_flip_shift"  # the augmentation preset the paper kept (Table III)


@dataclass(frozen=True)
class Evidence:
    """Everything the rules read: per-seed records by run name (config "experiment"), test labels by dataset."""

    runs: Mapping[str, Sequence[RunRecord]]
    labels: Mapping[str, np.ndarray]
    class_names: Sequence[str] = ()
    best_run: str | None = None  # the augmented run validation picked (Fig. 11)

    def records(self, name: str) -> Sequence[RunRecord]:
        return self.runs.get(name) or ()

    def lacking(self, names: Sequence[str]) -> list[str]:
        """The names without usable runs: absent, diverged (a NaN accuracy) or without test predictions."""

        def usable(n: str) -> bool:
            rs = self.records(n)
            return bool(rs) and all(math.isfinite(float(r.test_accuracy)) and r.test_predictions for r in rs)

        return [n for n in names if not usable(n)]

    def y(self, name: str) -> np.ndarray:
        dataset = self.records(name)[0].dataset.get("name", "cifar10")
        if dataset not in self.labels:
            raise ConfigError(f"{name}: no test labels for dataset {dataset!r}; pass labels={{{dataset!r}: y_test}}")
        return np.asarray(self.labels[dataset]).ravel()

    def predicted(self, name: str) -> np.ndarray:
        """Seeds × images predicted classes (the seeds' test sets must agree, see stats.correct_per_seed)."""
        y = self.y(name)
        stats.correct_per_seed([r.test_predictions for r in self.records(name)], y)
        return np.stack([np.asarray(r.test_predictions).ravel() for r in self.records(name)])

    def correct(self, name: str) -> np.ndarray:
        return self.predicted(name) == self.y(name)


@dataclass(frozen=True)
class Claim:
    """A claim of the report: its words, and either accuracy pairs (run, baseline, sign, report's points) or a rule."""

    name: str
    claim: str
    source: str
    paper: str
    pairs: tuple[tuple[str, str, int, float | None], ...] = ()
    margin: float | None = None  # equivalence: |difference| within this many points
    rule: Callable[[Claim, Evidence], Verdict | Tested] | None = None

    def verdict(self, status: str, evidence: str, kind: str = "") -> Verdict:
        return Verdict(self.name, self.claim, self.source, self.paper, status, evidence, kind)

    def not_checked(self, why: str) -> Verdict:
        return self.verdict(NOT_CHECKED, why)


def _random_bases(ev: Evidence, names: Sequence[str]) -> list[str]:
    """Transfer runs whose base did not start from ImageNet weights."""
    return [
        n
        for n in dict.fromkeys(names)
        for r in ev.records(n)[:1]
        if r.config.get("architecture") == "transfer"
        and (r.config.get("model_kwargs") or {}).get("weights") != "imagenet"
    ]


def _premise(ev: Evidence, names: Sequence[str]) -> str | None:
    """Why a claim on these runs cannot be checked, or None."""
    lacking = ev.lacking(list(dict.fromkeys(names)))
    if lacking:
        return "missing: " + ", ".join(lacking)
    random = _random_bases(ev, names)
    if random:
        return f"random transfer bases ({', '.join(random)}), not the report's ImageNet weights"
    return None


def _accuracy_words(name: str, correct: np.ndarray) -> str:
    acc = 100 * correct.mean(axis=1)
    return f"{name} {format_spread(float(acc.mean()), float(acc.std(ddof=1)) if len(acc) > 1 else 0.0, len(acc))}"


def _pairs(c: Claim, ev: Evidence) -> Verdict | Tested:
    """An accuracy claim: every pair tested on the same test images."""
    why = _premise(ev, [n for run, base, *_ in c.pairs for n in (run, base)])
    if why:
        return c.not_checked(why)
    pairs = tuple(
        Pair(run, base, sign, report, stats.paired_difference(ev.correct(run), ev.correct(base)))
        for run, base, sign, report in c.pairs
    )
    if len(pairs) == 1:
        run, base = pairs[0].run, pairs[0].baseline
        return Tested(
            pairs, f"{_accuracy_words(run, ev.correct(run))} vs {_accuracy_words(base, ev.correct(base))}", c.margin
        )
    return Tested(pairs, "; ".join(q.words() for q in pairs), c.margin)


def _classes(ev: Evidence, names: Sequence[str]) -> list[int] | str:
    missing = [n for n in names if n not in ev.class_names]
    if missing:
        return f"no {', '.join(map(repr, missing))} class"
    return [list(ev.class_names).index(n) for n in names]


def cat_is_hardest(c: Claim, ev: Evidence) -> Verdict | Tested:
    """V-B.2, Fig. 8: cat below each of the next two classes the report names, bird and dog (fixed in advance);
    seeds paired across classes, images independent (stats.class_difference)."""
    why = _premise(ev, [FIG8_RUN])
    idx = why or _classes(ev, ("cat", "bird", "dog"))
    if isinstance(idx, str):
        return c.not_checked(idx)
    correct, y = ev.correct(FIG8_RUN), ev.y(FIG8_RUN)
    cols = [y == i for i in idx]
    if not all(col.sum() >= 2 for col in cols):
        return c.not_checked("fewer than two test images of cat, bird or dog")
    pairs = tuple(
        Pair("cat", rival, -1, None, stats.class_difference(correct[:, cols[0]], correct[:, col]))
        for rival, col in zip(("bird", "dog"), cols[1:], strict=True)
    )
    named = zip(("cat", "bird", "dog"), cols, strict=True)
    words = ", ".join(f"{n} {100 * correct[:, col].mean():.1f} %" for n, col in named)
    return Tested(pairs, f"{FIG8_RUN}: {words}")


def _confusion_share(c: Claim, ev: Evidence, pair: tuple[str, str], rival: tuple[str, str] | None) -> Verdict | Tested:
    """Per image: is it a `pair` confusion (either way), minus a `rival` one; without a rival, minus the pair's
    errors into the other classes divided by their number (a typical other class). One t over seeds × images."""
    why = _premise(ev, [FIG8_RUN])
    idx = why or _classes(ev, (*pair, *(rival or ())))
    if isinstance(idx, str):
        return c.not_checked(idx)
    p, y = ev.predicted(FIG8_RUN), ev.y(FIG8_RUN)
    i, j = idx[:2]
    ours = ((y == i) & (p == j)) | ((y == j) & (p == i))
    if rival:
        k, m = idx[2:]
        other, scope, baseline = ((y == k) & (p == m)) | ((y == m) & (p == k)), np.ones_like(y, bool), "↔".join(rival)
    else:  # the pair's errors into the other classes, as one typical other class
        scope = (y == i) | (y == j)
        other = (p != y) & ~ours
        other = other / (len(ev.class_names) - 2)
        baseline = "a typical other class"
    d = (ours.astype(float) - other)[:, scope]
    diff = stats.one_sample(d)
    name = "↔".join(pair)
    of = "the test images" if rival else "their images"
    return Tested(
        (Pair(name, baseline, 1, None, diff),),
        f"{FIG8_RUN}: {name} {100 * ours[:, scope].mean():.2f} % vs "
        f"{baseline} {100 * np.asarray(other)[:, scope].mean():.2f} % of {of}",
    )


def cats_dogs_confused(c: Claim, ev: Evidence) -> Verdict | Tested:
    """V-B.2, Fig. 8: cat ↔ dog mistakes outnumber those of the other pair the report names, automobile ↔ truck."""
    return _confusion_share(c, ev, ("cat", "dog"), ("automobile", "truck"))


def automobile_truck_confused(c: Claim, ev: Evidence) -> Verdict | Tested:
    """V-B.2: automobile and truck images are mistaken for each other more than for a typical other class."""
    return _confusion_share(c, ev, ("automobile", "truck"), None)


def augmentation_helps_cats(c: Claim, ev: Evidence) -> Verdict | Tested:
    """V-B.4, Figs. 8, 11: on the same cat images, the VGG-block model with batch norm against its flip + shift
    twin (one architecture; the report's 68 → 76 % compares two, so its number is not the test's)."""
    run, base = FIG8_RUN + FS, FIG8_RUN
    why = _premise(ev, [run, base])
    idx = why or _classes(ev, ("cat",))
    if isinstance(idx, str):
        return c.not_checked(idx)
    cats = ev.y(base) == idx[0]
    a, b = ev.correct(run)[:, cats], ev.correct(base)[:, cats]
    pair = Pair(run, base, 1, None, stats.paired_difference(list(a), list(b)))
    return Tested((pair,), f"cats correct: {_accuracy_words(base, b)} → {_accuracy_words(run, a)}")


def _check(c: Claim, names: Sequence[str], ev: Evidence, result: tuple[str, str] | None, short: str) -> Verdict:
    lacking = ev.lacking(names) if names else []
    if lacking or result is None:
        return c.not_checked("missing: " + ", ".join(lacking) if lacking else short)
    return c.verdict(*result, kind=CHECK)


def simple_cnn_overfits(c: Claim, ev: Evidence) -> Verdict:
    """V-B.1, Fig. 7a (check): most seeds' validation loss turns up by more than its own noise."""
    return _check(
        c,
        ["cifar_simple_cnn"],
        ev,
        curves.overfits(ev.records("cifar_simple_cnn")),
        f"curves shorter than {curves.MIN_EPOCHS} epochs",
    )


def dropout_delays_overfitting(c: Claim, ev: Evidence) -> Verdict:
    """V-B.1, Fig. 7c (check): dropout's curves turn later, or not at all though they stopped early."""
    names = ["cifar_simple_cnn", "cifar_simple_cnn_dropout"]
    return _check(
        c, names, ev, curves.delays(*(ev.records(n) for n in names)), f"curves shorter than {curves.MIN_EPOCHS} epochs"
    )


def early_stopping_ends_training(c: Claim, ev: Evidence) -> Verdict:
    """V-B.4, Fig. 10 (check): most runs whose budget leaves room to stop did stop."""
    return _check(c, [], ev, curves.early_stopping(ev.runs), "no run's epoch budget exceeds patience + 1")


def augmentation_slows_training(c: Claim, ev: Evidence) -> Verdict:
    """VI (check): seconds per epoch of the VGG blocks with and without flip + shift, as a ratio (27 / 6 s)."""
    run, base = "cifar_vgg" + FS, "cifar_vgg"
    lacking = ev.lacking([run, base])
    why = "missing: " + ", ".join(lacking) if lacking else curves.timing_premise(ev.records(run), ev.records(base))
    if why:
        return c.not_checked(why)
    return c.verdict(*curves.slowdown(ev.records(run), ev.records(base), 27 / 6), kind=CHECK)


def augmented_vgg19_best(c: Claim, ev: Evidence) -> Verdict | Tested:
    """V-B.4, Table III: augmented VGG19 + Adam + BN above every other augmented model but its twin without BN
    (0.1 points apart in the report, which does not call that a difference)."""
    result = _pairs(c, ev)
    if isinstance(result, Tested) and ev.best_run:
        result = Tested(result.pairs, result.evidence + f"; validation picked {ev.best_run}")
    return result


def judge_claim(c: Claim, ev: Evidence) -> tuple[Verdict, Tested | None]:
    """A claim's blank verdict and its tests (None: a check, or not checked, already decided)."""
    result = (c.rule or _pairs)(c, ev)
    if isinstance(result, Tested):
        return c.verdict(NOT_CHECKED, ""), result
    return result, None
