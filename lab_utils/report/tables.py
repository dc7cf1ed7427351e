"""Tables of the report: the seed's numbers as data, and one writer for CSV (data) + Markdown (report).

Every result table of the notebooks is written by `write_table`, so each has a machine-readable CSV (read back
with `read_table`) and a Markdown twin with the paper's and our numbers side by side.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lab_utils.data.augment import AUGMENTATION_PRESETS
from lab_utils.atomic import atomic_write_text
from lab_utils.errors import ConfigError, LabError
from lab_utils.report.stats import Accuracy

MISSING = "—"

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
        {"network": network, "augmentation": augmentation, "without_augmentation": without,
         "with_augmentation": with_, "note": note}
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

_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def output_path(name: str, folder: str | os.PathLike, suffix: str) -> Path:
    """`folder/name+suffix`, refusing names that could escape the folder or carry their own extension."""
    if not isinstance(name, str) or not _STEM.fullmatch(name):
        raise ConfigError(
            f"output name {name!r} is not a plain file stem: use letters, digits, '_' or '-', "
            f"no folder and no extension (e.g. 'fig01_mnist_samples'); '{suffix}' is added for you"
        )
    return Path(folder) / f"{name}{suffix}"


def _plain(value: Any) -> Any:
    """NumPy scalars as Python ones, so ints stay ints and floats format alike."""
    return value.item() if isinstance(value, np.generic) else value


def _is_missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def format_cell(value: Any, decimals: int = 2) -> str:
    """A Markdown cell: floats to `decimals` places, ints as ints, missing values as an em dash."""
    value = _plain(value)
    if _is_missing(value):
        return MISSING
    if isinstance(value, float):
        return f"{value:.{decimals}f}"
    return " ".join(str(value).split()).replace("|", r"\|")


def _columns(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None) -> list[str]:
    """The explicit columns, or every key in order of first appearance."""
    if columns is not None:
        return list(columns)
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _check_rows(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    rows = list(rows)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ConfigError(f"table row {i} is a {type(row).__name__}, not a dict of column -> value")
    return rows


def markdown_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    decimals: int = 2,
) -> str:
    """A GitHub pipe table; numeric columns are right-aligned so decimals line up.

    Args:
        rows: one dict per row; keys not in `columns` are left out, absent keys show as "—".
        columns: column order (default: keys in order of first appearance).
        headers: optional display names, e.g. {"paper_accuracy": "Paper (%)"}.
        decimals: places for floats.
    """
    rows = _check_rows(rows)
    cols = _columns(rows, columns)
    if not cols:
        raise ConfigError("a table needs at least one column: pass rows or columns=[...]")
    headers = headers or {}

    def numeric(col: str) -> bool:
        values = [_plain(row.get(col)) for row in rows if not _is_missing(_plain(row.get(col)))]
        return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)

    lines = [
        "| " + " | ".join(format_cell(headers.get(c, c)) for c in cols) + " |",
        "|" + "|".join("---:" if numeric(c) else "---" for c in cols) + "|",
    ]
    lines += ["| " + " | ".join(format_cell(row.get(c), decimals) for c in cols) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _csv_cell(value: Any) -> Any:
    value = _plain(value)
    return "" if _is_missing(value) else value


def write_table(
    rows: Sequence[Mapping[str, Any]],
    name: str,
    folder: str | os.PathLike = "tables",
    *,
    columns: Sequence[str] | None = None,
    caption: str | None = None,
    meta: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    decimals: int = 2,
) -> tuple[Path, Path]:
    """Write `<name>.csv` (full precision, for code) and `<name>.md` (rounded, for the report), atomically.

    Args:
        rows: one dict per row, e.g. {"network": "Simple CNN", "paper_accuracy": 63.1, ...}.
        name: file stem such as "table1_cifar10_cnns".
        folder: output folder, created if needed.
        columns: column order (default: keys in order of first appearance); other keys are dropped.
        caption: optional line above the Markdown table.
        meta: provenance listed under the Markdown table (profile, data source, backend, date, ...).
        headers, decimals: passed to `markdown_table`.

    Returns:
        (csv_path, md_path).
    """
    rows = _check_rows(rows)
    cols = _columns(rows, columns)
    csv_path, md_path = output_path(name, folder, ".csv"), output_path(name, folder, ".md")
    if not cols:
        raise ConfigError(f"table {name!r} has no columns: pass rows or columns=[...]")

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: _csv_cell(row.get(c)) for c in cols} for row in rows)

    parts = [caption.strip() + "\n\n"] if caption else []
    parts.append(markdown_table(rows, cols, headers=headers, decimals=decimals))
    if meta:
        parts.append("\n" + "".join(f"- {key}: {_plain(value)}\n" for key, value in meta.items()))

    atomic_write_text(csv_path, buffer.getvalue())
    atomic_write_text(md_path, "".join(parts))
    return csv_path, md_path


def _parse(text: str) -> Any:
    """A CSV cell back to int / float where it is a number, None where empty, else the string."""
    if text == "":
        return None
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def read_table(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a CSV written by `write_table`: numbers back to int/float, empty cells to None."""
    path = Path(path)
    if not path.is_file():
        raise LabError(f"no table at {path}: run the notebook that writes it (write_table) first")
    with path.open(newline="", encoding="utf-8") as handle:
        return [{key: _parse(value) for key, value in row.items()} for row in csv.DictReader(handle)]


