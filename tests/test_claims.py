"""The report's claims judged on hand-made run records, per-image correctness and confusion matrices: each rule
reproduces, is inconclusive, contradicts, and is left unchecked when its runs are missing; then the catalogue
of names, the outcome counts and the table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from lab_utils.errors import ConfigError
from lab_utils.report import claims, stats
from lab_utils.report.claims import (CLAIMS, Evidence, Verdict, check_claims, count_outcomes, outcome_sentence,
                                     verdict_rows, verdicts_markdown)
from lab_utils.training.records import RunRecord

CIFAR = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FALLING = [2.0, 1.6, 1.3, 1.1, 1.0]  # a training loss that keeps falling
IMAGES = 10_000


def record(name: str, accuracy: float = 0.5, *, val_loss: Sequence[float] = (1.0, 0.9),
           loss: Sequence[float] | None = None, epochs: int = 30, epochs_run: int | None = None,
           best_epoch: int = 1) -> RunRecord:
    """A finished run with just the fields the claims read; the rest are dummies."""
    loss = list(loss) if loss is not None else [2.0 - 0.1 * i for i in range(len(val_loss))]
    run = epochs_run if epochs_run is not None else len(val_loss)
    return RunRecord(
        config={"experiment": name, "epochs": epochs, "patience": 2}, key="k", dataset={}, epoch_seconds=[1.0] * run,
        history={"loss": loss, "accuracy": [0.5] * len(loss), "val_loss": list(val_loss),
                 "val_accuracy": [0.5] * len(val_loss)},
        best_epoch=best_epoch, params={}, test_loss=1.0, test_accuracy=accuracy, backend="tensorflow", device="cpu",
        jit_compile=False,
    )


def runs(*items: RunRecord) -> dict[str, RunRecord]:
    return {r.config["experiment"]: r for r in items}


def correct(accuracy: float, shift: int = 0, n: int = IMAGES) -> np.ndarray:
    """One seed's per-image correctness: the first `accuracy` share of the images right, rolled by `shift`.
    Equal shifts make the better run right on a superset of images (every discordant image favours it);
    different shifts make the runs disagree on many images, as two trainings do."""
    return np.roll(np.arange(n) < round(accuracy * n), shift)


def accuracies(shifts: dict[str, int] | None = None, **acc: float) -> Evidence:
    """Evidence with a record and one seed's correctness per run."""
    shifts = shifts or {}
    return Evidence(records=runs(*(record(name, a) for name, a in acc.items())),
                    correct={name: [correct(a, shifts.get(name, 0))] for name, a in acc.items()})


def confusion(errors: dict[tuple[str, str], int], names: Sequence[str] = CIFAR, per_class: int = 1000) -> np.ndarray:
    """`per_class` examples of each class, all correct except `errors[(true, predicted)]`."""
    cm = np.eye(len(names), dtype=int) * per_class
    for (true, pred), n in errors.items():
        i, j = names.index(true), names.index(pred)
        cm[i, j] += n
        cm[i, i] -= n
    return cm


def test_outcome_words() -> None:
    assert stats.OUTCOMES == ("reproduced", "inconclusive", "contradicted")
    verdict = claims.cnn_beats_mlp_on_mnist(Evidence())
    assert verdict.status == claims.NOT_CHECKED and verdict.name == "cnn_beats_mlp"


# --- accuracy claims: (rule, run, baseline, should the run be higher?) --------------------------------------

ACCURACY_RULES = [
    (claims.cnn_beats_mlp_on_mnist, "mnist_cnn", "mnist_mlp", True),
    (claims.dropout_raises_accuracy, "cifar_simple_cnn_dropout", "cifar_simple_cnn", True),
    (claims.vgg_blocks_beat_simple_cnn, "cifar_vgg", "cifar_simple_cnn_dropout", True),
    (claims.batch_norm_improves_vgg, "cifar_vgg_bn", "cifar_vgg", True),
    (claims.adam_beats_sgd_for_resnet50, "resnet50_adam", "resnet50_sgd", True),
    (claims.vgg19_beats_vgg_blocks, "vgg19_adam_bn", "cifar_vgg_bn", True),
    (claims.flips_rotation_hurts_vgg_blocks, "cifar_vgg_flip_rotate", "cifar_vgg", False),
]


