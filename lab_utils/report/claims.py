"""What this run reproduces: each qualitative claim of the lab report, checked against this run's records.

One small rule per claim (in report order, sections V-A to V-B.4) turns run records and confusion matrices
into a `Verdict`: the claim, where the paper makes it, the paper's numbers, whether it holds here and this
run's numbers in words. Pure functions on plain data, so they run on saved records without a model.

Judgement calls, kept in one place:
  * Accuracy claims check the direction only, with no margin: the paper's own gaps (0.55 points for VGG19
    vs. VGG blocks) are within one run's noise, so a margin would test a stronger claim than the paper's.
    The evidence states the size, so a reader can weigh it. A tie does not reproduce "beats".
  * A missing run, or a non-finite test accuracy, leaves a claim unchecked (holds=None), never failed.
  * Ties in the confusion-matrix claims count for the paper (cat tied for hardest is still hardest).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lab_utils.report.evaluation import per_class_accuracy
from lab_utils.training.records import RunRecord
from lab_utils.report.tables import markdown_table

# Validation loss must climb this far (absolute, cross-entropy) above its minimum before we call it
# overfitting: smaller rises are the epoch-to-epoch wobble of SGD with momentum 0.9 the paper mentions (IV-D).
OVERFIT_RISE = 0.05
FIG8_RUN = "cifar_vgg_bn"  # Fig. 8: VGG blocks + dropout + batch norm, no augmentation
FLIP_SHIFT = "_flip_shift"  # the augmentation preset the paper kept (Table III)
TRANSFER_RUNS = ("resnet50_sgd", "resnet50_adam", "resnet50_adam_bn", "vgg19_adam", "vgg19_adam_bn")
HARD_CLASS = "cat"
CONFUSED_PAIR = frozenset({"cat", "dog"})


@dataclass(frozen=True)
class Verdict:
    """One claim of the report next to this run's outcome."""

    claim: str  # the report's statement, short
    source: str  # where the paper says it
    paper: str  # the paper's numbers
    holds: bool | None  # None = not checked (a needed run is missing)
    evidence: str  # this run's numbers in words

    @property
    def status(self) -> str:
        """A word for the table: reproduced / not reproduced / not checked."""
        return {True: "reproduced", False: "not reproduced", None: "not checked"}[self.holds]


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.2f} %"


@dataclass(frozen=True)
class _Claim:
    """What the paper says, waiting for this run's outcome."""

    claim: str
    source: str
    paper: str

    def verdict(self, holds: bool | None, evidence: str) -> Verdict:
        return Verdict(self.claim, self.source, self.paper, holds, evidence)

    def missing(self, what: Sequence[str]) -> Verdict:
        """Unchecked, naming what it lacked, so a reader knows which run to add."""
        return self.verdict(None, "missing: " + ", ".join(what))


def _accuracies(records: Mapping[str, RunRecord], names: Sequence[str]) -> tuple[dict[str, float], list[str]]:
    """Test accuracies of `names`, and the names without one (absent, or NaN from a diverged run)."""
    found = {n: float(records[n].test_accuracy) for n in names if n in records}
    found = {n: a for n, a in found.items() if math.isfinite(a)}  # NaN: the run diverged, nothing to compare
    return found, [n for n in names if n not in found]


def _change(c: _Claim, records: Mapping[str, RunRecord], run: str, baseline: str, *, rises: bool) -> Verdict:
    """`run` vs. `baseline`: the claim is that accuracy rises (or falls) from the baseline to the run."""
    acc, missing = _accuracies(records, (run, baseline))
    if missing:
        return c.missing(missing)
    diff = acc[run] - acc[baseline]
    evidence = f"{run} {_pct(acc[run])} vs {baseline} {_pct(acc[baseline])} ({100 * diff:+.2f})"
    return c.verdict(diff > 0 if rises else diff < 0, evidence)


@dataclass(frozen=True)
class _Turn:
    """Where a validation-loss curve bottoms out, and how far it has climbed by the end of training."""

    best_epoch: int  # 1-based
    best: float
    last_epoch: int
    rise: float  # last minus best validation loss
    train_falls: bool  # training loss still lower at the end than at the best epoch

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


def _turns(records: Mapping[str, RunRecord], names: Sequence[str]) -> tuple[dict[str, _Turn], list[str]]:
    turns = {n: _turn(records[n].history) for n in names if n in records}
    found = {n: t for n, t in turns.items() if t is not None}
    return found, [n if n not in records else f"{n} (loss history)" for n in names if n not in found]


