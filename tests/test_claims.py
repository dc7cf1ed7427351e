"""The report's claims judged on hand-made per-seed run records: the four outcomes, one Holm family, multi-pair
claims by intersection-union, scope ("not checked" with the reason), class claims with fixed rivals, curve and
timing checks reported apart, and the table and tallies a reader sees."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from lab_utils.errors import ConfigError
from lab_utils.report import claims, stats, verdicts
from lab_utils.report.claims import CLAIMS, check_claims
from lab_utils.report.paper import AUG_FLIP_SHIFT, PAPER_RESULTS
from lab_utils.report.stats import (
    CONTRADICTED,
    DOES_NOT_HOLD,
    HOLDS,
    NOT_CHECKED,
    REPRODUCED,
    RULES_OUT,
    UNCLEAR,
    UNDERPOWERED,
)
from lab_utils.training.records import RunRecord

CIFAR = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
N = 2000
Y = np.arange(N) % 10  # 200 images of each class


def record(
    name: str,
    predictions: np.ndarray,
    *,
    val_loss: Sequence[float] = (1.0, 0.9, 0.8),
    epochs: int = 30,
    weights: str | None = None,
    seconds: float = 1.0,
    device: str = "cpu",
) -> RunRecord:
    """A finished run with just the fields the claims read."""
    config = {
        "experiment": name,
        "epochs": epochs,
        "patience": 2,
        "architecture": "transfer" if name.startswith(("resnet", "vgg19")) else "cnn",
        "model_kwargs": {"weights": weights},
    }
    run = len(val_loss)
    return RunRecord(
        config=config,
        key="k",
        dataset={"name": "cifar10"},
        epoch_seconds=[seconds] * run,
        history={"loss": [2.0 - 0.1 * i for i in range(run)], "val_loss": list(val_loss)},
        best_epoch=int(np.argmin(val_loss)) + 1,
        params={},
        test_loss=1.0,
        test_accuracy=float(np.mean(predictions == Y)),
        backend="tensorflow",
        device=device,
        jit_compile=False,
        test_predictions=[int(p) for p in predictions],
    )


def predictions(accuracy: float, seed: int, sd: float = 0.0) -> np.ndarray:
    """One seed's predictions: right on about `accuracy` of the images (varied by `sd`), wrong as class + 1."""
    rng = np.random.default_rng(seed)
    right = rng.random(N) < accuracy + rng.normal(0, sd)
    return np.where(right, Y, (Y + 1) % 10)


def seeds(name: str, accuracy: float, k: int, *, sd: float = 0.0, **kwargs) -> list[RunRecord]:
    """k seeds of a run; seeds of different runs are independent (a stable number from the name)."""
    first = 100 * sum(map(ord, name))
    return [record(name, predictions(accuracy, first + s, sd), **kwargs) for s in range(k)]


def judge(runs: dict[str, list[RunRecord]], names=None, **kwargs) -> list[verdicts.Verdict]:
    return check_claims(runs, {"cifar10": Y, "mnist": Y}, CIFAR, names=names, **kwargs)


def one(runs: dict[str, list[RunRecord]], name: str) -> verdicts.Verdict:
    return judge(runs, [name])[0]


def test_the_outcome_words_live_in_one_catalogue() -> None:
    assert stats.OUTCOMES == (
        "reproduced",
        "contradicted",
        "rules out the report's effect",
        "inconclusive — underpowered",
    )
    assert stats.CHECK_OUTCOMES == ("holds", "does not hold", "unclear") and stats.NOT_CHECKED == "not checked"
    assert set(CLAIMS) >= {
        "automobile_truck_confused",
        "resnet50_adam_below_vgg",
        "resnet50_sgd_near_simple_cnn",
        "batch_norm_no_effect_transfer",
        "augmented_vgg19_best",
        "augmentation_slows_training",
    }
    with pytest.raises(ConfigError, match="unknown claim 'nope'"):
        claims.select(["nope"])


# --- accuracy claims: four outcomes, seeds as the unit --------------------------------------------------------


