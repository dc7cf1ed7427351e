"""The report's claims checked on hand-made run records and confusion matrices: each rule holds, fails and is
left unchecked when its runs are missing; then the whole list and its table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from lab_utils.report import claims
from lab_utils.report.claims import Verdict, check_claims, verdict_rows, verdicts_markdown
from lab_utils.training.records import RunRecord

CIFAR = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FALLING = [2.0, 1.6, 1.3, 1.1, 1.0]  # a training loss that keeps falling


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


def accuracies(**acc: float) -> dict[str, RunRecord]:
    return runs(*(record(name, a) for name, a in acc.items()))


def confusion(errors: dict[tuple[str, str], int], names: Sequence[str] = CIFAR, per_class: int = 100) -> np.ndarray:
    """`per_class` examples of each class, all correct except `errors[(true, predicted)]`."""
    cm = np.eye(len(names), dtype=int) * per_class
    for (true, pred), n in errors.items():
        i, j = names.index(true), names.index(pred)
        cm[i, j] += n
        cm[i, i] -= n
    return cm


def test_status_words() -> None:
    assert [Verdict("c", "s", "p", h, "e").status for h in (True, False, None)] == [
        "reproduced", "not reproduced", "not checked"]


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
def test_accuracy_rules(rule, run: str, baseline: str, rises: bool) -> None:
    high, low = 0.5821, 0.4980
    agree = rule(accuracies(**{run: high if rises else low, baseline: low if rises else high}))
    disagree = rule(accuracies(**{run: low if rises else high, baseline: high if rises else low}))
    tie = rule(accuracies(**{run: low, baseline: low}))
    missing = rule(accuracies(**{run: high}))
    assert (agree.holds, disagree.holds, tie.holds, missing.holds) == (True, False, False, None)
    sign = "+" if rises else "-"
    assert f"{run} {100 * (high if rises else low):.2f} %" in agree.evidence
    assert f"({sign}8.41)" in agree.evidence
    assert missing.evidence == f"missing: {baseline}"


def test_accuracy_evidence_reads_like_the_brief() -> None:
    verdict = claims.cnn_beats_mlp_on_mnist(accuracies(mnist_cnn=0.5821, mnist_mlp=0.498))
    assert verdict.evidence == "mnist_cnn 58.21 % vs mnist_mlp 49.80 % (+8.41)"


def test_nan_accuracy_counts_as_missing() -> None:
    verdict = claims.batch_norm_improves_vgg(accuracies(cifar_vgg_bn=float("nan"), cifar_vgg=0.8))
    assert verdict.holds is None and "cifar_vgg_bn" in verdict.evidence


# --- overfitting (Fig. 7) -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("val_loss", "loss", "holds"), [
    ([1.5, 1.2, 1.02, 1.1, 1.33], FALLING, True),  # turns at epoch 3, +0.31 by the end
    ([1.5, 1.2, 1.1, 1.0, 0.9], FALLING, False),  # still improving at the last epoch
    ([1.5, 1.2, 1.02, 1.03, 1.04], FALLING, False),  # a rise within the noise
    ([1.5, 1.6, 1.02, 1.5, 1.04], FALLING, False),  # a spike, but back near the minimum at the end
    ([1.5, 1.2, 1.02, 1.1, 1.33], [2.0, 1.6, 1.3, 1.5, 1.9], False),  # both rise: divergence, not overfitting
])
def test_simple_cnn_overfits(val_loss: list[float], loss: list[float], holds: bool) -> None:
    verdict = claims.simple_cnn_overfits(runs(record("cifar_simple_cnn", val_loss=val_loss, loss=loss)))
    assert verdict.holds is holds


def test_simple_cnn_overfits_evidence_and_missing() -> None:
    verdict = claims.simple_cnn_overfits(runs(record("cifar_simple_cnn", val_loss=[1.5, 1.2, 1.02, 1.1, 1.33])))
    assert verdict.evidence == "validation loss lowest at epoch 3 (1.02), +0.31 by epoch 5"
    assert claims.simple_cnn_overfits({}).holds is None
    no_val = record("cifar_simple_cnn")
    no_val.history["val_loss"] = []
    assert claims.simple_cnn_overfits(runs(no_val)).evidence == "missing: cifar_simple_cnn (loss history)"


SIMPLE = [1.5, 1.02, 1.2, 1.32, 1.4]  # lowest at epoch 2, +0.38 by epoch 5
DELAYED = [1.5, 1.3, 1.1, 0.95, 1.0]  # lowest at epoch 4, +0.05 by epoch 5


@pytest.mark.parametrize(("dropout", "holds"), [
    (DELAYED, True),  # turns later (epoch 4) and climbs less
    ([1.0, 1.005, 1.01, 1.02, 1.01], True),  # turns at once but hardly climbs: does not overfit
    ([1.5, 1.3, 0.9, 1.2, 1.5], False),  # turns later but climbs more: only postponed
    ([1.5, 0.9, 1.0, 1.1, 1.2], False),  # turns at the same epoch and still overfits
])
def test_dropout_delays_overfitting(dropout: list[float], holds: bool) -> None:
    verdict = claims.dropout_delays_overfitting(runs(record("cifar_simple_cnn", val_loss=SIMPLE),
                                                     record("cifar_simple_cnn_dropout", val_loss=dropout)))
    assert verdict.holds is holds
    assert "with dropout: validation loss lowest" in verdict.evidence and "without: " in verdict.evidence


def test_dropout_delays_overfitting_needs_both_runs() -> None:
    verdict = claims.dropout_delays_overfitting(runs(record("cifar_simple_cnn", val_loss=SIMPLE)))
    assert (verdict.holds, verdict.evidence) == (None, "missing: cifar_simple_cnn_dropout")


# --- confusion matrices (Figs. 8 and 11) ---------------------------------------------------------------------

def test_cat_is_hardest_class() -> None:
    cm = confusion({("cat", "dog"): 30, ("bird", "deer"): 20, ("dog", "cat"): 15})
    verdict = claims.cat_is_hardest_class({"cifar_vgg_bn": cm}, CIFAR)
    assert verdict.holds is True
    assert verdict.evidence == "hardest in cifar_vgg_bn: cat 70.00 %, bird 80.00 %, dog 85.00 %"
    worse_bird = confusion({("bird", "deer"): 40, ("cat", "dog"): 10})
    assert claims.cat_is_hardest_class({"cifar_vgg_bn": worse_bird}, CIFAR).holds is False


def test_cat_is_hardest_class_not_checked() -> None:
    assert claims.cat_is_hardest_class({}, CIFAR).evidence == "missing: confusion matrix of cifar_vgg_bn"
    digits = [str(d) for d in range(10)]
    assert claims.cat_is_hardest_class({"cifar_vgg_bn": np.eye(10, dtype=int)}, digits).holds is None
    with pytest.raises(ValueError, match="does not match"):
        claims.cat_is_hardest_class({"cifar_vgg_bn": np.eye(3, dtype=int)}, CIFAR)


@pytest.mark.parametrize(("errors", "holds"), [
    ({("cat", "dog"): 20, ("dog", "cat"): 15, ("bird", "deer"): 30}, True),  # 35 both ways beats 30 one way
    ({("cat", "dog"): 20, ("dog", "cat"): 15, ("automobile", "truck"): 30, ("truck", "automobile"): 20}, False),
    ({}, False),  # a perfect model confuses nothing
])
def test_cats_and_dogs_confused_most(errors: dict, holds: bool) -> None:
    verdict = claims.cats_and_dogs_confused_most({"cifar_vgg_bn": confusion(errors)}, CIFAR)
    assert verdict.holds is holds
    if not errors:
        assert verdict.evidence == "most confused in cifar_vgg_bn: no confusions"


def test_cats_and_dogs_evidence_and_missing() -> None:
    cm = confusion({("cat", "dog"): 20, ("dog", "cat"): 15, ("automobile", "truck"): 9})
    verdict = claims.cats_and_dogs_confused_most({"cifar_vgg_bn": cm}, CIFAR)
    assert verdict.evidence == "most confused in cifar_vgg_bn: cat↔dog 35, automobile↔truck 9"
    assert claims.cats_and_dogs_confused_most({}, CIFAR).holds is None


@pytest.mark.parametrize(("cats_wrong_after", "holds"), [(24, True), (32, False), (40, False)])
def test_augmentation_helps_cats(cats_wrong_after: int, holds: bool) -> None:
    cms = {"cifar_vgg_bn": confusion({("cat", "dog"): 32}), "best": confusion({("cat", "dog"): cats_wrong_after})}
    verdict = claims.augmentation_helps_cats(cms, CIFAR, "best")
    assert verdict.holds is holds
    if holds:
        assert verdict.evidence == "cats correct: cifar_vgg_bn 68.00 % → best 76.00 % (+8.00)"


def test_augmentation_helps_cats_not_checked() -> None:
    before = {"cifar_vgg_bn": confusion({})}
    assert claims.augmentation_helps_cats(before, CIFAR, None).evidence == "missing: the best augmented run's name"
    assert claims.augmentation_helps_cats(before, CIFAR, "best").evidence == "missing: confusion matrix of best"
    assert claims.augmentation_helps_cats({"best": confusion({})}, CIFAR, "best").holds is None


# --- augmentation pairs (Table III and V-B.4) --------------------------------------------------------------

@pytest.mark.parametrize(("acc", "holds"), [
    ({"cifar_vgg": 0.80, "cifar_vgg_flip_shift": 0.83, "cifar_vgg_bn": 0.84, "cifar_vgg_bn_flip_shift": 0.87}, True),
    ({"cifar_vgg": 0.80, "cifar_vgg_flip_shift": 0.83, "cifar_vgg_bn": 0.84, "cifar_vgg_bn_flip_shift": 0.83}, False),
    ({"cifar_vgg": 0.80, "cifar_vgg_flip_shift": 0.83, "cifar_vgg_bn": 0.84}, None),
])
def test_flip_shift_helps_vgg_blocks(acc: dict[str, float], holds: bool | None) -> None:
    verdict = claims.flip_shift_helps_vgg_blocks(accuracies(**acc))
    assert verdict.holds is holds
    if holds:
        assert verdict.evidence == "gain with flip_shift (points): cifar_vgg +3.00, cifar_vgg_bn +3.00"
    if holds is None:
        assert verdict.evidence == "missing: cifar_vgg_bn_flip_shift"


@pytest.mark.parametrize(("acc", "holds", "count"), [
    ({"resnet50_sgd": 0.75, "resnet50_sgd_flip_shift": 0.82, "vgg19_adam_bn": 0.85,
      "vgg19_adam_bn_flip_shift": 0.88, "vgg19_adam_flip_shift": 0.88}, True, "2 of 2 improved"),
    ({"resnet50_sgd": 0.75, "resnet50_sgd_flip_shift": 0.82, "resnet50_adam": 0.81,
      "resnet50_adam_flip_shift": 0.80}, False, "1 of 2 improved"),
    ({"resnet50_sgd": 0.75, "vgg19_adam_flip_shift": 0.88}, None, "missing: "),
])
def test_flip_shift_helps_transfer(acc: dict[str, float], holds: bool | None, count: str) -> None:
    verdict = claims.flip_shift_helps_transfer(accuracies(**acc))
    assert verdict.holds is holds
    assert verdict.evidence.startswith(count)


@pytest.mark.parametrize(("flip", "holds"), [(0.78, True), (0.75, False), (0.82, False)])
def test_flips_alone_hurt_less(flip: float, holds: bool) -> None:
    verdict = claims.flips_alone_hurt_less(accuracies(cifar_vgg=0.81, cifar_vgg_flip=flip, cifar_vgg_flip_rotate=0.76))
    assert verdict.holds is holds
    if holds:
        assert verdict.evidence == "cifar_vgg_flip 78.00 %: -3.00 vs cifar_vgg, +2.00 vs cifar_vgg_flip_rotate"


def test_flips_alone_needs_the_rotated_run() -> None:
    verdict = claims.flips_alone_hurt_less(accuracies(cifar_vgg=0.81, cifar_vgg_flip=0.78))
    assert (verdict.holds, verdict.evidence) == (None, "missing: cifar_vgg_flip_rotate")


# --- early stopping (Fig. 10) --------------------------------------------------------------------------------

def test_early_stopping_ends_training() -> None:
    stopped = record("cifar_vgg", epochs=30, epochs_run=12, best_epoch=10)
    full = record("mnist_cnn", epochs=30, epochs_run=30, best_epoch=30)
    verdict = claims.early_stopping_ends_training(runs(stopped, full))
    assert verdict.holds is True
    assert verdict.evidence == ("1 of 2 runs stopped before their epoch budget "
                                "(e.g. cifar_vgg at 12 of 30, best epoch 10, patience 2)")
    none_stopped = claims.early_stopping_ends_training(runs(full))
    assert (none_stopped.holds, none_stopped.evidence) == (False, "0 of 1 runs stopped before their epoch budget")
    assert claims.early_stopping_ends_training({}).holds is None


# --- all claims and their table ------------------------------------------------------------------------------

PAPER_ACCURACY = {
    "mnist_mlp": 0.9585, "mnist_cnn": 0.9937, "cifar_simple_cnn": 0.6310, "cifar_simple_cnn_dropout": 0.7424,
    "cifar_vgg": 0.8189, "cifar_vgg_bn": 0.8442, "resnet50_sgd": 0.7552, "resnet50_adam": 0.8085,
    "vgg19_adam_bn": 0.8497, "cifar_vgg_flip_shift": 0.8351, "cifar_vgg_bn_flip_shift": 0.8711,
    "resnet50_sgd_flip_shift": 0.8227, "resnet50_adam_flip_shift": 0.8474, "resnet50_adam_bn_flip_shift": 0.845,
    "vgg19_adam_flip_shift": 0.8801, "vgg19_adam_bn_flip_shift": 0.8811, "cifar_vgg_flip_rotate": 0.7669,
    "cifar_vgg_flip": 0.7819,
}


def paper_like_run() -> tuple[dict[str, RunRecord], dict[str, np.ndarray]]:
    """Records and matrices shaped like the paper's results, so every claim should be reproduced."""
    records = {name: record(name, acc, epochs=200, epochs_run=44, best_epoch=24)
               for name, acc in PAPER_ACCURACY.items()}
    records["cifar_simple_cnn"] = record("cifar_simple_cnn", 0.631, val_loss=SIMPLE)
    records["cifar_simple_cnn_dropout"] = record("cifar_simple_cnn_dropout", 0.7424, val_loss=DELAYED)
    confusions = {"cifar_vgg_bn": confusion({("cat", "dog"): 32, ("dog", "cat"): 15, ("bird", "deer"): 20}),
                  "vgg19_adam_bn_flip_shift": confusion({("cat", "dog"): 24, ("dog", "cat"): 10})}
    return records, confusions


