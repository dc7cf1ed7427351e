"""What this run reproduces: each qualitative claim of the lab report, judged on this run's results.

One small rule per claim (in report order, sections V-A to V-B.4), registered under a stable name in `CLAIMS`,
turns an `Evidence` bundle (run records, confusion matrices, per-image correctness) into a `Verdict`: the
claim, where the paper makes it, the paper's numbers, one of `OUTCOMES` and this run's numbers in words.
Pure functions on plain data, so they run on saved records without a model.

Judgement calls, kept in one place:
  * Accuracy claims are judged by a paired test on the same test images (lab_utils.report.stats): exact
    McNemar for one seed, a hierarchical bootstrap over seeds and images for several. "reproduced" = the
    paper's direction with a 95 % interval that excludes zero; "contradicted" = excludes zero the other way;
    else "inconclusive". A claim over several comparisons is reproduced only if each is, and contradicted if
    any is.
  * Class-level claims (cat hardest, cat and dog confused, augmentation helps cats) are tested the same way on
    the confusion-matrix counts (seeds summed): cat's pairing across runs is lost there, so those tests are
    unpaired and conservative.
  * Curve claims (overfitting, early stopping) have no test: a check that holds is reproduced, a curve that
    shows the opposite contradicts, and one that cannot decide (noise, too few epochs) is inconclusive.
  * A missing run, or a non-finite test accuracy, leaves a claim "not checked", never failed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from lab_utils.errors import ConfigError
from lab_utils.report.evaluation import per_class_accuracy
from lab_utils.report.stats import OUTCOMES, Difference, judge, paired_difference, proportion_difference
from lab_utils.report.tables import format_spread, markdown_table
from lab_utils.training.records import RunRecord

# Validation loss must climb this far (absolute, cross-entropy) above its minimum before we call it
# overfitting: smaller rises are the epoch-to-epoch wobble of SGD with momentum 0.9 the paper mentions (IV-D).
OVERFIT_RISE = 0.05
MIN_EPOCHS_TO_TURN = 3  # a curve of fewer epochs cannot show a turn, so it cannot contradict overfitting
FIG8_RUN = "cifar_vgg_bn"  # Fig. 8: VGG blocks + dropout + batch norm, no augmentation
FLIP_SHIFT = "_flip_shift"  # the augmentation preset the paper kept (Table III)
TRANSFER_RUNS = ("resnet50_sgd", "resnet50_adam", "resnet50_adam_bn", "vgg19_adam", "vgg19_adam_bn")
HARD_CLASS = "cat"
CONFUSED_PAIR = ("cat", "dog")
NOT_CHECKED = "not checked"


@dataclass(frozen=True)
class Evidence:
    """Everything the rules read, keyed by run name (config "experiment")."""

    records: Mapping[str, RunRecord] = field(default_factory=dict)
    confusions: Mapping[str, np.ndarray] = field(default_factory=dict)  # seeds summed
    class_names: Sequence[str] = ()
    correct: Mapping[str, Sequence[np.ndarray]] = field(default_factory=dict)  # one bool array per seed
    best_run: str | None = None  # the augmented run of Fig. 11


@dataclass(frozen=True)
class Verdict:
    """One claim of the report next to this run's outcome, and the test behind it where there is one."""

    name: str  # stable key in CLAIMS
    claim: str  # the report's statement, short
    source: str  # where the paper says it
    paper: str  # the paper's numbers
    status: str  # one of OUTCOMES, or NOT_CHECKED (a needed run is missing)
    evidence: str  # this run's numbers in words
    test: Difference | None = None  # the comparison that decided, in the claim's terms (run minus baseline)

    def line(self) -> str:
        """One Markdown bullet for a notebook's Summary."""
        return f"- **{self.status}** — {self.claim} (paper: {self.paper}; here: {self.evidence}{_test_words(self.test)})"


def _test_words(d: Difference | None) -> str:
    if d is None:
        return ""
    return f"; {d.points:+.2f} points, 95 % CI {d.low:+.2f} to {d.high:+.2f}, p = {format_p(d.p)}, {d.test}"