@pytest.mark.parametrize(("rule", "run", "baseline", "rises"), ACCURACY_RULES)
def test_accuracy_rules_one_seed(rule, run: str, baseline: str, rises: bool) -> None:
    high, low, close = 0.5821, 0.4980, 0.5080
    shifts = {baseline: 2500}  # the two runs disagree on many images
    agree = rule(accuracies(shifts, **{run: high if rises else low, baseline: low if rises else high}))
    disagree = rule(accuracies(shifts, **{run: low if rises else high, baseline: high if rises else low}))
    near = rule(accuracies(shifts, **{run: close if rises else low, baseline: low if rises else close}))
    tie = rule(accuracies(**{run: low, baseline: low}))
    missing = rule(accuracies(**{run: high}))
    assert [v.status for v in (agree, disagree, near, tie, missing)] == [
        "reproduced", "contradicted", "inconclusive", "inconclusive", "not checked"]
    assert all(v.test.test == stats.MCNEMAR for v in (agree, disagree, near, tie))
    assert agree.test.points == pytest.approx(8.41 if rises else -8.41)
    assert f"{run} {100 * (high if rises else low):.2f} %" in agree.evidence
    assert missing.evidence == f"missing: {baseline}"


@pytest.mark.parametrize(("run_rate", "expected"), [(0.66, "reproduced"), (0.605, "inconclusive"),
                                                    (0.54, "contradicted")])
def test_accuracy_rule_several_seeds(run_rate: float, expected: str) -> None:
    rng = np.random.default_rng(0)
    noisy = {name: [np.roll(correct(rate, n=1000), int(shift)) for shift in rng.integers(0, 1000, 3)]
             for name, rate in (("cifar_vgg_bn", run_rate), ("cifar_vgg", 0.60))}
    verdict = claims.batch_norm_improves_vgg(Evidence(correct=noisy))
    assert verdict.status == expected
    assert verdict.test.test == stats.HIERARCHICAL and verdict.test.n_seeds == (3, 3)
    assert verdict.evidence.startswith(f"cifar_vgg_bn {100 * run_rate:.2f} ± 0.00 % (3 seeds) vs cifar_vgg")


def test_identical_predictions_are_inconclusive_never_reproduced() -> None:
    for seeds in (1, 3):
        same = [np.roll(correct(0.6, n=1000), 100 * s) for s in range(seeds)]
        ev = Evidence(correct={"cifar_vgg_bn": same, "cifar_vgg": [s.copy() for s in same]})
        verdict = claims.batch_norm_improves_vgg(ev)
        assert verdict.status == "inconclusive" and verdict.test.points == 0.0


def test_accuracy_evidence_reads_like_the_brief() -> None:
    verdict = claims.cnn_beats_mlp_on_mnist(accuracies(mnist_cnn=0.5821, mnist_mlp=0.498))
    assert verdict.evidence == "mnist_cnn 58.21 % vs mnist_mlp 49.80 %"
    assert verdict.line() == ("- **reproduced** — A CNN beats the one-hidden-layer network on MNIST (paper: 99.37 % "
                              f"vs 95.85 %; here: mnist_cnn 58.21 % vs mnist_mlp 49.80 %; +8.41 points, 95 % CI "
                              f"{verdict.test.low:+.2f} to {verdict.test.high:+.2f}, p = {claims.format_p(verdict.test.p)}, exact McNemar)")


def test_nan_accuracy_counts_as_missing() -> None:
    ev = accuracies(cifar_vgg_bn=0.8, cifar_vgg=0.7)
    ev.records["cifar_vgg_bn"].test_accuracy = float("nan")
    verdict = claims.batch_norm_improves_vgg(ev)
    assert verdict.status == "not checked" and "cifar_vgg_bn" in verdict.evidence


