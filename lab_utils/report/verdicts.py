"""From tests to verdicts: one Holm family per run, four outcomes, the detectable difference, and the tally.

A claim's rule (lab_utils.report.claims) hands over a `Tested`: one or more `Pair`s (run vs baseline, the sign
the report expects, the report's own difference) with their paired tests; or a finished `Verdict` for a check
without a test (curves, timings) or a claim that was not checked. `decide` turns all of them into verdicts.

Judgement calls, kept in one place:
  * One p per tested claim, one family per run: Holm over every tested claim (`stats.holm`); the verdict reads
    the adjusted p at α = 0.05. Checks and unchecked claims are not in the family, nor in the tally of tests.
  * Several pairs in one claim ("all rose"): intersection-union. The claim's p is the largest p of its pairs when
    every pair goes the report's way (reproduced only if each pair is); otherwise the smallest p of the pairs that
    go the other way, times their number (Bonferroni), so one stray pair out of five cannot contradict a claim.
  * Equivalence claims ("no significant effect", "on the level of"): two one-sided tests against ±EQUIVALENCE
    points, combined the same way; contradicted when a pair lies beyond the margin.
  * Outcomes (stats.OUTCOMES): reproduced / contradicted by the adjusted p; otherwise "rules out the report's
    effect" when a pair's 95 % interval lies on the zero side of the report's difference, else "inconclusive —
    underpowered", with the smallest difference the test finds with 80 % power at α / m (m tests: Holm's strictest
    step) beside it.
  * One seed tests two trained models, not a method: those verdicts say "these two models" and are tallied apart.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import metadata

from scipy import stats as sps

from lab_utils import settings
from lab_utils.report import stats
from lab_utils.report.stats import (
    ALPHA,
    CHECK_OUTCOMES,
    CONTRADICTED,
    NOT_CHECKED,
    OUTCOMES,
    REPRODUCED,
    RULES_OUT,
    UNDERPOWERED,
    Difference,
    format_p,
)
from lab_utils.report.tables import markdown_table

EQUIVALENCE = 2.0  # points: the report calls +2.53 a gain and 1.28 "on the level"; within ±2 reads as "no effect"
TEST, CHECK = "test", "check"


@dataclass(frozen=True)
class Pair:
    """One comparison of a claim: `run` minus `baseline`, expected sign (+1, -1; 0 = equivalent), report's points."""

    run: str
    baseline: str
    sign: int
    report: float | None
    diff: Difference

    def words(self) -> str:
        d = self.diff
        return f"{self.run} vs {self.baseline} {d.points:+.2f} ({d.low:+.2f} to {d.high:+.2f})"


@dataclass(frozen=True)
class Tested:
    """What a rule found for a tested claim, before the family is adjusted."""

    pairs: tuple[Pair, ...]
    evidence: str
    margin: float | None = None  # an equivalence claim's margin in points


@dataclass(frozen=True)
class Verdict:
    """One claim of the report next to this run's outcome, and the test behind it where there is one."""

    name: str  # stable key in claims.CLAIMS
    claim: str  # the report's statement, short
    source: str  # where the paper says it
    paper: str  # the paper's numbers
    status: str  # one of stats.OUTCOMES, stats.CHECK_OUTCOMES or stats.NOT_CHECKED
    evidence: str  # this run's numbers in words (or why it was not checked)
    kind: str = ""  # TEST, CHECK, or "" (not checked)
    test: Difference | None = None  # the deciding comparison, run minus baseline, in points
    report: float | None = None  # the report's difference for that comparison, points
    p: float | None = None  # the claim's p, before adjustment
    p_adjusted: float | None = None  # Holm, over the `family` tested claims of this run
    detectable: float | None = None  # points; for an equivalence claim the smallest margin it could show
    margin: float | None = None
    family: int = 0

    @property
    def unit(self) -> str:
        """What a test speaks to: the methods (seeds as the unit) or these two trained models (one seed)."""
        if self.test is None:
            return ""
        return f"method, {min(self.test.n_seeds)} seeds" if self.test.seeds_as_unit else "these two models"

    def line(self) -> str:
        """One Markdown bullet for a notebook's Summary."""
        words = f"; {self.unit}" if self.unit else ""
        if self.test is not None:
            d = self.test
            words += (
                f"; {d.points:+.2f} points, 95 % CI {d.low:+.2f} to {d.high:+.2f}, p {_p(self.p)}, "
                f"Holm-adjusted p {_p(self.p_adjusted)} of {self.family} tests, detectable "
                f"{'margin' if self.margin else 'difference'} {self.detectable:.1f} points, {d.test}"
            )
        elif self.kind == CHECK:
            words += "; a check on the curves, not a test"
        return f"- **{self.status}** — {self.claim} (paper: {self.paper}; here: {self.evidence}{words})"