def format_p(p: float) -> str:
    """Three decimals, or two significant digits below 0.001; both read back as numbers from a CSV."""
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


@dataclass(frozen=True)
class _Claim:
    """What the paper says, waiting for this run's outcome."""

    name: str
    claim: str
    source: str
    paper: str

    def verdict(self, status: str, evidence: str, test: Difference | None = None) -> Verdict:
        return Verdict(self.name, self.claim, self.source, self.paper, status, evidence, test)

    def missing(self, what: Sequence[str]) -> Verdict:
        """Unchecked, naming what it lacked, so a reader knows which run to add."""
        return self.verdict(NOT_CHECKED, "missing: " + ", ".join(what))


Rule = Callable[[Evidence], Verdict]
CLAIMS: dict[str, Rule] = {}  # name -> rule, in report order


def _rule(name: str, claim: str, source: str, paper: str) -> Callable[[Callable[[_Claim, Evidence], Verdict]], Rule]:
    """Register a rule under `name` with the paper's words; the registered function takes only the evidence."""
    def register(fn: Callable[[_Claim, Evidence], Verdict]) -> Rule:
        c = _Claim(name, claim, source, paper)

        def rule(ev: Evidence) -> Verdict:
            return fn(c, ev)

        rule.__name__, rule.__doc__ = fn.__name__, fn.__doc__
        CLAIMS[name] = rule
        return rule
    return register


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.2f} %"


# --- accuracy claims: paired tests ---------------------------------------------------------------------------

def _correct(ev: Evidence, names: Sequence[str]) -> tuple[dict[str, Sequence[np.ndarray]], list[str]]:
    """Per-image correctness of `names`, and the names without it (absent, or a NaN accuracy: a diverged run)."""
    diverged = {n for n, r in ev.records.items() if not math.isfinite(float(r.test_accuracy))}
    found = {n: ev.correct[n] for n in names if n in ev.correct and len(ev.correct[n]) and n not in diverged}
    return found, [n for n in names if n not in found]


def _accuracy_words(name: str, per_seed: Sequence[np.ndarray]) -> str:
    """"run 58.21 %" for one seed, "run 58.21 ± 0.40 % (3 seeds)" for several."""
    acc = [100 * float(np.mean(c)) for c in per_seed]
    return f"{name} {format_spread(float(np.mean(acc)), float(np.std(acc, ddof=1)) if len(acc) > 1 else 0.0, len(acc))}"


def _change(c: _Claim, ev: Evidence, run: str, baseline: str, *, rises: bool) -> Verdict:
    """`run` vs. `baseline` on the same images: the claim is that accuracy rises (or falls) from one to the other."""
    got, missing = _correct(ev, (run, baseline))
    if missing:
        return c.missing(missing)
    diff = paired_difference(got[run], got[baseline])
    evidence = f"{_accuracy_words(run, got[run])} vs {_accuracy_words(baseline, got[baseline])}"
    return c.verdict(judge(diff, 1 if rises else -1), evidence, diff)


def _combined(c: _Claim, ev: Evidence, pairs: Sequence[tuple[str, str, int]], *, partial: bool = False) -> Verdict:
    """Several (run, baseline, expected sign) comparisons: reproduced if each is, contradicted if any is.

    The verdict carries the deciding comparison: the first contradicted one, else the least certain (largest p).
    `partial` judges the pairs this run has (the paper trained some models only with augmentation).
    """
    tested, lacking = [], []
    for run, baseline, sign in pairs:
        got, missing = _correct(ev, (run, baseline))
        if missing:
            lacking += missing
            continue
        diff = paired_difference(got[run], got[baseline])
        tested.append((run, baseline, diff, judge(diff, sign)))
    if (lacking and not partial) or not tested:
        return c.missing(list(dict.fromkeys(lacking)) or ["every run pair"])
    statuses = [t[3] for t in tested]
    status = ("contradicted" if "contradicted" in statuses else
              "reproduced" if set(statuses) == {"reproduced"} else "inconclusive")
    deciding = next((t for t in tested if t[3] == "contradicted"), max(tested, key=lambda t: t[2].p))
    words = ", ".join(f"{run} vs {base} {d.points:+.2f} (p = {format_p(d.p)})" for run, base, d, _ in tested)
    count = f"{statuses.count('reproduced')} of {len(tested)} reproduced: " if partial else ""
    return c.verdict(status, count + words, deciding[2])