def test_records_without_correctness_are_not_checked() -> None:
    ev = Evidence(records=runs(record("mnist_cnn", 0.99), record("mnist_mlp", 0.9)))
    assert claims.cnn_beats_mlp_on_mnist(ev).evidence == "missing: mnist_cnn, mnist_mlp"


# --- overfitting (Fig. 7) -----------------------------------------------------------------------------------

def curves(*items: RunRecord) -> Evidence:
    return Evidence(records=runs(*items))


@pytest.mark.parametrize(("val_loss", "loss", "status"), [
    ([1.5, 1.2, 1.02, 1.1, 1.33], FALLING, "reproduced"),  # turns at epoch 3, +0.31 by the end
    ([1.5, 1.2, 1.1, 1.0, 0.9], FALLING, "contradicted"),  # still improving at the last of 5 epochs
    ([1.5, 1.2], FALLING[:2], "inconclusive"),  # still improving, but 2 epochs cannot show a turn
    ([1.5, 1.2, 1.02, 1.03, 1.04], FALLING, "inconclusive"),  # a rise within the noise
    ([1.5, 1.6, 1.02, 1.5, 1.04], FALLING, "inconclusive"),  # a spike, but back near the minimum at the end
    ([1.5, 1.2, 1.02, 1.1, 1.33], [2.0, 1.6, 1.3, 1.5, 1.9], "inconclusive"),  # both rise: divergence
])
def test_simple_cnn_overfits(val_loss: list[float], loss: list[float], status: str) -> None:
    verdict = claims.simple_cnn_overfits(curves(record("cifar_simple_cnn", val_loss=val_loss, loss=loss)))
    assert verdict.status == status and verdict.test is None


def test_simple_cnn_overfits_evidence_and_missing() -> None:
    verdict = claims.simple_cnn_overfits(curves(record("cifar_simple_cnn", val_loss=[1.5, 1.2, 1.02, 1.1, 1.33])))
    assert verdict.evidence == "validation loss lowest at epoch 3 (1.02), +0.31 by epoch 5"
    assert claims.simple_cnn_overfits(Evidence()).status == "not checked"
    no_val = record("cifar_simple_cnn")
    no_val.history["val_loss"] = []
    assert claims.simple_cnn_overfits(curves(no_val)).evidence == "missing: cifar_simple_cnn (loss history)"


SIMPLE = [1.5, 1.02, 1.2, 1.32, 1.4]  # lowest at epoch 2, +0.38 by epoch 5
DELAYED = [1.5, 1.3, 1.1, 0.95, 1.0]  # lowest at epoch 4, +0.05 by epoch 5


@pytest.mark.parametrize(("dropout", "status"), [
    (DELAYED, "reproduced"),  # turns later (epoch 4) and climbs less
    ([1.0, 1.005, 1.01, 1.02, 1.01], "reproduced"),  # turns at once but hardly climbs: does not overfit
    ([1.5, 1.3, 0.9, 1.2, 1.5], "inconclusive"),  # turns later but climbs more: only postponed
    ([1.5, 0.9, 1.0, 1.1, 1.2], "inconclusive"),  # turns at the same epoch and still overfits
    ([0.9, 1.0, 1.1, 1.2, 1.3], "contradicted"),  # overfits from epoch 1, before the plain CNN does
])
def test_dropout_delays_overfitting(dropout: list[float], status: str) -> None:
    verdict = claims.dropout_delays_overfitting(curves(record("cifar_simple_cnn", val_loss=SIMPLE),
                                                       record("cifar_simple_cnn_dropout", val_loss=dropout)))
    assert verdict.status == status
    assert "with dropout: validation loss lowest" in verdict.evidence and "without: " in verdict.evidence


def test_dropout_delays_overfitting_needs_both_runs() -> None:
    verdict = claims.dropout_delays_overfitting(curves(record("cifar_simple_cnn", val_loss=SIMPLE)))
    assert (verdict.status, verdict.evidence) == ("not checked", "missing: cifar_simple_cnn_dropout")


# --- confusion matrices (Figs. 8 and 11) ---------------------------------------------------------------------

def matrices(cms: dict[str, np.ndarray], names: Sequence[str] = CIFAR, best_run: str | None = None) -> Evidence:
    return Evidence(confusions=cms, class_names=names, best_run=best_run)