_UNITS = {"percent": 1.0, "fraction": 100.0}  # accuracy unit -> factor to percent


def _check_percent(network: str, value: Any, unit: str = "percent") -> float | None:
    """An accuracy as a percentage; every value from 0 % to 100 % is valid, 0.33 % (1 of 300) included.

    The unit is the caller's word, never guessed from the value: 0.33 can be 0.33 % or a fraction
    someone forgot to multiply, and only the code that computed it knows which.
    """
    value = _plain(value)
    if _is_missing(value):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"accuracy {value!r} for {network!r} is not a number")
    percent = float(value) * _UNITS[unit]
    if not 0.0 <= percent <= 100.0:
        expected = "a percentage in [0, 100]" if unit == "percent" else "a fraction in [0, 1]"
        raise ConfigError(
            f"accuracy {value!r} for {network!r} is not {expected}: Keras reports accuracy as a fraction; "
            "multiply it by 100, or pass reproduced_unit='fraction'"
        )
    return percent


def format_spread(mean: float, std: float, n: int, unit: str = " %") -> str:
    """"58.21 %" for one run, "58.21 ± 0.40 % (3 seeds)" for several: mean and sample std, both in points."""
    if n == 1:
        return f"{mean:.2f}{unit}"
    return f"{mean:.2f} ± {std:.2f}{unit} ({n} seeds)"


SPREAD_COLUMNS = ("reproduced_std", "reproduced_seeds", "reproduced_ci_low", "reproduced_ci_high")


def accuracy_columns(acc: Accuracy, prefix: str = "reproduced") -> dict[str, Any]:
    """An accuracy's columns in percent: `<prefix>_accuracy` (the mean over seeds), `<prefix>_std`, `<prefix>_seeds`
    and the 95 % interval `<prefix>_ci_low` / `<prefix>_ci_high`, so a table shows mean ± std, n and interval."""
    return {f"{prefix}_accuracy": 100 * acc.mean, f"{prefix}_std": 100 * acc.std, f"{prefix}_seeds": acc.n_seeds,
            f"{prefix}_ci_low": 100 * acc.low, f"{prefix}_ci_high": 100 * acc.high}


def comparison_rows(
    paper: Mapping[str, float | None],
    reproduced: Mapping[str, float | Accuracy | None],
    *,
    reproduced_unit: str = "percent",
    **extra: Any,
) -> list[dict[str, Any]]:
    """Rows for `write_table` with the paper's and our accuracy (%) side by side, in the paper's order.

    `paper` is in percent (as `PAPER_RESULTS`); `reproduced` in `reproduced_unit`, "percent" or "fraction"
    (what Keras's `evaluate` returns), converted to percent, or `Accuracy` objects (lab_utils.report.stats),
    which add the std over seeds, the number of seeds and the 95 % interval (`accuracy_columns`) to every row.
    Networks we ran that the paper lacks come last with paper_accuracy None; `extra` (e.g. profile="quick",
    epochs=12) is added to every row so each table records how it was produced.
    """
    if reproduced_unit not in _UNITS:
        raise ConfigError(f"reproduced_unit={reproduced_unit!r}: use 'percent' or 'fraction'")
    with_spread = any(isinstance(v, Accuracy) for v in reproduced.values())
    rows = []
    for network in list(paper) + [n for n in reproduced if n not in paper]:
        value, unit = reproduced.get(network), reproduced_unit
        spread = dict.fromkeys(SPREAD_COLUMNS) if with_spread else {}
        if isinstance(value, Accuracy):
            spread = {k: v for k, v in accuracy_columns(value).items() if k in SPREAD_COLUMNS}
            value, unit = value.mean, "fraction"
        ours = _check_percent(network, value, unit)
        theirs = _check_percent(network, paper.get(network))
        diff = None if ours is None or theirs is None else round(ours - theirs, 2)
        rows.append({"network": network, "paper_accuracy": theirs, "reproduced_accuracy": ours, **spread,
                     "difference": diff, **extra})
    return rows