@_rule("cnn_beats_mlp", "A CNN beats the one-hidden-layer network on MNIST", "V-A", "99.37 % vs 95.85 %")
def cnn_beats_mlp_on_mnist(c: _Claim, ev: Evidence) -> Verdict:
    """V-A: the reason to use convolutions at all, shown on the easy dataset first."""
    return _change(c, ev, "mnist_cnn", "mnist_mlp", rises=True)


# --- curve claims: checks without a test ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Turn:
    """Where a validation-loss curve bottoms out, and how far it has climbed by the end of training."""

    best_epoch: int  # 1-based
    best: float
    last_epoch: int
    rise: float  # last minus best validation loss
    train_falls: bool  # training loss still lower at the end than at the best epoch

    @property
    def overfits(self) -> bool:
        """Validation loss climbed OVERFIT_RISE from its minimum while the training loss kept falling."""
        return self.best_epoch < self.last_epoch and self.rise >= OVERFIT_RISE and self.train_falls

    def words(self) -> str:
        if self.best_epoch == self.last_epoch:
            return f"validation loss lowest at the last epoch, {self.last_epoch} ({self.best:.2f})"
        return (f"validation loss lowest at epoch {self.best_epoch} ({self.best:.2f}), "
                f"{self.rise:+.2f} by epoch {self.last_epoch}")


def _turn(history: Mapping[str, Sequence[float]]) -> _Turn | None:
    """The curve's turning point; None without finite validation and training losses.

    The rise is measured to the last epoch, not to the highest point after the minimum: one noisy spike
    cannot then pass for overfitting, and with early stopping the last epoch is `patience` epochs on.
    """
    val = np.asarray(history.get("val_loss") or [], dtype=float)
    train = np.asarray(history.get("loss") or [], dtype=float)
    if len(train) != len(val) or not np.isfinite(val).any():
        return None
    finite = np.flatnonzero(np.isfinite(val))
    best, last = int(np.nanargmin(val)), int(finite[-1])
    return _Turn(best + 1, float(val[best]), last + 1, float(val[last] - val[best]), bool(train[last] < train[best]))


def _turns(ev: Evidence, names: Sequence[str]) -> tuple[dict[str, _Turn], list[str]]:
    turns = {n: _turn(ev.records[n].history) for n in names if n in ev.records}
    found = {n: t for n, t in turns.items() if t is not None}
    return found, [n if n not in ev.records else f"{n} (loss history)" for n in names if n not in found]


@_rule("simple_cnn_overfits", "The simple CNN overfits CIFAR-10 soon", "V-B.1, Fig. 7a", "overfits \"very soon\"")
def simple_cnn_overfits(c: _Claim, ev: Evidence) -> Verdict:
    """V-B.1, Fig. 7a: the motivation for dropout. Overfitting = validation loss climbs from its minimum
    by OVERFIT_RISE while the training loss keeps falling (both rising would be divergence, not overfitting).
    A curve still at its minimum after MIN_EPOCHS_TO_TURN epochs or more contradicts; a small rise or a
    divergence cannot decide. "Soon" has no number in the paper, so it is not tested: the evidence gives the epoch."""
    turns, missing = _turns(ev, ("cifar_simple_cnn",))
    if missing:
        return c.missing(missing)
    t = turns["cifar_simple_cnn"]
    never_turned = t.best_epoch == t.last_epoch >= MIN_EPOCHS_TO_TURN
    status = "reproduced" if t.overfits else "contradicted" if never_turned else "inconclusive"
    falls = "" if t.train_falls or t.best_epoch == t.last_epoch else "; training loss rose too"
    return c.verdict(status, t.words() + falls)