@pytest.mark.parametrize(("errors", "per_class", "status"), [
    ({("cat", "dog"): 300, ("bird", "deer"): 200, ("dog", "cat"): 150}, 1000, "reproduced"),  # 70 vs 80 % of 1,000
    ({("cat", "dog"): 30, ("bird", "deer"): 20, ("dog", "cat"): 15}, 100, "inconclusive"),  # 70 vs 80 % of 100
    ({("bird", "deer"): 400, ("cat", "dog"): 100}, 1000, "contradicted"),  # bird far worse than cat
])
def test_cat_is_hardest_class(errors: dict, per_class: int, status: str) -> None:
    verdict = claims.cat_is_hardest_class(matrices({"cifar_vgg_bn": confusion(errors, per_class=per_class)}))
    assert verdict.status == status and verdict.test.test == stats.UNPAIRED
    if per_class == 100:
        assert verdict.evidence == "hardest in cifar_vgg_bn: cat 70.00 %, bird 80.00 %, dog 85.00 %; cat vs bird"
        assert verdict.test.points == pytest.approx(-10.0)


def test_cat_is_hardest_class_not_checked() -> None:
    assert claims.cat_is_hardest_class(matrices({})).evidence == "missing: confusion matrix of cifar_vgg_bn"
    digits = [str(d) for d in range(10)]
    assert claims.cat_is_hardest_class(matrices({"cifar_vgg_bn": np.eye(10, dtype=int)}, digits)).status == "not checked"
    with pytest.raises(ValueError, match="does not match"):
        claims.cat_is_hardest_class(matrices({"cifar_vgg_bn": np.eye(3, dtype=int)}))


@pytest.mark.parametrize(("errors", "status"), [
    ({("cat", "dog"): 200, ("dog", "cat"): 150, ("bird", "deer"): 100}, "reproduced"),  # 350 both ways vs 100
    ({("cat", "dog"): 20, ("dog", "cat"): 15, ("bird", "deer"): 30}, "inconclusive"),  # 35 vs 30
    ({("cat", "dog"): 20, ("dog", "cat"): 15, ("automobile", "truck"): 30, ("truck", "automobile"): 20},
     "inconclusive"),  # 35 vs 50
    ({("cat", "dog"): 20, ("dog", "cat"): 15, ("automobile", "truck"): 90, ("truck", "automobile"): 60},
     "contradicted"),  # 35 vs 150
    ({}, "inconclusive"),  # a perfect model confuses nothing: no evidence either way
])
def test_cats_and_dogs_confused_most(errors: dict, status: str) -> None:
    verdict = claims.cats_and_dogs_confused_most(matrices({"cifar_vgg_bn": confusion(errors)}))
    assert verdict.status == status and verdict.test.test == stats.MCNEMAR
    if not errors:
        assert verdict.evidence == "most confused in cifar_vgg_bn: no confusions"


def test_cats_and_dogs_evidence_and_missing() -> None:
    cm = confusion({("cat", "dog"): 20, ("dog", "cat"): 15, ("automobile", "truck"): 9})
    verdict = claims.cats_and_dogs_confused_most(matrices({"cifar_vgg_bn": cm}))
    assert verdict.evidence == "most confused in cifar_vgg_bn: cat↔dog 35, automobile↔truck 9"
    assert verdict.test.points == pytest.approx(100 * (35 - 9) / cm.sum())
    assert claims.cats_and_dogs_confused_most(matrices({})).status == "not checked"


@pytest.mark.parametrize(("cats_wrong_before", "cats_wrong_after", "per_class", "status"), [
    (320, 240, 1000, "reproduced"), (32, 24, 100, "inconclusive"), (320, 400, 1000, "contradicted")])