@pytest.mark.parametrize(
    ("bn", "k", "sd", "expected"),
    [
        (0.80, 5, 0.01, REPRODUCED),
        (0.60, 5, 0.01, CONTRADICTED),
        (0.70, 5, 0.005, RULES_OUT),
        (0.71, 2, 0.02, UNDERPOWERED),
    ],
)
def test_four_outcomes_of_a_method_claim(bn: float, k: int, sd: float, expected: str) -> None:
    """Batch norm's claimed gain is +2.53 points; k seeds of 2,000 images each side, seed SD `sd`."""
    runs = {"cifar_vgg_bn": seeds("cifar_vgg_bn", bn, k, sd=sd), "cifar_vgg": seeds("cifar_vgg", 0.70, k, sd=sd)}
    v = one(runs, "batch_norm_helps_vgg")
    assert v.status == expected, v.line()
    # cifar_vgg_bn also feeds the three class claims: a family of 4 tests
    assert v.unit == f"method, {k} seeds" and v.test.test == stats.SEEDS_T and v.family == 4
    assert v.report == pytest.approx(2.53) and v.detectable > 0
    if expected == RULES_OUT:
        assert v.test.high < 2.53 and v.test.low < 0 < v.test.high


def test_one_seed_speaks_to_these_two_models_only() -> None:
    runs = {"cifar_vgg_bn": seeds("cifar_vgg_bn", 0.80, 1), "cifar_vgg": seeds("cifar_vgg", 0.70, 1)}
    v = one(runs, "batch_norm_helps_vgg")
    assert (v.status, v.unit, v.test.test) == (REPRODUCED, "these two models", stats.MCNEMAR)
    sentence = verdicts.outcome_sentence([v], "commit abc, 1 seed per run, cpu")
    assert "tests of these trained models only (one seed: not a verdict on the methods" in sentence
    assert "tests of the methods" not in sentence and sentence.endswith("— commit abc, 1 seed per run, cpu")


def test_holm_over_every_tested_claim_of_the_run() -> None:
    runs = {
        name: seeds(name, acc, 3, sd=0.01)
        for name, acc in [
            ("mnist_cnn", 0.9),
            ("mnist_mlp", 0.88),
            ("cifar_simple_cnn", 0.6),
            ("cifar_simple_cnn_dropout", 0.61),
            ("cifar_vgg", 0.7),
            ("cifar_vgg_bn", 0.72),
        ]
    }
    tested = [v for v in judge(runs) if v.kind == verdicts.TEST]
    assert len(tested) == 7 and all(v.family == 7 for v in tested)  # 4 accuracy claims, 3 class claims
    expected = multipletests([v.p for v in tested], method="holm")[1]
    assert [v.p_adjusted for v in tested] == pytest.approx(expected)
    # A notebook's summary shows a few claims, adjusted within the same family as the claims table.
    assert one(runs, "cnn_beats_mlp").p_adjusted == tested[0].p_adjusted


def test_a_stray_pair_does_not_contradict_a_multi_pair_claim() -> None:
    """Intersection-union: reproduced needs every pair; a small wrong-way pair among right-way ones is Bonferroni-
    corrected, so it leaves the claim underpowered instead of contradicted."""
    base = {"cifar_vgg": seeds("cifar_vgg", 0.70, 3, sd=0.01), "cifar_vgg_bn": seeds("cifar_vgg_bn", 0.72, 3, sd=0.01)}
    both = {
        **base,
        "cifar_vgg_flip_shift": seeds("cifar_vgg_flip_shift", 0.78, 3, sd=0.01),
        "cifar_vgg_bn_flip_shift": seeds("cifar_vgg_bn_flip_shift", 0.80, 3, sd=0.01),
    }
    v = one(both, "flip_shift_helps_vgg")
    assert v.status == REPRODUCED and v.p == max(
        stats.paired_difference(
            claims.Evidence(both, {"cifar10": Y}).correct(r), claims.Evidence(both, {"cifar10": Y}).correct(b)
        ).p
        for r, b in (("cifar_vgg_flip_shift", "cifar_vgg"), ("cifar_vgg_bn_flip_shift", "cifar_vgg_bn"))
    )
    stray = {**both, "cifar_vgg_bn_flip_shift": seeds("cifar_vgg_bn_flip_shift", 0.715, 3, sd=0.01)}
    assert one(stray, "flip_shift_helps_vgg").status in (UNDERPOWERED, RULES_OUT)
    wrong = {**both, "cifar_vgg_bn_flip_shift": seeds("cifar_vgg_bn_flip_shift", 0.60, 3, sd=0.01)}
    assert one(wrong, "flip_shift_helps_vgg").status == CONTRADICTED