@_rule("dropout_delays_overfitting", "Dropout delays overfitting of the simple CNN", "V-B.1, Fig. 7c",
       "validation loss follows the training loss closely")
def dropout_delays_overfitting(c: _Claim, ev: Evidence) -> Verdict:
    """V-B.1, Fig. 7c. Reproduced if dropout's validation loss bottoms out later *and* climbs no more after it
    (a later but steeper turn only postpones overfitting), or if it does not overfit at all (rise below
    OVERFIT_RISE) while the simple CNN does. Contradicted if dropout overfits and turns earlier."""
    turns, missing = _turns(ev, ("cifar_simple_cnn", "cifar_simple_cnn_dropout"))
    if missing:
        return c.missing(missing)
    plain, drop = turns["cifar_simple_cnn"], turns["cifar_simple_cnn_dropout"]
    later = drop.best_epoch > plain.best_epoch and drop.rise <= plain.rise
    milder = drop.rise < OVERFIT_RISE <= plain.rise
    earlier = drop.overfits and drop.best_epoch < plain.best_epoch
    status = "reproduced" if later or milder else "contradicted" if earlier else "inconclusive"
    return c.verdict(status, f"with dropout: {drop.words()}; without: {plain.words()}")


# --- Table I ------------------------------------------------------------------------------------------------------

@_rule("dropout_raises_accuracy", "Dropout raises the simple CNN's accuracy", "V-B.1, Table I", "63.10 % → 74.24 %")
def dropout_raises_accuracy(c: _Claim, ev: Evidence) -> Verdict:
    """V-B.1, Table I: dropout's regularisation pays off in test accuracy, not only in the loss curves."""
    return _change(c, ev, "cifar_simple_cnn_dropout", "cifar_simple_cnn", rises=True)


@_rule("vgg_beats_simple_cnn", "VGG blocks beat the simple CNN with dropout", "V-B.2, Table I", "74.24 % → 81.89 %")
def vgg_blocks_beat_simple_cnn(c: _Claim, ev: Evidence) -> Verdict:
    """V-B.2, Table I: deeper VGG blocks beat the regularised simple CNN."""
    return _change(c, ev, "cifar_vgg", "cifar_simple_cnn_dropout", rises=True)


@_rule("batch_norm_helps_vgg", "Batch norm improves the VGG blocks", "V-B.2, Table I", "81.89 % → 84.42 %")
def batch_norm_improves_vgg(c: _Claim, ev: Evidence) -> Verdict:
    """V-B.2, Table I: batch norm on top of dropout gives the best model without augmentation."""
    return _change(c, ev, "cifar_vgg_bn", "cifar_vgg", rises=True)


# --- confusion matrices: class-level tests on counts ------------------------------------------------------------