def test_augmentation_helps_cats(cats_wrong_before: int, cats_wrong_after: int, per_class: int, status: str) -> None:
    cms = {"cifar_vgg_bn": confusion({("cat", "dog"): cats_wrong_before}, per_class=per_class),
           "best": confusion({("cat", "dog"): cats_wrong_after}, per_class=per_class)}
    verdict = claims.augmentation_helps_cats(matrices(cms, best_run="best"))
    assert verdict.status == status
    if per_class == 100:
        assert verdict.evidence == "cats correct: cifar_vgg_bn 68.00 % → best 76.00 %"
        assert verdict.test.points == pytest.approx(8.0)


def test_augmentation_helps_cats_not_checked() -> None:
    before = {"cifar_vgg_bn": confusion({})}
    assert claims.augmentation_helps_cats(matrices(before)).evidence == "missing: the best augmented run's name"
    assert claims.augmentation_helps_cats(matrices(before, best_run="best")).evidence == (
        "missing: confusion matrix of best")
    assert claims.augmentation_helps_cats(matrices({"best": confusion({})}, best_run="best")).status == "not checked"


# --- augmentation pairs (Table III and V-B.4): several comparisons per claim ---------------------------------

VGG_PAIRS = {"cifar_vgg": 0.80, "cifar_vgg_flip_shift": 0.86, "cifar_vgg_bn": 0.84, "cifar_vgg_bn_flip_shift": 0.90}
SHIFTED = {"cifar_vgg": 2500, "cifar_vgg_bn": 2500}  # baselines disagree with their augmented runs on many images


@pytest.mark.parametrize(("change", "status"), [
    ({}, "reproduced"),
    ({"cifar_vgg_bn_flip_shift": 0.845}, "inconclusive"),  # one pair within the noise
    ({"cifar_vgg_bn_flip_shift": 0.78}, "contradicted"),  # one pair significantly worse
    ({"cifar_vgg_bn_flip_shift": None}, "not checked"),
])
def test_flip_shift_helps_vgg_blocks(change: dict, status: str) -> None:
    acc = {name: a for name, a in {**VGG_PAIRS, **change}.items() if a is not None}
    verdict = claims.flip_shift_helps_vgg_blocks(accuracies(SHIFTED, **acc))
    assert verdict.status == status
    if status == "reproduced":
        assert verdict.evidence.startswith("cifar_vgg_flip_shift vs cifar_vgg +6.00 (p = ")
    if status in ("inconclusive", "contradicted"):  # the deciding comparison is the one that failed
        assert verdict.test.points == pytest.approx(100 * (change["cifar_vgg_bn_flip_shift"] - 0.84))
    if status == "not checked":
        assert verdict.evidence == "missing: cifar_vgg_bn_flip_shift"


@pytest.mark.parametrize(("acc", "status", "count"), [
    ({"resnet50_sgd": 0.75, "resnet50_sgd_flip_shift": 0.82, "vgg19_adam_bn": 0.80,
      "vgg19_adam_bn_flip_shift": 0.88, "vgg19_adam_flip_shift": 0.88}, "reproduced", "2 of 2 reproduced"),
    ({"resnet50_sgd": 0.75, "resnet50_sgd_flip_shift": 0.82, "resnet50_adam": 0.81,
      "resnet50_adam_flip_shift": 0.80}, "inconclusive", "1 of 2 reproduced"),
    ({"resnet50_sgd": 0.75, "vgg19_adam_flip_shift": 0.88}, "not checked", "missing: "),
])
def test_flip_shift_helps_transfer(acc: dict[str, float], status: str, count: str) -> None:
    verdict = claims.flip_shift_helps_transfer(accuracies({"resnet50_sgd": 2500, "resnet50_adam": 2500,
                                                           "vgg19_adam_bn": 2500}, **acc))
    assert verdict.status == status
    assert verdict.evidence.startswith(count)


@pytest.mark.parametrize(("flip", "status"), [(0.78, "reproduced"), (0.835, "inconclusive"), (0.70, "contradicted")])
def test_flips_alone_hurt_less(flip: float, status: str) -> None:
    ev = accuracies({"cifar_vgg_flip": 2500}, cifar_vgg=0.84, cifar_vgg_flip=flip, cifar_vgg_flip_rotate=0.73)
    verdict = claims.flips_alone_hurt_less(ev)
    assert verdict.status == status
    assert verdict.evidence.startswith(f"cifar_vgg_flip vs cifar_vgg {100 * (flip - 0.84):+.2f} (p = ")


