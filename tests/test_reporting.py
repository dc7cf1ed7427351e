"""Tables: CSV round-trips, the Markdown is a valid pipe table, and the seed's numbers are right."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lab_utils.errors import ConfigError, LabError
from lab_utils.report import paper
from lab_utils.report.paper import PAPER_RESULTS
from lab_utils.report.stats import Accuracy, accuracy_interval
from lab_utils.report.tables import (
    comparison_rows,
    format_spread,
    markdown_table,
    read_table,
    write_table,
)

ROWS = [
    {
        "network": "Simple CNN",
        "paper_accuracy": 63.10,
        "reproduced_accuracy": 61.3,
        "profile": "quick",
        "data": "cifar10 (keras cache)",
        "epochs": 12,
    },
    {
        "network": "Simple CNN + Dropout",
        "paper_accuracy": 74.24,
        "reproduced_accuracy": None,
        "profile": "quick",
        "data": "cifar10 (keras cache)",
        "epochs": np.int64(12),
    },
    {
        "network": "VGG | blocks",
        "paper_accuracy": np.float32(81.89),
        "reproduced_accuracy": float("nan"),
        "profile": "quick",
        "data": "cifar10 (keras cache)",
        "epochs": 3,
    },
]


def test_write_table_round_trips(tmp_path):
    csv_path, md_path = write_table(ROWS, "table1_cifar10", tmp_path)
    assert (csv_path.name, md_path.name) == ("table1_cifar10.csv", "table1_cifar10.md")
    back = read_table(csv_path)
    assert [row["network"] for row in back] == ["Simple CNN", "Simple CNN + Dropout", "VGG | blocks"]
    assert back[0]["paper_accuracy"] == 63.1 and isinstance(back[0]["paper_accuracy"], float)
    assert back[0]["reproduced_accuracy"] == pytest.approx(61.3)
    assert back[2]["paper_accuracy"] == pytest.approx(81.89, abs=1e-4)
    assert back[1]["reproduced_accuracy"] is None and back[2]["reproduced_accuracy"] is None  # None, NaN
    assert [row["epochs"] for row in back] == [12, 12, 3] and isinstance(back[1]["epochs"], int)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table1_cifar10.csv", "table1_cifar10.md"]


def test_markdown_layout(tmp_path):
    meta = {"profile": "quick", "backend": "tensorflow", "date": "2025-01-01"}
    _, md_path = write_table(
        ROWS,
        "table1",
        tmp_path,
        caption="TABLE I: Results",
        meta=meta,
        columns=["network", "paper_accuracy", "reproduced_accuracy", "epochs"],
    )
    lines = md_path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "TABLE I: Results" and lines[1] == ""
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + len(ROWS)
    assert table[0] == "| Network | Paper (%) | Ours (%) | Epochs |"  # human headers; the CSV keeps the keys
    assert table[1] == "|---|---:|---:|---:|"
    assert table[2] == "| Simple CNN | 63.10 | 61.30 | 12 |"
    assert table[3] == "| Simple CNN + Dropout | 74.24 | — | 12 |"
    assert table[4] == r"| VGG \| blocks | 81.89 | — | 3 |"
    assert all(line.count("|") - line.count(r"\|") == 5 for line in table)
    assert lines[-3:] == ["- profile: quick", "- backend: tensorflow", "- date: 2025-01-01"]


def test_markdown_table_headers_and_missing_keys():
    text = markdown_table([{"a": 1.234}, {"b": "x"}], headers={"a": "A (%)"})
    assert text.splitlines() == ["| A (%) | b |", "|---:|---|", "| 1.23 | — |", "| — | x |"]


@pytest.mark.parametrize("name", ["", "../table1", "tables/table1", "table1.csv"])
def test_write_table_rejects_bad_names(tmp_path, name):
    with pytest.raises(ConfigError, match="plain file stem"):
        write_table(ROWS, name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_write_table_rejects_non_dict_rows(tmp_path):
    with pytest.raises(ConfigError, match="row 1"):
        write_table([{"a": 1}, ["a", 1]], "t", tmp_path)


def test_read_table_missing_file(tmp_path):
    with pytest.raises(LabError, match="write_table"):
        read_table(tmp_path / "nope.csv")


def test_paper_results_match_the_seed():
    assert PAPER_RESULTS["mnist"] == {"MLP (one hidden layer)": 95.85, "CNN": 99.37}
    assert PAPER_RESULTS["table1"] == {
        "Simple CNN": 63.10,
        "Simple CNN + Dropout": 74.24,
        "VGG blocks + Dropout": 81.89,
        "VGG blocks + Dropout + Batch norm": 84.42,
    }
    assert PAPER_RESULTS["table2"] == {
        "Resnet50 + SGD": 75.52,
        "Resnet50 + Adam": 80.85,
        "VGG19 + Adam + Batch norm": 84.97,
    }
    adopted = [
        (r["network"], r["without_augmentation"], r["with_augmentation"])
        for r in PAPER_RESULTS["table3"]
        if r["augmentation"] == paper.AUG_FLIP_SHIFT
    ]
    assert adopted == [
        ("VGG blocks + Dropout", 81.89, 83.51),
        ("VGG blocks + Dropout + Batch norm", 84.42, 87.11),
        ("Resnet50 + SGD", 75.52, 82.27),
        ("Resnet50 + Adam", 80.85, 84.74),
        ("Resnet50 + Adam + Batch norm", None, 84.5),
        ("VGG19 + Adam", None, 88.01),
        ("VGG19 + Adam + Batch norm", 84.97, 88.11),
    ]
    rejected = {r["augmentation"]: r for r in PAPER_RESULTS["table3"] if r["network"] == "VGG blocks + Dropout"}
    assert rejected[paper.AUG_FLIPS_ROTATION]["with_augmentation"] == 76.69
    assert rejected[paper.AUG_FLIPS]["with_augmentation"] == 78.19
    for row in PAPER_RESULTS["table3"]:
        derived = row["augmentation"] != paper.AUG_FLIP_SHIFT
        assert (row["note"] is not None and "derived" in row["note"]) == derived
    # the "without" column of Table III repeats Tables I and II
    earlier = {**PAPER_RESULTS["table1"], **PAPER_RESULTS["table2"]}
    assert all(
        earlier[r["network"]] == r["without_augmentation"]
        for r in PAPER_RESULTS["table3"]
        if r["without_augmentation"] is not None
    )


def test_paper_table3_writes(tmp_path):
    csv_path, md_path = write_table(list(PAPER_RESULTS["table3"]), "table3_paper", tmp_path)
    assert read_table(csv_path)[4]["without_augmentation"] is None
    assert "| Resnet50 + Adam + Batch norm | horizontal flip + width/height shift | — | 84.50 | — |" in (
        md_path.read_text(encoding="utf-8")
    )


def test_comparison_rows():
    rows = comparison_rows(
        PAPER_RESULTS["table2"], {"Resnet50 + Adam": 79.5, "Resnet50 + SGD + aug": 70.0}, profile="quick", epochs=5
    )
    assert [r["network"] for r in rows] == [*PAPER_RESULTS["table2"], "Resnet50 + SGD + aug"]
    assert rows[1] == {
        "network": "Resnet50 + Adam",
        "paper_accuracy": 80.85,
        "reproduced_accuracy": 79.5,
        "difference": -1.35,
        "profile": "quick",
        "epochs": 5,
    }
    assert rows[0]["reproduced_accuracy"] is None and rows[0]["difference"] is None
    assert rows[-1]["paper_accuracy"] is None
    assert math.isclose(comparison_rows({"m": 50.0}, {"m": 0.0})[0]["difference"], -50.0)  # 0 % is a value


def test_any_accuracy_from_0_to_100_percent_formats_and_tabulates(tmp_path):
    # A smoke run can get 1 of 300 test images right: 0.33 % is a result, not a unit mistake.
    smoke = 100 * 1 / 300
    rows = comparison_rows(
        {"CNN": 99.37, "MLP (one hidden layer)": 95.85}, {"CNN": smoke, "MLP (one hidden layer)": np.float32(100.0)}
    )
    assert rows[0]["reproduced_accuracy"] == pytest.approx(0.3333, abs=1e-4) and rows[0]["difference"] == -99.04
    assert rows[1]["reproduced_accuracy"] == 100.0 and rows[1]["difference"] == 4.15
    csv_path, md_path = write_table(rows, "mnist_smoke", tmp_path)
    assert "| CNN | 99.37 | 0.33 | -99.04 |" in md_path.read_text(encoding="utf-8")
    assert read_table(csv_path)[0]["reproduced_accuracy"] == pytest.approx(smoke)


def test_the_unit_is_stated_by_the_caller_not_guessed_from_the_value():
    # Keras's evaluate() returns fractions: say so, and they are converted.
    rows = comparison_rows(
        PAPER_RESULTS["table1"], {"Simple CNN": 0.613, "Simple CNN + Dropout": 0.0033}, reproduced_unit="fraction"
    )
    assert rows[0]["reproduced_accuracy"] == pytest.approx(61.3) and rows[1]["reproduced_accuracy"] == 0.33
    for value, unit, expected in [
        (61.3, "fraction", r"not a fraction in \[0, 1\]"),
        (100.5, "percent", r"not a percentage in \[0, 100\].*multiply it by 100"),
        (-0.1, "percent", "not a percentage"),
        (float("inf"), "percent", "not a percentage"),
        ("61.3", "percent", "not a number"),
        (True, "percent", "not a number"),
    ]:
        with pytest.raises(ConfigError, match=expected):
            comparison_rows(PAPER_RESULTS["table1"], {"Simple CNN": value}, reproduced_unit=unit)
    with pytest.raises(ConfigError, match="reproduced_unit='percents'"):
        comparison_rows(PAPER_RESULTS["table1"], {}, reproduced_unit="percents")
    # The paper's numbers are percentages whatever the unit of ours.
    assert comparison_rows({"m": 0.5}, {"m": 0.5}, reproduced_unit="fraction")[0]["difference"] == 49.5


def test_comparison_rows_with_seeds_show_mean_std_n_and_interval(tmp_path):
    three = accuracy_interval([np.arange(761) < k for k in (380, 395, 402)])
    one = accuracy_interval([np.arange(761) < 396])
    rows = comparison_rows(
        PAPER_RESULTS["table1"],
        {"Simple CNN": three, "Simple CNN + Dropout": one, "VGG blocks + Dropout": 0.5},
        reproduced_unit="fraction",
    )
    assert list(rows[0]) == [
        "network",
        "paper_accuracy",
        "reproduced_accuracy",
        "reproduced_std",
        "reproduced_seeds",
        "reproduced_ci_low",
        "reproduced_ci_high",
        "difference",
    ]
    assert rows[0]["reproduced_accuracy"] == pytest.approx(100 * (380 + 395 + 402) / 3 / 761)
    assert rows[0]["reproduced_std"] == pytest.approx(100 * np.std([380, 395, 402], ddof=1) / 761)
    assert rows[0]["reproduced_seeds"] == 3
    assert rows[0]["reproduced_ci_low"] < rows[0]["reproduced_accuracy"] < rows[0]["reproduced_ci_high"]
    assert (rows[1]["reproduced_seeds"], rows[1]["reproduced_std"]) == (1, None)  # one seed: Wilson, no spread
    assert (rows[1]["reproduced_ci_low"], rows[1]["reproduced_ci_high"]) == pytest.approx(
        (100 * one.low, 100 * one.high)
    )
    assert rows[2]["reproduced_accuracy"] == 50.0 and rows[2]["reproduced_std"] is None  # a plain number: no spread
    assert rows[3]["reproduced_seeds"] is None and rows[3]["difference"] is None
    csv_path, md_path = write_table(rows, "table1_seeds", tmp_path)
    assert read_table(csv_path)[0]["reproduced_seeds"] == 3
    assert md_path.read_text(encoding="utf-8").splitlines()[2].startswith("| Simple CNN | 63.10 | 51.55 | 1.48 | 3 |")


def test_comparison_rows_without_seeds_keep_their_columns():
    assert list(comparison_rows({"m": 50.0}, {"m": 49.0})[0]) == [
        "network",
        "paper_accuracy",
        "reproduced_accuracy",
        "difference",
    ]


def test_an_accuracy_outside_0_to_1_is_refused():
    with pytest.raises(ConfigError, match="not a fraction"):
        comparison_rows({"m": 50.0}, {"m": Accuracy(1.5, 0.0, 1, 10, 1.0, 1.0, "Wilson")})


def test_format_spread():
    assert format_spread(58.214, 0.0, 1) == "58.21 %"
    assert format_spread(58.214, 0.404, 3) == "58.21 ± 0.40 % (3 seeds)"