def _p(p: float) -> str:
    """ "= 0.012" or "< 0.0001", for a sentence."""
    text = format_p(p)
    return text if text.startswith("<") else f"= {text}"


def _beyond_margin_p(d: Difference, margin: float) -> float:
    """One-sided p that |d| exceeds the margin, on the side the estimate lies."""
    dist = sps.norm if math.isinf(d.df) else sps.t(d.df)
    return float(dist.sf((abs(d.points) - margin) / d.se))


def _claim_p(t: Tested) -> tuple[float, bool, Pair]:
    """(the claim's p, whether it goes the report's way, the deciding pair): intersection-union / Bonferroni."""
    if t.margin is not None:
        inside = [q for q in t.pairs if abs(q.diff.points) < t.margin]
        if len(inside) == len(t.pairs):
            ps = [stats.equivalence_p(q.diff, t.margin) for q in t.pairs]
            return max(ps), True, t.pairs[ps.index(max(ps))]
        ps = [_beyond_margin_p(q.diff, t.margin) for q in t.pairs if q not in inside]
        return min(1.0, len(t.pairs) * min(ps)), False, [q for q in t.pairs if q not in inside][ps.index(min(ps))]
    agree = [q for q in t.pairs if q.sign * q.diff.points > 0]
    if len(agree) == len(t.pairs):
        deciding = max(t.pairs, key=lambda q: q.diff.p)
        return deciding.diff.p, True, deciding
    deciding = min((q for q in t.pairs if q not in agree), key=lambda q: q.diff.p)
    return min(1.0, len(t.pairs) * deciding.diff.p), False, deciding


def _rules_out(t: Tested) -> bool:
    """A pair's 95 % interval excludes the report's difference (on the zero side of it, for a directional claim);
    for "about the same", the report's effect is every difference within the margin: the interval must miss them all."""
    for q in t.pairs:
        if q.report is None:
            continue
        d = q.diff
        if q.sign == 0 and t.margin is not None:
            if d.low > t.margin or d.high < -t.margin:
                return True
        elif (
            (q.sign == 0 and not d.low <= q.report <= d.high)
            or (q.sign > 0 and d.high < q.report)
            or (q.sign < 0 and d.low > q.report)
        ):
            return True
    return False


def _detectable(t: Tested, alpha: float) -> float:
    """The claim needs every pair: the largest of their detectable differences (or margins)."""
    if t.margin is not None:
        return max(stats.equivalence_margin(q.diff.se, q.diff.df, alpha) for q in t.pairs)
    return max(stats.detectable_difference(q.diff.se, q.diff.df, alpha) for q in t.pairs)


def decide(found: Sequence[tuple[Verdict, Tested | None]]) -> list[Verdict]:
    """Verdicts for every claim: each (claim's blank verdict, what its test found or None) in; Holm across the
    tested ones, outcomes and detectable differences filled in. Verdicts without a test pass through."""
    tested = [(v, t, *_claim_p(t)) for v, t in found if t is not None]
    adjusted = dict(zip((v.name for v, *_ in tested), stats.holm([p for _, _, p, _, _ in tested]), strict=True))
    m = len(tested)
    out = {}
    for v, t, p, agrees, deciding in tested:
        p_adj = float(adjusted[v.name])
        if p_adj < ALPHA:
            status = REPRODUCED if agrees else CONTRADICTED
        else:
            status = RULES_OUT if _rules_out(t) else UNDERPOWERED
        out[v.name] = replace(
            v,
            status=status,
            evidence=t.evidence,
            kind=TEST,
            test=deciding.diff,
            report=deciding.report,
            p=p,
            p_adjusted=p_adj,
            detectable=_detectable(t, ALPHA / m),
            margin=t.margin,
            family=m,
        )
    return [out.get(v.name, v) for v, _ in found]


def count_outcomes(verdicts: Sequence[Verdict]) -> dict[str, int]:
    """How many claims came out each way, every outcome present (zero included): tests, checks, not checked."""
    counts = Counter(v.status for v in verdicts)
    return {status: counts[status] for status in (*OUTCOMES, *CHECK_OUTCOMES, NOT_CHECKED)}


