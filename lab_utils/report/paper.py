"""The seed lab report's numbers as data: every test accuracy its tables and text give, in one place."""

from __future__ import annotations

from typing import Any

from lab_utils.data.augment import AUGMENTATION_PRESETS

# Augmentation sets named in Section IV-B / V-B.4 of the seed.
# Table III's augmentation sets as the report names them: from the presets' catalogue (lab_utils.data.augment).
AUG_FLIP_SHIFT = AUGMENTATION_PRESETS["flip_shift"].paper_name
AUG_FLIPS_ROTATION = AUGMENTATION_PRESETS["flip_rotate"].paper_name
AUG_FLIPS = AUGMENTATION_PRESETS["flip"].paper_name
AUG_REJECTED_UNSPECIFIED = "flips ± rotation 20° (the report does not say which set)"

_DERIVED_VGG_ROTATION = "derived: the report says −5.2 points vs. 81.89 without augmentation; set rejected"
_DERIVED_VGG_FLIPS = "derived: the report says −3.7 points vs. 81.89 without augmentation; set rejected"
_DERIVED_RESNET = "derived: the report says ResNet50 with SGD and Adam both dropped 1.5 points; set rejected"

#: Test accuracies (%) reported by the seed lab report, in one place. Treat as read-only.
#: "mnist", "table1", "table2" map network -> accuracy; "table3" is a tuple of rows with the accuracy
#: without and with augmentation (None where the seed has "—") and a note for values derived from the text.
PAPER_RESULTS: dict[str, Any] = {
    "mnist": {"MLP (one hidden layer)": 95.85, "CNN": 99.37},
    "table1": {
        "Simple CNN": 63.10,
        "Simple CNN + Dropout": 74.24,
        "VGG blocks + Dropout": 81.89,
        "VGG blocks + Dropout + Batch norm": 84.42,
    },
    "table2": {
        "Resnet50 + SGD": 75.52,
        "Resnet50 + Adam": 80.85,
        "VGG19 + Adam + Batch norm": 84.97,
    },
    "table3": tuple(
        {
            "network": network,
            "augmentation": augmentation,
            "without_augmentation": without,
            "with_augmentation": with_,
            "note": note,
        }
        for network, augmentation, without, with_, note in [
            ("VGG blocks + Dropout", AUG_FLIP_SHIFT, 81.89, 83.51, None),
            ("VGG blocks + Dropout + Batch norm", AUG_FLIP_SHIFT, 84.42, 87.11, None),
            ("Resnet50 + SGD", AUG_FLIP_SHIFT, 75.52, 82.27, None),
            ("Resnet50 + Adam", AUG_FLIP_SHIFT, 80.85, 84.74, None),
            ("Resnet50 + Adam + Batch norm", AUG_FLIP_SHIFT, None, 84.5, None),
            ("VGG19 + Adam", AUG_FLIP_SHIFT, None, 88.01, None),
            ("VGG19 + Adam + Batch norm", AUG_FLIP_SHIFT, 84.97, 88.11, None),
            ("VGG blocks + Dropout", AUG_FLIPS_ROTATION, 81.89, round(81.89 - 5.2, 2), _DERIVED_VGG_ROTATION),
            ("VGG blocks + Dropout", AUG_FLIPS, 81.89, round(81.89 - 3.7, 2), _DERIVED_VGG_FLIPS),
            ("Resnet50 + SGD", AUG_REJECTED_UNSPECIFIED, 75.52, round(75.52 - 1.5, 2), _DERIVED_RESNET),
            ("Resnet50 + Adam", AUG_REJECTED_UNSPECIFIED, 80.85, round(80.85 - 1.5, 2), _DERIVED_RESNET),
        ]
    ),
}