def _matrix(cm: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """The matrix as an array, refusing one that does not match the class names (a caller's mix-up)."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape != (len(class_names), len(class_names)):
        raise ValueError(f"confusion matrix of shape {cm.shape} does not match {len(class_names)} class names")
    return cm


def _class_counts(cm: np.ndarray, i: int) -> tuple[int, int]:
    """(correct, total) of class `i`."""
    return int(cm[i, i]), int(cm[i].sum())


@_rule("cat_is_hardest", "Cat is the hardest class for VGG + BN", "V-B.2, Fig. 8", "cat worst, then bird, dog")
def cat_is_hardest_class(c: _Claim, ev: Evidence) -> Verdict:
    """V-B.2, Fig. 8: the paper's error analysis (Fig. 9) starts from the worst class, cat. Cat is compared
    with the hardest other class: below it significantly reproduces, above it significantly contradicts."""
    names = list(ev.class_names)
    if FIG8_RUN not in ev.confusions or HARD_CLASS not in names:
        return c.missing([f"confusion matrix of {FIG8_RUN}" if FIG8_RUN not in ev.confusions else f"a {HARD_CLASS!r} class"])
    cm = _matrix(ev.confusions[FIG8_RUN], names)
    acc, cat = per_class_accuracy(cm), names.index(HARD_CLASS)
    order = [int(i) for i in np.argsort(acc, kind="stable") if np.isfinite(acc[i])]  # NaN = class without examples
    others = [i for i in order if i != cat]
    hardest = ", ".join(f"{names[i]} {_pct(acc[i])}" for i in order[:3])
    if not np.isfinite(acc[cat]) or not others:
        return c.missing([f"{HARD_CLASS} and another class with test images"])
    diff = proportion_difference(_class_counts(cm, cat), _class_counts(cm, others[0]))
    return c.verdict(judge(diff, -1), f"hardest in {FIG8_RUN}: {hardest}; cat vs {names[others[0]]}", diff)


@_rule("cats_dogs_confused", "Cats and dogs are confused with each other most", "V-B.2, Fig. 8", "cat ↔ dog")
def cats_and_dogs_confused_most(c: _Claim, ev: Evidence) -> Verdict:
    """V-B.2, Fig. 8: counted both ways (cat→dog + dog→cat), since the paper says "and vice versa". The cat↔dog
    mistakes and those of the most confused other pair are disjoint sets of the same test images, so the exact
    McNemar test compares them directly."""
    names = list(ev.class_names)
    if FIG8_RUN not in ev.confusions or not set(CONFUSED_PAIR) <= set(names):
        return c.missing([f"confusion matrix of {FIG8_RUN}" if FIG8_RUN not in ev.confusions else "'cat' and 'dog' classes"])
    cm = _matrix(ev.confusions[FIG8_RUN], names)
    both = cm + cm.T
    cat_dog = frozenset(names.index(n) for n in CONFUSED_PAIR)
    pairs = sorted(((int(both[i, j]), i, j) for i in range(len(cm)) for j in range(i + 1, len(cm))),
                   key=lambda p: -p[0])
    top = ", ".join(f"{names[i]}↔{names[j]} {n}" for n, i, j in pairs[:3] if n) or "no confusions"
    rival = next((p[0] for p in pairs if {p[1], p[2]} != cat_dog), 0)
    ours = int(both[tuple(cat_dog)])
    images = int(cm.sum())
    is_ours, is_rival = np.zeros(images, bool), np.zeros(images, bool)  # per-image "is that pair's mistake"
    is_ours[:ours], is_rival[ours:ours + rival] = True, True
    diff = paired_difference([is_ours], [is_rival])
    return c.verdict(judge(diff, 1), f"most confused in {FIG8_RUN}: {top}", diff)


# --- Table II -----------------------------------------------------------------------------------------------------

@_rule("adam_beats_sgd_resnet50", "Adam beats SGD for fine-tuning ResNet50", "V-B.3, Table II", "80.85 % vs 75.52 %")
def adam_beats_sgd_for_resnet50(c: _Claim, ev: Evidence) -> Verdict:
    """V-B.3, Table II: why the paper did most transfer learning with Adam."""
    return _change(c, ev, "resnet50_adam", "resnet50_sgd", rises=True)


@_rule("vgg19_beats_vgg_blocks", "VGG19 + Adam + batch norm beats the VGG blocks with batch norm", "V-B.3, Table II",
       "84.97 % vs 84.42 %")
def vgg19_beats_vgg_blocks(c: _Claim, ev: Evidence) -> Verdict:
    """V-B.3, Table II: transfer learning only just overtakes the custom network (by 0.55 points)."""
    return _change(c, ev, "vgg19_adam_bn", "cifar_vgg_bn", rises=True)


# --- Table III and V-B.4 --------------------------------------------------------------------------------------------

@_rule("flip_shift_helps_vgg", "Flip + shift augmentation raises the VGG-block models' accuracy", "V-B.4, Table III",
       "81.89 → 83.51 %, 84.42 → 87.11 %")
def flip_shift_helps_vgg_blocks(c: _Claim, ev: Evidence) -> Verdict:
    """V-B.4, Table III: the augmentation the paper kept, on both VGG-block models (needs both pairs)."""
    return _combined(c, ev, [(base + FLIP_SHIFT, base, 1) for base in ("cifar_vgg", "cifar_vgg_bn")])


@_rule("flip_shift_helps_transfer", "Flip + shift augmentation raises the transfer models' accuracy",
       "V-B.4, Table III", "all rose, +3.14 to +6.75 points")
def flip_shift_helps_transfer(c: _Claim, ev: Evidence) -> Verdict:
    """V-B.4, Table III: "all models' accuracies increased". Judged on the pairs this run has, since the
    paper itself trained some transfer models only with augmentation."""
    return _combined(c, ev, [(base + FLIP_SHIFT, base, 1) for base in TRANSFER_RUNS], partial=True)


@_rule("flips_rotation_hurt_vgg", "Flips both ways + rotation 20° lower the VGG blocks' accuracy", "V-B.4",
       "−5.2 points")
def flips_rotation_hurts_vgg_blocks(c: _Claim, ev: Evidence) -> Verdict:
    """V-B.4: why the first augmentation set (flips both ways + rotation 20°) was rejected."""
    return _change(c, ev, "cifar_vgg_flip_rotate", "cifar_vgg", rises=False)


@_rule("flips_alone_hurt_less", "Flips alone also lower it, but less", "V-B.4", "−3.7 points (vs −5.2)")
def flips_alone_hurt_less(c: _Claim, ev: Evidence) -> Verdict:
    """V-B.4: flips alone still hurt, but less than with rotation: below the plain run, above the rotated one."""
    return _combined(c, ev, [("cifar_vgg_flip", "cifar_vgg", -1), ("cifar_vgg_flip", "cifar_vgg_flip_rotate", 1)])


@_rule("augmentation_helps_cats", "Augmentation helps the hardest class, cat", "V-B.4, Figs. 8, 11", "68 % → 76 %")
def augmentation_helps_cats(c: _Claim, ev: Evidence) -> Verdict:
    """V-B.4, Figs. 8 and 11: augmentation helps exactly where the model was weakest."""
    runs = (FIG8_RUN, ev.best_run)
    lacking = [f"confusion matrix of {r}" for r in runs if r is not None and r not in ev.confusions]
    if ev.best_run is None:
        lacking.append("the best augmented run's name")
    if HARD_CLASS not in ev.class_names:
        lacking.append(f"a {HARD_CLASS!r} class")
    if lacking:
        return c.missing(lacking)
    i = list(ev.class_names).index(HARD_CLASS)
    before, after = (_class_counts(_matrix(ev.confusions[r], ev.class_names), i) for r in runs)
    if not before[1] or not after[1]:
        return c.missing([f"{HARD_CLASS} test images"])
    diff = proportion_difference(after, before)
    evidence = f"cats correct: {FIG8_RUN} {_pct(before[0] / before[1])} → {ev.best_run} {_pct(after[0] / after[1])}"
    return c.verdict(judge(diff, 1), evidence, diff)


@_rule("early_stopping_ends_training", "Early stopping ends training", "V-B.4, Fig. 10", "stopped at epoch 44")
def early_stopping_ends_training(c: _Claim, ev: Evidence) -> Verdict:
    """V-B.4, Fig. 10: early stopping, not the epoch budget, decides how long a run trains. Only runs whose
    budget leaves room to stop (more than patience + 1 epochs) count; none of them stopping contradicts."""
    budgeted = {n: r for n, r in sorted(ev.records.items())
                if isinstance(r.config.get("epochs"), int) and isinstance(r.config.get("patience"), int)
                and r.config["epochs"] > r.config["patience"] + 1}
    if not budgeted:
        return c.missing(["runs whose epoch budget exceeds patience + 1"])
    stopped = [(n, r) for n, r in budgeted.items() if r.epochs_run < r.config["epochs"]]
    evidence = f"{len(stopped)} of {len(budgeted)} runs stopped before their epoch budget"
    if stopped:
        name, r = stopped[0]
        evidence += (f" (e.g. {name} at {r.epochs_run} of {r.config['epochs']}, best epoch {r.best_epoch}, "
                     f"patience {r.config.get('patience', '?')})")
    return c.verdict("reproduced" if stopped else "contradicted", evidence)


# --- all claims -----------------------------------------------------------------------------------------------------

def select(names: Sequence[str] | None = None) -> list[str]:
    """`names` checked against the catalogue (all of them, in report order, for None)."""
    if names is None:
        return list(CLAIMS)
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in CLAIMS]
    if unknown:
        raise ConfigError(f"unknown claim {', '.join(map(repr, unknown))}: choose from {', '.join(CLAIMS)}")
    return list(names)


def check_claims(records: Mapping[str, RunRecord], confusions: Mapping[str, np.ndarray],
                 class_names: Sequence[str], *, correct: Mapping[str, Sequence[np.ndarray]] | None = None,
                 best_run: str | None = None, names: Sequence[str] | None = None) -> list[Verdict]:
    """The claims `names` (default: all, in report order), judged on this run.

    Args:
        records: run records by run name (config "experiment"); the curve and early-stopping claims read them.
        confusions: confusion matrices by run name, seeds summed.
        class_names: the confusion matrices' class order.
        correct: per-image correctness by run name, one boolean array per seed, every array over the same test
            images in the same order (`y_pred == y_true`); the accuracy claims read these.
        best_run: names the augmented run of Fig. 11.
        names: claim names from CLAIMS; unknown names raise ConfigError listing the known ones.
    """
    ev = Evidence(records, confusions, class_names, correct or {}, best_run)
    return [CLAIMS[name](ev) for name in select(names)]


def count_outcomes(verdicts: Sequence[Verdict]) -> dict[str, int]:
    """How many claims came out each way, every outcome present (zero included), "not checked" last."""
    counts = Counter(v.status for v in verdicts)
    return {status: counts[status] for status in (*OUTCOMES, NOT_CHECKED)}


def outcome_sentence(verdicts: Sequence[Verdict]) -> str:
    """E.g. "9 reproduced, 5 inconclusive, 1 contradicted, 1 not checked (of 16 claims)"."""
    counts = count_outcomes(verdicts)
    parts = [f"{n} {status}" for status, n in counts.items() if n or status in OUTCOMES]
    return f"{', '.join(parts)} (of {len(verdicts)} claims)"


VERDICT_COLUMNS = ("name", "claim", "source", "paper", "verdict", "this_run", "test", "difference", "ci_low",
                   "ci_high", "p")
VERDICT_HEADERS = {"name": "Name", "claim": "Claim", "source": "Source", "paper": "Paper", "verdict": "Verdict",
                   "this_run": "This run", "test": "Test", "difference": "Difference (points)",
                   "ci_low": "95 % CI low", "ci_high": "95 % CI high", "p": "p"}


def verdict_rows(verdicts: Sequence[Verdict]) -> list[dict[str, object]]:
    """Plain rows for lab_utils.report.tables.write_table (CSV + Markdown); p as text so small values keep
    their digits in the Markdown (read_table turns it back into a number)."""
    rows = []
    for v in verdicts:
        d = v.test
        rows.append({"name": v.name, "claim": v.claim, "source": v.source, "paper": v.paper, "verdict": v.status,
                     "this_run": v.evidence, "test": d.test if d else None, "difference": d.points if d else None,
                     "ci_low": d.low if d else None, "ci_high": d.high if d else None,
                     "p": format_p(d.p) if d else None})
    return rows


def verdicts_markdown(verdicts: Sequence[Verdict]) -> str:
    """The verdicts as a Markdown pipe table, for the notebook or README."""
    columns = [c for c in VERDICT_COLUMNS if c != "name"]
    return markdown_table(verdict_rows(verdicts), columns, headers=VERDICT_HEADERS)