def outcome_sentence(verdicts: Sequence[Verdict], context: str = "") -> str:
    """E.g. "12 tests of the methods (5 seeds; Holm): 6 reproduced, …; 4 checks apart: 3 holds, 1 unclear;
    2 not checked — commit abc1234, …". Tests of one-seed models are counted apart from method tests."""

    def tally(items: Sequence[Verdict], words: Sequence[str]) -> str:
        counts = Counter(v.status for v in items)
        return ", ".join(f"{counts[w]} {w}" for w in words if counts[w] or w in (REPRODUCED, CONTRADICTED))

    tests = [v for v in verdicts if v.kind == TEST]
    method = [v for v in tests if v.test.seeds_as_unit]
    models = [v for v in tests if not v.test.seeds_as_unit]
    family = max((v.family or len(tests) for v in tests), default=0)  # the run's family, also for a few claims
    parts = []
    if method:
        seeds = sorted({min(v.test.n_seeds) for v in method})
        parts.append(
            f"{len(method)} tests of the methods ({'/'.join(map(str, seeds))} seeds, Holm over "
            f"{family}): {tally(method, OUTCOMES)}"
        )
    if models:
        parts.append(
            f"{len(models)} tests of these trained models only (one seed: not a verdict on the methods, "
            f"Holm over {family}): {tally(models, OUTCOMES)}"
        )
    checks = [v for v in verdicts if v.kind == CHECK]
    if checks:
        parts.append(f"{len(checks)} checks apart (curves, timings): {tally(checks, CHECK_OUTCOMES)}")
    unchecked = sum(v.status == NOT_CHECKED for v in verdicts)
    if unchecked:
        parts.append(f"{unchecked} not checked")
    return "; ".join(parts or ["no claims"]) + (f" — {context}" if context else "")


VERDICT_COLUMNS = (
    "name",
    "claim",
    "source",
    "paper",
    "ours",
    "effect",
    "p",
    "p_adjusted",
    "detectable",
    "verdict",
    "unit",
    "test",
)


def _difference_words(v: Verdict) -> str | None:
    if v.test is None:
        return None
    d = v.test
    return f"{d.points:+.2f} ({d.low:+.2f} to {d.high:+.2f})"


def verdict_rows(verdicts: Sequence[Verdict]) -> list[dict[str, object]]:
    """Plain rows for lab_utils.report.tables.write_table, one per claim: the report's number, ours with its 95 %
    interval, raw and Holm-adjusted p (as text, so small values keep their digits), the detectable difference."""
    rows = []
    for v in verdicts:
        tested = v.test is not None
        shown = "> 100" if tested and v.detectable > 100 else f"{v.detectable:.1f}" if tested else None
        detectable = (f"±{shown} (margin)" if v.margin else shown) if tested else None
        rows.append(
            {
                "name": v.name,
                "claim": v.claim,
                "source": v.source,
                "paper": v.paper,
                "ours": v.evidence,
                "effect": _difference_words(v),
                "p": format_p(v.p) if tested else None,
                "p_adjusted": format_p(v.p_adjusted) if tested else None,
                "detectable": detectable,
                "verdict": v.status,
                "unit": v.unit or ("check, not a test" if v.kind == CHECK else None),
                "test": v.test.test if tested else None,
            }
        )
    return rows


def verdicts_markdown(verdicts: Sequence[Verdict]) -> str:
    """The verdicts as a Markdown pipe table (human headers), for a notebook or the README."""
    return markdown_table(verdict_rows(verdicts), [c for c in VERDICT_COLUMNS if c != "name"])


def code_version(commit: str | None) -> str:
    """The code a tally came from: the git commit, else LAB_COMMIT (set when a tree is exported), else the
    installed package's version, so an exported tree does not say "commit unknown"."""
    commit = commit or settings.text("LAB_COMMIT") or None
    if commit:
        return f"commit {commit}"
    for distribution in ("cnn-keras-lab", "lab_utils"):  # the project's name, then the package's
        try:
            return f"{distribution} {metadata.version(distribution)} (no git commit)"
        except metadata.PackageNotFoundError:
            continue
    return "commit unknown"


def run_context(commit: str | None, seeds: int, device: str) -> str:
    """What every tally names: the code, the seeds per run and the machine."""
    return f"{code_version(commit)}, {seeds} seed{'s' if seeds != 1 else ''} per run, {device}"
