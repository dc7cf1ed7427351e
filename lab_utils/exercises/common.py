"""What every notebook's exercises share: the Exercise record, the strict switch and small answer checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lab_utils import settings
from lab_utils.errors import LabError

TIERS = ("predict", "build", "explore")
STRICT_ENV = "LAB_STRICT_CHECKS"  # declared in lab_utils.settings


class ExerciseError(LabError):
    """A checked exercise has a wrong answer (raised only under LAB_STRICT_CHECKS=1)."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: its tier, the question in a line, and a check returning None when right, else a hint."""

    tier: str
    question: str
    check: Callable[..., str | None]


def strict() -> bool:
    """Whether a wrong answer raises (LAB_STRICT_CHECKS=1, set by the tests) rather than only printing ✗."""
    return settings.flag(STRICT_ENV)


def _number(answer: Any) -> float | None:
    """The answer as a float, or None when it is not one number."""
    try:
        return float(np.asarray(answer, dtype=float).reshape(()))
    except (TypeError, ValueError):
        return None


def _within(answer: Any, expected: float, tolerance: float, hint: str) -> str | None:
    value = _number(answer)
    if value is None:
        return f"Give one number (got {type(answer).__name__}). {hint}"
    return None if abs(value - expected) <= tolerance else hint


def _model_differences(answer: Any, reference: Any) -> str | None:
    """None when `answer` is the reference network, else which layers differ."""
    import keras

    from lab_utils.training.signature import model_differences

    if not isinstance(answer, keras.Model):
        return f"`answer` should be a keras.Model, got {type(answer).__name__}."
    problems = model_differences(answer, reference)
    return None if not problems else "Differences from the expected network:\n  " + "\n  ".join(problems[:5])
