"""Exercises in three tiers — predict, build, explore — each with a check the student runs in the notebook.

`check("01.2", answer, ...)` prints ✓ or ✗ with a hint, and "not answered yet" while `answer` is None; it never
stops the notebook, except under `LAB_STRICT_CHECKS=1` (set by the tests), where a wrong answer raises
`ExerciseError` so a solution that stopped being right fails the build. The catalogue `EXERCISES` holds, per
id, the tier, the question in one line and the check function; the check receives what it needs from the
notebook as keyword arguments (the data, the trained model), so every check is a plain function a test can call.

Cell convention — under a notebook's `## Exercises` heading, four cells per exercise, in this order:

1. Markdown: `### Exercise 01.2 · build` (id · tier), the question, and `**Expect under lesson:** ...` — the
   value or range the `lesson` profile gives (exact for predict/build answers that need no training).
2. Code, tagged `exercise`: the student's placeholder, `answer = None` (after any starter lines).
3. Code, tagged `solution`, metadata `{"jupyter": {"source_hidden": true}}` (collapsed in JupyterLab): sets
   `answer`. `scripts/student_version.py` folds each into a closed `<details>` block; the source notebook keeps them, so
   `run_all.sh` and the tests run every check against its solution.
4. Code, tagged `check`: `check("01.2", answer, model=...)` — imported once with
   `from lab_utils.exercises import check`.

Each cell runs in seconds under the `smoke` profile: an exercise that trains uses the run cache (`lab.fit`) or
a few hundred images.
"""

from __future__ import annotations

from typing import Any

from lab_utils.exercises import augmentation, cnn, data, transfer
from lab_utils.exercises.common import STRICT_ENV, TIERS, Exercise, ExerciseError, strict
from lab_utils.exercises.data import split_gaps

__all__ = ["EXERCISES", "STRICT_ENV", "TIERS", "Exercise", "ExerciseError", "check", "split_gaps", "strict"]

EXERCISES: dict[str, Exercise] = {**data.EXERCISES, **cnn.EXERCISES, **transfer.EXERCISES, **augmentation.EXERCISES}
assert all(e.tier in TIERS for e in EXERCISES.values())


def check(exercise_id: str, answer: Any, **context: Any) -> bool | None:
    """Print whether `answer` solves the exercise (✓, or ✗ with a hint); None while unanswered.

    Raises:
        KeyError: unknown id (the message lists the known ones).
        ExerciseError: a wrong answer under LAB_STRICT_CHECKS=1.
    """
    if exercise_id not in EXERCISES:
        raise KeyError(f"no exercise {exercise_id!r}; known: {', '.join(sorted(EXERCISES))}")
    exercise = EXERCISES[exercise_id]
    if answer is None:
        print(f"Exercise {exercise_id} ({exercise.tier}): not answered yet — set `answer` in the cell above.")
        return None
    hint = exercise.check(answer, **context)
    if hint is None:
        print(f"✓ Exercise {exercise_id} ({exercise.tier}): right.")
        return True
    print(f"✗ Exercise {exercise_id} ({exercise.tier}): not yet. {hint}")
    if strict():
        raise ExerciseError(f"exercise {exercise_id}: wrong answer {answer!r}: {hint}")
    return False