def test_flips_alone_needs_the_rotated_run() -> None:
    verdict = claims.flips_alone_hurt_less(accuracies(cifar_vgg=0.81, cifar_vgg_flip=0.78))
    assert (verdict.status, verdict.evidence) == ("not checked", "missing: cifar_vgg_flip_rotate")
    alone = claims.flips_alone_hurt_less(accuracies(cifar_vgg_flip_rotate=0.78))
    assert alone.evidence == "missing: cifar_vgg_flip, cifar_vgg"  # each run named once


# --- early stopping (Fig. 10) --------------------------------------------------------------------------------

def test_early_stopping_ends_training() -> None:
    stopped = record("cifar_vgg", epochs=30, epochs_run=12, best_epoch=10)
    full = record("mnist_cnn", epochs=30, epochs_run=30, best_epoch=30)
    verdict = claims.early_stopping_ends_training(curves(stopped, full))
    assert verdict.status == "reproduced"
    assert verdict.evidence == ("1 of 2 runs stopped before their epoch budget "
                                "(e.g. cifar_vgg at 12 of 30, best epoch 10, patience 2)")
    none_stopped = claims.early_stopping_ends_training(curves(full))
    assert (none_stopped.status, none_stopped.evidence) == ("contradicted", "0 of 1 runs stopped before their epoch budget")
    assert claims.early_stopping_ends_training(Evidence()).status == "not checked"
    no_room = claims.early_stopping_ends_training(curves(record("mnist_cnn", epochs=3, epochs_run=3)))  # patience 2
    assert (no_room.status, no_room.evidence) == ("not checked", "missing: runs whose epoch budget exceeds patience + 1")


# --- all claims, their names and their table ---------------------------------------------------------------------

PAPER_ACCURACY = {
    "mnist_mlp": 0.9585, "mnist_cnn": 0.9937, "cifar_simple_cnn": 0.6310, "cifar_simple_cnn_dropout": 0.7424,
    "cifar_vgg": 0.8189, "cifar_vgg_bn": 0.8442, "resnet50_sgd": 0.7552, "resnet50_adam": 0.8085,
    "vgg19_adam_bn": 0.8497, "cifar_vgg_flip_shift": 0.8351, "cifar_vgg_bn_flip_shift": 0.8711,
    "resnet50_sgd_flip_shift": 0.8227, "resnet50_adam_flip_shift": 0.8474, "resnet50_adam_bn_flip_shift": 0.845,
    "vgg19_adam_flip_shift": 0.8801, "vgg19_adam_bn_flip_shift": 0.8811, "cifar_vgg_flip_rotate": 0.7669,
    "cifar_vgg_flip": 0.7819,
}


def paper_like_run() -> tuple[dict[str, RunRecord], dict[str, np.ndarray], dict[str, list[np.ndarray]]]:
    """The paper's accuracies on 10,000 images (each better run right on a superset of images) and matrices
    shaped like Fig. 8 and 11 with 1,000 images a class, so every claim should be reproduced."""
    records = {name: record(name, acc, epochs=200, epochs_run=44, best_epoch=24)
               for name, acc in PAPER_ACCURACY.items()}
    records["cifar_simple_cnn"] = record("cifar_simple_cnn", 0.631, val_loss=SIMPLE)
    records["cifar_simple_cnn_dropout"] = record("cifar_simple_cnn_dropout", 0.7424, val_loss=DELAYED)
    correctness = {name: [correct(acc, n=10_000)] for name, acc in PAPER_ACCURACY.items()}
    confusions = {"cifar_vgg_bn": confusion({("cat", "dog"): 320, ("dog", "cat"): 150, ("bird", "deer"): 200}),
                  "vgg19_adam_bn_flip_shift": confusion({("cat", "dog"): 240, ("dog", "cat"): 100})}
    return records, confusions, correctness