def _matrix(cm: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """The matrix as an array, refusing one that does not match the class names (a caller's mix-up)."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape != (len(class_names), len(class_names)):
        raise ValueError(f"confusion matrix of shape {cm.shape} does not match {len(class_names)} class names")
    return cm


def cnn_beats_mlp_on_mnist(records: Mapping[str, RunRecord]) -> Verdict:
    """V-A: the reason to use convolutions at all, shown on the easy dataset first."""
    c = _Claim("A CNN beats the one-hidden-layer network on MNIST", "V-A", "99.37 % vs 95.85 %")
    return _change(c, records, "mnist_cnn", "mnist_mlp", rises=True)


def simple_cnn_overfits(records: Mapping[str, RunRecord]) -> Verdict:
    """V-B.1, Fig. 7a: the motivation for dropout. Overfitting = validation loss climbs from its minimum
    by OVERFIT_RISE while the training loss keeps falling (both rising would be divergence, not overfitting).
    "Soon" has no number in the paper, so it is not tested: the evidence gives the epoch."""
    c = _Claim("The simple CNN overfits CIFAR-10 soon", "V-B.1, Fig. 7a", "overfits \"very soon\"")
    turns, missing = _turns(records, ("cifar_simple_cnn",))
    if missing:
        return c.missing(missing)
    t = turns["cifar_simple_cnn"]
    holds = t.best_epoch < t.last_epoch and t.rise >= OVERFIT_RISE and t.train_falls
    falls = "" if t.train_falls or t.best_epoch == t.last_epoch else "; training loss rose too"
    return c.verdict(holds, t.words() + falls)


def dropout_delays_overfitting(records: Mapping[str, RunRecord]) -> Verdict:
    """V-B.1, Fig. 7c. Holds if dropout's validation loss bottoms out later *and* climbs no more after it
    (a later but steeper turn only postpones overfitting), or if it does not overfit at all (rise below
    OVERFIT_RISE) while the simple CNN does."""
    c = _Claim("Dropout delays overfitting of the simple CNN", "V-B.1, Fig. 7c",
               "validation loss follows the training loss closely")
    turns, missing = _turns(records, ("cifar_simple_cnn", "cifar_simple_cnn_dropout"))
    if missing:
        return c.missing(missing)
    plain, drop = turns["cifar_simple_cnn"], turns["cifar_simple_cnn_dropout"]
    later = drop.best_epoch > plain.best_epoch and drop.rise <= plain.rise
    milder = drop.rise < OVERFIT_RISE <= plain.rise
    return c.verdict(later or milder, f"with dropout: {drop.words()}; without: {plain.words()}")


def dropout_raises_accuracy(records: Mapping[str, RunRecord]) -> Verdict:
    """V-B.1, Table I: dropout's regularisation pays off in test accuracy, not only in the loss curves."""
    c = _Claim("Dropout raises the simple CNN's accuracy", "V-B.1, Table I", "63.10 % → 74.24 %")
    return _change(c, records, "cifar_simple_cnn_dropout", "cifar_simple_cnn", rises=True)


def vgg_blocks_beat_simple_cnn(records: Mapping[str, RunRecord]) -> Verdict:
    """V-B.2, Table I: deeper VGG blocks beat the regularised simple CNN."""
    c = _Claim("VGG blocks beat the simple CNN with dropout", "V-B.2, Table I", "74.24 % → 81.89 %")
    return _change(c, records, "cifar_vgg", "cifar_simple_cnn_dropout", rises=True)


def batch_norm_improves_vgg(records: Mapping[str, RunRecord]) -> Verdict:
    """V-B.2, Table I: batch norm on top of dropout gives the best model without augmentation."""
    c = _Claim("Batch norm improves the VGG blocks", "V-B.2, Table I", "81.89 % → 84.42 %")
    return _change(c, records, "cifar_vgg_bn", "cifar_vgg", rises=True)


def cat_is_hardest_class(confusions: Mapping[str, np.ndarray], class_names: Sequence[str],
                         run: str = FIG8_RUN) -> Verdict:
    """V-B.2, Fig. 8: the paper's error analysis (Fig. 9) starts from the worst class, cat."""
    c = _Claim("Cat is the hardest class for VGG + BN", "V-B.2, Fig. 8", "cat worst, then bird, dog")
    if run not in confusions or HARD_CLASS not in class_names:
        return c.missing([f"confusion matrix of {run}" if run not in confusions else f"a {HARD_CLASS!r} class"])
    acc = per_class_accuracy(_matrix(confusions[run], class_names))
    order = [int(i) for i in np.argsort(acc, kind="stable") if np.isfinite(acc[i])]  # NaN = class without examples
    cat = acc[list(class_names).index(HARD_CLASS)]
    holds = bool(np.isfinite(cat)) and bool(cat <= acc[order[0]])
    hardest = ", ".join(f"{class_names[i]} {_pct(acc[i])}" for i in order[:3])
    return c.verdict(holds, f"hardest in {run}: {hardest}")


def cats_and_dogs_confused_most(confusions: Mapping[str, np.ndarray], class_names: Sequence[str],
                                run: str = FIG8_RUN) -> Verdict:
    """V-B.2, Fig. 8: counted both ways (cat→dog + dog→cat), since the paper says "and vice versa"."""
    c = _Claim("Cats and dogs are confused with each other most", "V-B.2, Fig. 8", "cat ↔ dog")
    if run not in confusions or not CONFUSED_PAIR <= set(class_names):
        return c.missing([f"confusion matrix of {run}" if run not in confusions else "'cat' and 'dog' classes"])
    cm = _matrix(confusions[run], class_names)
    both, names = cm + cm.T, list(class_names)
    pairs = sorted(((int(both[i, j]), i, j) for i in range(len(cm)) for j in range(i + 1, len(cm))),
                   key=lambda p: -p[0])
    cat_dog = int(both[names.index("cat"), names.index("dog")])
    holds = 0 < cat_dog >= pairs[0][0]  # no confusion at all is no evidence for the claim
    top = ", ".join(f"{names[i]}↔{names[j]} {n}" for n, i, j in pairs[:3] if n) or "no confusions"
    return c.verdict(holds, f"most confused in {run}: {top}")


def adam_beats_sgd_for_resnet50(records: Mapping[str, RunRecord]) -> Verdict:
    """V-B.3, Table II: why the paper did most transfer learning with Adam."""
    c = _Claim("Adam beats SGD for fine-tuning ResNet50", "V-B.3, Table II", "80.85 % vs 75.52 %")
    return _change(c, records, "resnet50_adam", "resnet50_sgd", rises=True)


def vgg19_beats_vgg_blocks(records: Mapping[str, RunRecord]) -> Verdict:
    """V-B.3, Table II: transfer learning only just overtakes the custom network (by 0.55 points)."""
    c = _Claim("VGG19 + Adam + batch norm beats the VGG blocks with batch norm", "V-B.3, Table II",
               "84.97 % vs 84.42 %")
    return _change(c, records, "vgg19_adam_bn", "cifar_vgg_bn", rises=True)


def _gains(records: Mapping[str, RunRecord], bases: Sequence[str]) -> tuple[dict[str, float], list[str]]:
    """Accuracy gain (points) of each base run with flip + shift; bases lacking either run are listed."""
    gains, missing = {}, []
    for base in bases:
        acc, lacking = _accuracies(records, (base, base + FLIP_SHIFT))
        if lacking:
            missing += lacking
        else:
            gains[base] = 100 * (acc[base + FLIP_SHIFT] - acc[base])
    return gains, missing


def _gain_words(gains: Mapping[str, float]) -> str:
    return ", ".join(f"{base} {gain:+.2f}" for base, gain in gains.items())


def flip_shift_helps_vgg_blocks(records: Mapping[str, RunRecord]) -> Verdict:
    """V-B.4, Table III: the augmentation the paper kept, on both VGG-block models (needs both pairs)."""
    c = _Claim("Flip + shift augmentation raises the VGG-block models' accuracy", "V-B.4, Table III",
               "81.89 → 83.51 %, 84.42 → 87.11 %")
    gains, missing = _gains(records, ("cifar_vgg", "cifar_vgg_bn"))
    if missing:
        return c.missing(missing)
    return c.verdict(all(g > 0 for g in gains.values()), f"gain with {FLIP_SHIFT[1:]} (points): {_gain_words(gains)}")


def flip_shift_helps_transfer(records: Mapping[str, RunRecord]) -> Verdict:
    """V-B.4, Table III: "all models' accuracies increased". Judged on the pairs this run has, since the
    paper itself trained some transfer models only with augmentation."""
    c = _Claim("Flip + shift augmentation raises the transfer models' accuracy", "V-B.4, Table III",
               "all rose, +3.14 to +6.75 points")
    gains, _ = _gains(records, TRANSFER_RUNS)
    if not gains:
        return c.missing(["every transfer run pair with and without " + FLIP_SHIFT[1:]])
    improved = sum(g > 0 for g in gains.values())
    return c.verdict(improved == len(gains), f"{improved} of {len(gains)} improved: {_gain_words(gains)}")


def flips_rotation_hurts_vgg_blocks(records: Mapping[str, RunRecord]) -> Verdict:
    """V-B.4: why the first augmentation set (flips both ways + rotation 20°) was rejected."""
    c = _Claim("Flips both ways + rotation 20° lower the VGG blocks' accuracy", "V-B.4", "−5.2 points")
    return _change(c, records, "cifar_vgg_flip_rotate", "cifar_vgg", rises=False)


def flips_alone_hurt_less(records: Mapping[str, RunRecord]) -> Verdict:
    """V-B.4: flips alone still hurt, but less than with rotation: below the plain run, above the rotated one."""
    c = _Claim("Flips alone also lower it, but less", "V-B.4", "−3.7 points (vs −5.2)")
    names = ("cifar_vgg_flip", "cifar_vgg", "cifar_vgg_flip_rotate")
    acc, missing = _accuracies(records, names)
    if missing:
        return c.missing(missing)
    flip, plain, rotate = (acc[n] for n in names)
    evidence = (f"cifar_vgg_flip {_pct(flip)}: {100 * (flip - plain):+.2f} vs cifar_vgg, "
                f"{100 * (flip - rotate):+.2f} vs cifar_vgg_flip_rotate")
    return c.verdict(rotate < flip < plain, evidence)


def augmentation_helps_cats(confusions: Mapping[str, np.ndarray], class_names: Sequence[str],
                            best_run: str | None, before_run: str = FIG8_RUN) -> Verdict:
    """V-B.4, Figs. 8 and 11: augmentation helps exactly where the model was weakest."""
    c = _Claim("Augmentation helps the hardest class, cat", "V-B.4, Figs. 8, 11", "68 % → 76 %")
    lacking = [f"confusion matrix of {r}" for r in (before_run, best_run) if r is not None and r not in confusions]
    if best_run is None:
        lacking.append("the best augmented run's name")
    if HARD_CLASS not in class_names:
        lacking.append(f"a {HARD_CLASS!r} class")
    if lacking:
        return c.missing(lacking)
    i = list(class_names).index(HARD_CLASS)
    before, after = (per_class_accuracy(_matrix(confusions[r], class_names))[i] for r in (before_run, best_run))
    evidence = f"cats correct: {before_run} {_pct(before)} → {best_run} {_pct(after)} ({100 * (after - before):+.2f})"
    return c.verdict(bool(after > before), evidence)


def early_stopping_ends_training(records: Mapping[str, RunRecord]) -> Verdict:
    """V-B.4, Fig. 10: early stopping, not the epoch budget, decides how long a run trains."""
    c = _Claim("Early stopping ends training", "V-B.4, Fig. 10", "stopped at epoch 44")
    budgeted = {n: r for n, r in sorted(records.items()) if isinstance(r.config.get("epochs"), int)}
    if not budgeted:
        return c.missing(["runs with an epoch budget"])
    stopped = [(n, r) for n, r in budgeted.items() if r.epochs_run < r.config["epochs"]]
    evidence = f"{len(stopped)} of {len(budgeted)} runs stopped before their epoch budget"
    if stopped:
        name, r = stopped[0]
        evidence += (f" (e.g. {name} at {r.epochs_run} of {r.config['epochs']}, best epoch {r.best_epoch}, "
                     f"patience {r.config.get('patience', '?')})")
    return c.verdict(bool(stopped), evidence)


def check_claims(records: Mapping[str, RunRecord], confusions: Mapping[str, np.ndarray],
                 class_names: Sequence[str], *, best_run: str | None = None) -> list[Verdict]:
    """Every claim, in report order. `records` and `confusions` are keyed by run name (config "experiment");
    `best_run` names the augmented run of Fig. 11."""
    return [
        cnn_beats_mlp_on_mnist(records),
        simple_cnn_overfits(records),
        dropout_delays_overfitting(records),
        dropout_raises_accuracy(records),
        vgg_blocks_beat_simple_cnn(records),
        batch_norm_improves_vgg(records),
        cat_is_hardest_class(confusions, class_names),
        cats_and_dogs_confused_most(confusions, class_names),
        adam_beats_sgd_for_resnet50(records),
        vgg19_beats_vgg_blocks(records),
        flip_shift_helps_vgg_blocks(records),
        flip_shift_helps_transfer(records),
        flips_rotation_hurts_vgg_blocks(records),
        flips_alone_hurt_less(records),
        augmentation_helps_cats(confusions, class_names, best_run),
        early_stopping_ends_training(records),
    ]


VERDICT_COLUMNS = ("claim", "source", "paper", "verdict", "this_run")


def verdict_rows(verdicts: Sequence[Verdict]) -> list[dict[str, str]]:
    """Plain rows for lab_utils.report.tables.write_table (CSV + Markdown)."""
    return [{"claim": v.claim, "source": v.source, "paper": v.paper, "verdict": v.status, "this_run": v.evidence}
            for v in verdicts]


def verdicts_markdown(verdicts: Sequence[Verdict]) -> str:
    """The verdicts as a Markdown pipe table, for the notebook or README."""
    headers = dict(zip(VERDICT_COLUMNS, ("Claim", "Source", "Paper", "Verdict", "This run")))
    return markdown_table(verdict_rows(verdicts), VERDICT_COLUMNS, headers=headers)