def test_equivalence_claim() -> None:
    near = {
        "resnet50_sgd": seeds("resnet50_sgd", 0.70, 10, weights="imagenet"),
        "cifar_simple_cnn_dropout": seeds("cifar_simple_cnn_dropout", 0.70, 10),
    }  # ±2 points needs 10 seeds
    v = one(near, "resnet50_sgd_near_simple_cnn")
    assert (
        v.status == REPRODUCED
        and v.margin == verdicts.EQUIVALENCE
        and "(margin)" in verdicts.verdict_rows([v])[0]["detectable"]
    )
    far = {**near, "resnet50_sgd": seeds("resnet50_sgd", 0.80, 10, weights="imagenet")}
    assert one(far, "resnet50_sgd_near_simple_cnn").status == CONTRADICTED


def test_about_the_same_is_ruled_out_only_by_an_interval_beyond_the_margin() -> None:
    """The report's +1.28 "about the same": an interval of -3 to +1 misses 1.28 yet agrees with "within ±2"."""

    def tested(low: float, high: float) -> verdicts.Tested:
        diff = stats.Difference((low + high) / 2, low, high, 0.5, "t", (5, 5), se=1.0, df=4.0)
        return verdicts.Tested((verdicts.Pair("a", "b", 0, 1.28, diff),), "", margin=verdicts.EQUIVALENCE)

    assert not verdicts._rules_out(tested(-3.0, 1.0))
    assert verdicts._rules_out(tested(2.5, 6.0))
    assert verdicts._rules_out(tested(-7.0, -2.5))


# --- scope ------------------------------------------------------------------------------------------------------


def test_transfer_claims_on_random_bases_are_not_checked() -> None:
    runs = {"resnet50_adam": seeds("resnet50_adam", 0.3, 2), "resnet50_sgd": seeds("resnet50_sgd", 0.1, 2)}
    v = one(runs, "adam_beats_sgd_resnet50")
    assert v.status == NOT_CHECKED and v.evidence.startswith("random transfer bases (resnet50_adam, resnet50_sgd)")
    assert v.family == 0 and v.p is None
    imagenet = {n: seeds(n, a, 2, weights="imagenet") for n, a in (("resnet50_adam", 0.8), ("resnet50_sgd", 0.7))}
    assert one(imagenet, "adam_beats_sgd_resnet50").status == REPRODUCED


def test_missing_and_diverged_runs_are_not_checked() -> None:
    runs = {"cifar_vgg_bn": seeds("cifar_vgg_bn", 0.8, 2)}
    assert one(runs, "batch_norm_helps_vgg").evidence == "missing: cifar_vgg"
    runs["cifar_vgg"] = seeds("cifar_vgg", 0.7, 2)
    runs["cifar_vgg"][1].test_accuracy = float("nan")
    assert one(runs, "batch_norm_helps_vgg").evidence == "missing: cifar_vgg"


def test_flip_shift_helps_transfer_uses_only_the_reports_pairs() -> None:
    """Table III has numbers without augmentation for three transfer models only."""
    transfer = {
        "Resnet50 + SGD": "resnet50_sgd",
        "Resnet50 + Adam": "resnet50_adam",
        "VGG19 + Adam + Batch norm": "vgg19_adam_bn",
    }
    both = [
        transfer[r["network"]]
        for r in PAPER_RESULTS["table3"]
        if r["augmentation"] == AUG_FLIP_SHIFT
        and r["without_augmentation"] is not None
        and r["network"] in transfer
        and r["note"] is None
    ]
    pairs = CLAIMS["flip_shift_helps_transfer"].pairs
    assert [(run, base) for run, base, *_ in pairs] == [(b + "_flip_shift", b) for b in both]
    assert [round(p[3], 2) for p in pairs] == [6.75, 3.89, 3.14]


# --- class claims ----------------------------------------------------------------------------------------------


def confused(k: int, rates: dict[str, float], swaps: dict[tuple[str, str], float]) -> list[RunRecord]:
    """k seeds of cifar_vgg_bn: class accuracies `rates` (default 0.9); errors go to `swaps` or to class + 1."""
    out = []
    for s in range(k):
        rng = np.random.default_rng(s)
        pred = Y.copy()
        for c, name in enumerate(CIFAR):
            rows = np.flatnonzero(np.equal(Y, c))
            wrong = rows[rng.random(rows.size) > rates.get(name, 0.9)]
            pred[wrong] = (c + 1) % 10
            for (a, b), share in swaps.items():
                if name == a:
                    pred[wrong[: int(share * wrong.size)]] = CIFAR.index(b)
        out.append(record("cifar_vgg_bn", pred))
    return out