def test_check_claims_reproduces_a_paper_like_run_in_report_order() -> None:
    records, confusions = paper_like_run()
    verdicts = check_claims(records, confusions, CIFAR, best_run="vgg19_adam_bn_flip_shift")
    assert len(verdicts) == 16
    assert [v.status for v in verdicts] == ["reproduced"] * 16, [(v.claim, v.evidence) for v in verdicts]
    assert verdicts[0].claim.startswith("A CNN beats") and verdicts[-1].claim == "Early stopping ends training"
    assert verdicts[6] == claims.cat_is_hardest_class(confusions, CIFAR)
    assert verdicts[11].evidence == "3 of 3 improved: resnet50_sgd +6.75, resnet50_adam +3.89, vgg19_adam_bn +3.14"


def test_check_claims_without_runs_checks_nothing() -> None:
    verdicts = check_claims({}, {}, CIFAR)
    assert len(verdicts) == 16
    assert {v.status for v in verdicts} == {"not checked"}
    assert all(v.evidence.startswith("missing: ") for v in verdicts)


def test_verdict_rows_and_markdown() -> None:
    verdicts = [Verdict("a | b", "V-A", "1 % vs 2 %", True, "x|y"), Verdict("c", "V-B", "p", None, "missing: r")]
    rows = verdict_rows(verdicts)
    assert [list(row) for row in rows] == [["claim", "source", "paper", "verdict", "this_run"]] * 2
    assert rows[1]["verdict"] == "not checked" and rows[1]["this_run"] == "missing: r"
    table = verdicts_markdown(verdicts)
    lines = table.strip().splitlines()
    assert lines[0] == "| Claim | Source | Paper | Verdict | This run |"
    assert lines[2] == r"| a \| b | V-A | 1 % vs 2 % | reproduced | x\|y |"
    assert len(lines) == 4
