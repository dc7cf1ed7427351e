"""What this run reproduces: each qualitative claim of the lab report as data, and the rule that tests it.

`CLAIMS` lists the claims in report order (sections V-A to VI). An accuracy claim is data: its pairs of runs, the
sign the report expects and the report's own difference (Tables I-III); a class, curve or timing claim names a
small rule. `check_claims` reads per-seed run records and the test labels, tests every claim it can, and hands
the tests to lab_utils.report.verdicts, which adjusts them as one family (Holm) and words the outcomes.

Scope, kept in one place:
  * A claim is "not checked", with the reason, when its premise is absent: a run missing or diverged, or a
    transfer model whose base did not start from ImageNet weights (the report's premise; an offline profile
    trains random bases, which say nothing about transfer learning).
  * Only the report's own pairs: Table III trained ResNet50 + Adam + BN and VGG19 + Adam only with augmentation,
    so "flip + shift helps transfer" uses the three models it has both numbers for.
  * Rival classes are fixed from the report's text, not picked from the data: bird and dog for "cat is hardest"
    (the next two of Fig. 8), automobile ↔ truck as the other confused pair.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lab_utils.errors import ConfigError
from lab_utils.report.claim_rules import (
    FS,
    Claim,
    Evidence,
    augmentation_helps_cats,
    augmentation_slows_training,
    augmented_vgg19_best,
    automobile_truck_confused,
    cat_is_hardest,
    cats_dogs_confused,
    dropout_delays_overfitting,
    early_stopping_ends_training,
    judge_claim,
    simple_cnn_overfits,
)
from lab_utils.report.stats import NOT_CHECKED
from lab_utils.report.verdicts import EQUIVALENCE, Verdict, decide, outcome_sentence, run_context, verdict_rows
from lab_utils.training.records import RunRecord

# What a notebook or lab.py uses: the catalogue, the entry point, and the table and tally of the verdicts.
__all__ = [
    "CATALOGUE",
    "CLAIMS",
    "NOT_CHECKED",
    "Claim",
    "Evidence",
    "Verdict",
    "check_claims",
    "outcome_sentence",
    "run_context",
    "select",
    "verdict_rows",
]
_T3 = {
    "cifar_vgg": 83.51,
    "cifar_vgg_bn": 87.11,
    "resnet50_sgd": 82.27,
    "resnet50_adam": 84.74,
    "resnet50_adam_bn": 84.5,
}  # Table III, with flip + shift
_VGG19_FS = 88.11

CATALOGUE: tuple[Claim, ...] = (
    Claim(
        "cnn_beats_mlp",
        "A CNN beats the one-hidden-layer network on MNIST",
        "V-A",
        "99.37 % vs 95.85 %",
        (("mnist_cnn", "mnist_mlp", 1, 99.37 - 95.85),),
    ),
    Claim(
        "simple_cnn_overfits",
        "The simple CNN overfits CIFAR-10 soon",
        "V-B.1, Fig. 7a",
        'overfits "very soon"',
        rule=simple_cnn_overfits,
    ),
    Claim(
        "dropout_delays_overfitting",
        "Dropout delays overfitting of the simple CNN",
        "V-B.1, Fig. 7c",
        "validation loss follows the training loss closely",
        rule=dropout_delays_overfitting,
    ),
    Claim(
        "dropout_raises_accuracy",
        "Dropout raises the simple CNN's accuracy",
        "V-B.1, Table I",
        "63.10 % → 74.24 %",
        (("cifar_simple_cnn_dropout", "cifar_simple_cnn", 1, 74.24 - 63.10),),
    ),
    Claim(
        "vgg_beats_simple_cnn",
        "VGG blocks beat the simple CNN with dropout",
        "V-B.2, Table I",
        "74.24 % → 81.89 %",
        (("cifar_vgg", "cifar_simple_cnn_dropout", 1, 81.89 - 74.24),),
    ),
    Claim(
        "batch_norm_helps_vgg",
        "Batch norm improves the VGG blocks",
        "V-B.2, Table I",
        "81.89 % → 84.42 %",
        (("cifar_vgg_bn", "cifar_vgg", 1, 84.42 - 81.89),),
    ),
    Claim(
        "cat_is_hardest",
        "Cat is the hardest class for VGG + BN (below bird and dog)",
        "V-B.2, Fig. 8",
        "cat worst, then bird, dog",
        rule=cat_is_hardest,
    ),
    Claim(
        "cats_dogs_confused",
        "Cats and dogs are confused with each other most (more than automobile ↔ truck)",
        "V-B.2, Fig. 8",
        "cat ↔ dog",
        rule=cats_dogs_confused,
    ),
    Claim(
        "automobile_truck_confused",
        "Automobile and truck are confused with each other",
        "V-B.2, Fig. 8",
        "automobile ↔ truck",
        rule=automobile_truck_confused,
    ),
    Claim(
        "adam_beats_sgd_resnet50",
        "Adam beats SGD for fine-tuning ResNet50",
        "V-B.3, Table II",
        "80.85 % vs 75.52 %",
        (("resnet50_adam", "resnet50_sgd", 1, 80.85 - 75.52),),
    ),
    Claim(
        "resnet50_sgd_near_simple_cnn",
        f"ResNet50 + SGD is on the level of the simple CNN (within ±{EQUIVALENCE:g} points)",
        "V-B.3, Table II",
        '75.52 % vs 74.24 %, "only 1 % improvement"',
        (("resnet50_sgd", "cifar_simple_cnn_dropout", 0, 75.52 - 74.24),),
        margin=EQUIVALENCE,
    ),
    Claim(
        "resnet50_adam_below_vgg",
        "ResNet50 + Adam stays below the VGG-block models",
        "V-B.3, Table II",
        "80.85 % vs 81.89 % and 84.42 %",
        (("resnet50_adam", "cifar_vgg", -1, 80.85 - 81.89), ("resnet50_adam", "cifar_vgg_bn", -1, 80.85 - 84.42)),
    ),
    Claim(
        "vgg19_beats_vgg_blocks",
        "VGG19 + Adam + batch norm beats the VGG blocks with batch norm",
        "V-B.3, Table II",
        "84.97 % vs 84.42 %",
        (("vgg19_adam_bn", "cifar_vgg_bn", 1, 84.97 - 84.42),),
    ),
    Claim(
        "batch_norm_no_effect_transfer",
        f"Batch norm has no effect in transfer learning (within ±{EQUIVALENCE:g} points)",
        "V-B.4",
        '"did not have any significant effect"',
        (("resnet50_adam_bn", "resnet50_adam", 0, None), ("vgg19_adam_bn", "vgg19_adam", 0, None)),
        margin=EQUIVALENCE,
    ),
    Claim(
        "flip_shift_helps_vgg",
        "Flip + shift augmentation raises the VGG-block models' accuracy",
        "V-B.4, Table III",
        "81.89 → 83.51 %, 84.42 → 87.11 %",
        (("cifar_vgg" + FS, "cifar_vgg", 1, 83.51 - 81.89), ("cifar_vgg_bn" + FS, "cifar_vgg_bn", 1, 87.11 - 84.42)),
    ),
    Claim(
        "flip_shift_helps_transfer",
        "Flip + shift augmentation raises the transfer models' accuracy",
        "V-B.4, Table III",
        "+6.75, +3.89, +3.14 points (the three trained both ways)",
        (
            ("resnet50_sgd" + FS, "resnet50_sgd", 1, 82.27 - 75.52),
            ("resnet50_adam" + FS, "resnet50_adam", 1, 84.74 - 80.85),
            ("vgg19_adam_bn" + FS, "vgg19_adam_bn", 1, 88.11 - 84.97),
        ),
    ),
    Claim(
        "flips_rotation_hurt_vgg",
        "Flips both ways + rotation 20° lower the VGG blocks' accuracy",
        "V-B.4",
        "−5.2 points",
        (("cifar_vgg_flip_rotate", "cifar_vgg", -1, -5.2),),
    ),
    Claim(
        "flips_alone_hurt_less",
        "Flips alone also lower it, but less",
        "V-B.4",
        "−3.7 points (vs −5.2)",
        (("cifar_vgg_flip", "cifar_vgg", -1, -3.7), ("cifar_vgg_flip", "cifar_vgg_flip_rotate", 1, 1.5)),
    ),
    Claim(
        "augmented_vgg19_best",
        "Augmented VGG19 + Adam + BN is the best model",
        "V-B.4, Table III",
        "88.11 %, next 88.01 % (its twin without BN), then 87.11 %",
        tuple(("vgg19_adam_bn" + FS, base + FS, 1, _VGG19_FS - acc) for base, acc in _T3.items()),
        rule=augmented_vgg19_best,
    ),
    Claim(
        "augmentation_helps_cats",
        "Augmentation helps the hardest class, cat",
        "V-B.4, Figs. 8, 11",
        "68 % → 76 %",
        rule=augmentation_helps_cats,
    ),
    Claim(
        "early_stopping_ends_training",
        "Early stopping ends training",
        "V-B.4, Fig. 10",
        "stopped at epoch 44",
        rule=early_stopping_ends_training,
    ),
    Claim(
        "augmentation_slows_training",
        "Augmentation slows training",
        "VI",
        "6 → 27 s per epoch (RTX 2070)",
        rule=augmentation_slows_training,
    ),
)
CLAIMS: dict[str, Claim] = {c.name: c for c in CATALOGUE}


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


def check_claims(
    runs: Mapping[str, Sequence[RunRecord]],
    labels: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    *,
    best_run: str | None = None,
    names: Sequence[str] | None = None,
) -> list[Verdict]:
    """The claims `names` (default: all, in report order), judged on this run's seeds.

    Every claim the runs allow is tested and adjusted as one Holm family, whichever `names` are shown, so a
    notebook's summary and the claims table agree on the same runs.

    Args:
        runs: per-seed run records by run name (config "experiment"), each with its test predictions.
        labels: test labels by dataset name ("mnist", "cifar10"), in the order the predictions were made.
        class_names: CIFAR-10's class names, in label order.
        best_run: the augmented run validation picked (Fig. 11), named in the evidence.
        names: claim names from CLAIMS; unknown names raise ConfigError listing the known ones.
    """
    chosen = select(names)
    ev = Evidence(runs, labels, class_names, best_run)
    verdicts = decide([judge_claim(c, ev) for c in CATALOGUE])
    by_name = {v.name: v for v in verdicts}
    return [by_name[n] for n in chosen]