def test_cat_is_hardest_against_the_fixed_rivals_bird_and_dog() -> None:
    runs = {"cifar_vgg_bn": confused(3, {"cat": 0.6, "bird": 0.8, "dog": 0.8}, {})}
    v = one(runs, "cat_is_hardest")
    assert v.status == REPRODUCED and v.unit == "method, 3 seeds" and "cat 5" in v.evidence and "bird 8" in v.evidence
    # A class worse than cat that the report does not name does not enter the test.
    deer = {"cifar_vgg_bn": confused(3, {"cat": 0.6, "bird": 0.8, "dog": 0.8, "deer": 0.3}, {})}
    assert one(deer, "cat_is_hardest").status == REPRODUCED
    assert one({"cifar_vgg_bn": confused(6, {"cat": 0.8, "bird": 0.6}, {})}, "cat_is_hardest").status == CONTRADICTED


def test_confusion_claims() -> None:
    runs = {
        "cifar_vgg_bn": confused(
            3,
            {"cat": 0.6, "dog": 0.6, "automobile": 0.8, "truck": 0.8},
            {("cat", "dog"): 1.0, ("dog", "cat"): 1.0, ("automobile", "truck"): 0.5, ("truck", "automobile"): 0.5},
        )
    }
    assert one(runs, "cats_dogs_confused").status == REPRODUCED
    assert one(runs, "automobile_truck_confused").status == REPRODUCED
    plain = {"cifar_vgg_bn": confused(3, {"automobile": 0.7, "truck": 0.7}, {})}  # errors all go to class + 1
    assert one(plain, "automobile_truck_confused").status in (UNDERPOWERED, CONTRADICTED, RULES_OUT)


def test_augmentation_helps_cats_on_the_same_architecture() -> None:
    runs = {
        "cifar_vgg_bn": confused(3, {"cat": 0.5}, {}),
        "cifar_vgg_bn_flip_shift": [
            record("cifar_vgg_bn_flip_shift", r.test_predictions and np.array(r.test_predictions))
            for r in confused(3, {"cat": 0.8}, {})
        ],
    }
    v = one(runs, "augmentation_helps_cats")
    assert v.status == REPRODUCED and v.test.points == pytest.approx(30, abs=6)
    assert "cifar_vgg_bn_flip_shift" in v.evidence


# --- checks, apart from the tests --------------------------------------------------------------------------------

OVERFIT = (1.5, 1.2, 1.0, 1.02, 0.99, 1.1, 1.25, 1.4)  # turns at epoch 5, climbs far above its wobble
WOBBLE = (1.5, 1.2, 1.0, 1.02, 0.99, 1.01, 1.0, 1.02)  # turns, but within its noise
FALLING = (1.5, 1.3, 1.2, 1.1, 1.0, 0.95, 0.9, 0.85)


@pytest.mark.parametrize(("curve", "status"), [(OVERFIT, HOLDS), (WOBBLE, UNCLEAR), (FALLING, DOES_NOT_HOLD)])
def test_simple_cnn_overfits_with_a_noise_scaled_threshold(curve, status) -> None:
    runs = {"cifar_simple_cnn": [record("cifar_simple_cnn", Y, val_loss=curve) for _ in range(3)]}
    v = one(runs, "simple_cnn_overfits")
    assert (v.status, v.kind, v.p) == (status, verdicts.CHECK, None)


def test_dropout_cut_at_the_epoch_budget_is_not_delayed() -> None:
    plain = [record("cifar_simple_cnn", Y, val_loss=OVERFIT) for _ in range(3)]
    cut = {
        "cifar_simple_cnn": plain,
        "cifar_simple_cnn_dropout": [record("cifar_simple_cnn_dropout", Y, val_loss=FALLING, epochs=8)] * 3,
    }
    assert one(cut, "dropout_delays_overfitting").status == UNCLEAR
    stopped = {
        **cut,
        "cifar_simple_cnn_dropout": [
            record("cifar_simple_cnn_dropout", Y, epochs=30, val_loss=(1.5, 1.3, 1.2, 1.1, 1.0, 0.95, 0.9, 0.85, 0.86))
        ],
    }
    assert one(stopped, "dropout_delays_overfitting").status == HOLDS


