"""Tables of the report: the report's numbers as data, and one writer for CSV (data) + Markdown (report).

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

from lab_utils.atomic import atomic_write_text
from lab_utils.errors import ConfigError, LabError
from lab_utils.report.stats import Accuracy

MISSING = "—"

#: Human column headers for the Markdown twin of every table (the CSV keeps the keys, for code). A key not
#: listed here shows as itself; pass headers={} to write_table / markdown_table for the bare keys.
HEADERS: dict[str, str] = {
    "network": "Network",
    "paper_accuracy": "Paper (%)",
    "reproduced_accuracy": "Ours (%)",
    "reproduced_std": "Ours: std over seeds",
    "reproduced_seeds": "Seeds",
    "reproduced_ci_low": "Ours: 95 % CI low",
    "reproduced_ci_high": "Ours: 95 % CI high",
    "difference": "Ours − paper (points)",
    "epochs": "Epochs",
    "parameters": "Parameters",
    "base": "Transfer base",
    "profile": "Profile",
    "augmentation": "Augmentation",
    "paper_without": "Paper without (%)",
    "paper_with": "Paper with (%)",
    "reproduced_without": "Ours without (%)",
    "reproduced_with": "Ours with (%)",
    "with_ci": "Ours with: 95 % CI",
    "seeds": "Seeds",
    "reproduced_gain": "Our gain (points)",
    "gain_ci": "Gain: 95 % CI",
    "gain_p": "Gain: p",
    "epochs_with": "Epochs with",
    "note": "Note",
    "name": "Key",
    "claim": "Claim",
    "source": "Where",
    "paper": "Report",
    "ours": "Ours",
    "effect": "Effect, points (95 % CI)",
    "p": "p",
    "p_adjusted": "Holm-adjusted p",
    "detectable": "Detectable at 80 % power (points)",
    "verdict": "Verdict",
    "unit": "Speaks to",
    "test": "Test",
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
        headers: display names, e.g. {"paper_accuracy": "Paper (%)"}; None = HEADERS, {} = the keys themselves.
        decimals: places for floats.
    """
    rows = _check_rows(rows)
    cols = _columns(rows, columns)
    if not cols:
        raise ConfigError("a table needs at least one column: pass rows or columns=[...]")
    headers = HEADERS if headers is None else headers

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
    """ "58.21 %" for one run, "58.21 ± 0.40 % (3 seeds)" for several: mean and sample std, both in points."""
    if n == 1:
        return f"{mean:.2f}{unit}"
    return f"{mean:.2f} ± {std:.2f}{unit} ({n} seeds)"


SPREAD_COLUMNS = ("reproduced_std", "reproduced_seeds", "reproduced_ci_low", "reproduced_ci_high")


def accuracy_columns(acc: Accuracy, prefix: str = "reproduced") -> dict[str, Any]:
    """An accuracy's columns in percent: `<prefix>_accuracy` (the mean over seeds), `<prefix>_std` (None for one
    seed: there is no spread to show), `<prefix>_seeds` and the 95 % interval `<prefix>_ci_low` / `<prefix>_ci_high`."""
    std = 100 * acc.std if acc.n_seeds > 1 else None
    return {
        f"{prefix}_accuracy": 100 * acc.mean,
        f"{prefix}_std": std,
        f"{prefix}_seeds": acc.n_seeds,
        f"{prefix}_ci_low": 100 * acc.low,
        f"{prefix}_ci_high": 100 * acc.high,
    }


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
    # One seed everywhere: no std column at all (a column of zeros would read as "no spread", not "not measured").
    spread_columns = [
        c
        for c in SPREAD_COLUMNS
        if c != "reproduced_std" or any(isinstance(v, Accuracy) and v.n_seeds > 1 for v in reproduced.values())
    ]
    rows = []
    for network in list(paper) + [n for n in reproduced if n not in paper]:
        value, unit = reproduced.get(network), reproduced_unit
        spread = dict.fromkeys(spread_columns) if with_spread else {}
        if isinstance(value, Accuracy):
            spread = {k: v for k, v in accuracy_columns(value).items() if k in spread_columns}
            value, unit = value.mean, "fraction"
        ours = _check_percent(network, value, unit)
        theirs = _check_percent(network, paper.get(network))
        diff = None if ours is None or theirs is None else round(ours - theirs, 2)
        rows.append(
            {
                "network": network,
                "paper_accuracy": theirs,
                "reproduced_accuracy": ours,
                **spread,
                "difference": diff,
                **extra,
            }
        )
    return rows