def test_check_claims_reproduces_a_paper_like_run_in_report_order() -> None:
    records, confusions, correctness = paper_like_run()
    verdicts = check_claims(records, confusions, CIFAR, correct=correctness, best_run="vgg19_adam_bn_flip_shift")
    assert [v.name for v in verdicts] == list(CLAIMS) and len(verdicts) == 16
    assert [v.status for v in verdicts] == ["reproduced"] * 16, [(v.name, v.evidence) for v in verdicts]
    assert verdicts[0].claim.startswith("A CNN beats") and verdicts[-1].claim == "Early stopping ends training"
    assert verdicts[6] == claims.cat_is_hardest_class(Evidence(records, confusions, CIFAR, correctness))
    assert verdicts[11].evidence.startswith("3 of 3 reproduced: resnet50_sgd_flip_shift vs resnet50_sgd +6.75")
    assert count_outcomes(verdicts) == {"reproduced": 16, "inconclusive": 0, "contradicted": 0, "not checked": 0}


def test_check_claims_without_runs_checks_nothing() -> None:
    verdicts = check_claims({}, {}, CIFAR)
    assert len(verdicts) == 16
    assert {v.status for v in verdicts} == {"not checked"}
    assert all(v.evidence.startswith("missing: ") for v in verdicts)
    assert outcome_sentence(verdicts) == "0 reproduced, 0 inconclusive, 0 contradicted, 16 not checked (of 16 claims)"


def test_claims_are_selected_by_name() -> None:
    records, confusions, correctness = paper_like_run()
    picked = check_claims(records, confusions, CIFAR, correct=correctness,
                          names=["batch_norm_helps_vgg", "cnn_beats_mlp"])
    assert [v.name for v in picked] == ["batch_norm_helps_vgg", "cnn_beats_mlp"]
    with pytest.raises(ConfigError, match=r"unknown claim 'dropout_helps'.*cnn_beats_mlp, simple_cnn_overfits"):
        check_claims(records, confusions, CIFAR, names=["cnn_beats_mlp", "dropout_helps"])
    assert len(set(CLAIMS)) == 16 and all(name.isidentifier() for name in CLAIMS)


def test_count_outcomes_and_sentence() -> None:
    verdicts = [Verdict("n", "c", "s", "p", status, "e") for status in
                ("reproduced", "inconclusive", "reproduced", "contradicted", "not checked")]
    assert count_outcomes(verdicts) == {"reproduced": 2, "inconclusive": 1, "contradicted": 1, "not checked": 1}
    assert outcome_sentence(verdicts) == "2 reproduced, 1 inconclusive, 1 contradicted, 1 not checked (of 5 claims)"
    assert outcome_sentence(verdicts[:2]) == "1 reproduced, 1 inconclusive, 0 contradicted (of 2 claims)"


def test_verdict_rows_and_markdown() -> None:
    tested = stats.Difference(2.5, 0.4, 4.6, 0.000123, stats.MCNEMAR, (1, 1))
    verdicts = [Verdict("a", "a | b", "V-A", "1 % vs 2 %", "reproduced", "x|y", tested),
                Verdict("c", "c", "V-B", "p", "not checked", "missing: r")]
    rows = verdict_rows(verdicts)
    assert [tuple(row) for row in rows] == [claims.VERDICT_COLUMNS] * 2
    assert rows[0] | {} == {"name": "a", "claim": "a | b", "source": "V-A", "paper": "1 % vs 2 %",
                            "verdict": "reproduced", "this_run": "x|y", "test": "exact McNemar", "difference": 2.5,
                            "ci_low": 0.4, "ci_high": 4.6, "p": "1.2e-04"}
    assert rows[1]["verdict"] == "not checked" and rows[1]["p"] is None
    lines = verdicts_markdown(verdicts).strip().splitlines()
    assert lines[0] == ("| Claim | Source | Paper | Verdict | This run | Test | Difference (points) | 95 % CI low "
                        "| 95 % CI high | p |")
    assert lines[2] == r"| a \| b | V-A | 1 % vs 2 % | reproduced | x\|y | exact McNemar | 2.50 | 0.40 | 4.60 | 1.2e-04 |"
    assert len(lines) == 4