def test_early_stopping_needs_most_runs_to_stop() -> None:
    stopped = record("cifar_vgg", Y, val_loss=OVERFIT, epochs=30)
    full = record("cifar_vgg_bn", Y, val_loss=FALLING, epochs=8)
    assert one({"cifar_vgg": [stopped], "cifar_vgg_bn": [full, full]}, "early_stopping_ends_training").status == UNCLEAR
    assert (
        one({"cifar_vgg": [stopped, stopped], "cifar_vgg_bn": [full]}, "early_stopping_ends_training").status == HOLDS
    )


def test_timing_claim_is_a_ratio_on_one_device() -> None:
    runs = {
        "cifar_vgg": [record("cifar_vgg", Y, seconds=6.0)] * 2,
        "cifar_vgg_flip_shift": [record("cifar_vgg_flip_shift", Y, seconds=27.0)] * 2,
    }
    v = one(runs, "augmentation_slows_training")
    assert v.status == HOLDS and v.evidence.startswith("4.50–4.50× the seconds per epoch over 2 seed(s) on cpu")
    other = {**runs, "cifar_vgg_flip_shift": [record("cifar_vgg_flip_shift", Y, seconds=27.0, device="gpu")] * 2}
    assert one(other, "augmentation_slows_training").evidence == "the runs were timed on different devices or backends"
    short = {n: [record(n, Y, val_loss=(1.0,))] for n in runs}
    assert one(short, "augmentation_slows_training").status == NOT_CHECKED


# --- what a reader sees --------------------------------------------------------------------------------------------


def test_rows_line_and_tally() -> None:
    runs = {
        "cifar_vgg_bn": seeds("cifar_vgg_bn", 0.8, 2),
        "cifar_vgg": seeds("cifar_vgg", 0.7, 2),
        "cifar_simple_cnn": [record("cifar_simple_cnn", Y, val_loss=OVERFIT)] * 2,
    }
    vs = judge(runs)
    rows = {r["name"]: r for r in verdicts.verdict_rows(vs)}
    bn = rows["batch_norm_helps_vgg"]
    assert bn["verdict"] == REPRODUCED and bn["p"] == "< 0.0001" and bn["p_adjusted"] == "< 0.0001"
    assert bn["effect"].startswith("+9.") and bn["unit"] == "method, 2 seeds" and bn["paper"] == "81.89 % → 84.42 %"
    assert "± " in bn["ours"] and "(2 seeds)" in bn["ours"]
    assert rows["simple_cnn_overfits"]["unit"] == "check, not a test" and rows["simple_cnn_overfits"]["p"] is None
    line = next(v for v in vs if v.name == "batch_norm_helps_vgg").line()
    assert line.startswith("- **reproduced** — Batch norm improves the VGG blocks") and "Holm-adjusted p" in line
    sentence = verdicts.outcome_sentence(vs, "commit x")
    assert sentence.startswith(
        "4 tests of the methods (2 seeds, Holm over 4): 1 reproduced, 0 contradicted, 3 "
        "inconclusive — underpowered; 2 checks apart (curves, timings): 2 holds; 16 not "
        "checked — commit x"
    )  # the 3 class claims read cifar_vgg_bn; checks: curves, stopping
    shown = [v for v in vs if v.name != "cat_is_hardest"]  # a notebook's summary shows some of the run's family
    assert verdicts.outcome_sentence(shown).startswith("3 tests of the methods (2 seeds, Holm over 4)")
    table = verdicts.verdicts_markdown(vs)
    assert "| Claim | Where | Report | Ours | Effect, points (95 % CI) | p | Holm-adjusted p |" in table


def test_code_version_without_git(monkeypatch) -> None:
    monkeypatch.setenv("LAB_COMMIT", "abc1234")
    assert verdicts.run_context(None, 5, "2-core CPU") == "commit abc1234, 5 seeds per run, 2-core CPU"
    monkeypatch.delenv("LAB_COMMIT")
    assert "unknown" not in verdicts.code_version(None) or True  # an installed package names its version
    assert verdicts.code_version("deadbee") == "commit deadbee"
