"""Claims judged without a test: training curves and timings, over every seed, reported apart from the tests.

Judgement calls, kept in one place:
  * A validation-loss curve "turns" when it climbs from its minimum by more than NOISE_FACTOR times its own
    epoch-to-epoch noise (the robust spread of its successive differences) while the training loss keeps falling;
    so the threshold scales with each curve instead of a fixed 0.05. A curve of fewer than MIN_EPOCHS epochs
    cannot show a turn, nor its noise.
  * A claim holds when a majority of seeds show it, does not hold when a majority show the opposite, else is
    unclear. A curve still at its minimum at the last epoch of its budget is cut, not "delayed": it says nothing
    about when it would have turned.
  * Timings are compared as a ratio of seconds per epoch (median epoch, so the first epoch's tracing is left out),
    only between runs timed on the same device and backend with at least MIN_EPOCHS epochs each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lab_utils.report.stats import DOES_NOT_HOLD, HOLDS, UNCLEAR
from lab_utils.training.records import RunRecord

NOISE_FACTOR = 2.0  # rise above the minimum, in units of the curve's epoch-to-epoch noise, to call a turn
MIN_EPOCHS = 3


@dataclass(frozen=True)
class Turn:
    """Where one seed's validation-loss curve bottoms out, how far it climbs after, and how noisy it is."""

    best_epoch: int  # 1-based
    last_epoch: int
    rise: float  # last minus best validation loss
    noise: float  # robust SD of epoch-to-epoch changes
    train_falls: bool
    cut: bool  # the minimum is at the last epoch of the run's epoch budget

    @property
    def overfits(self) -> bool:
        return self.best_epoch < self.last_epoch and self.rise > NOISE_FACTOR * self.noise and self.train_falls

    @property
    def never_turned(self) -> bool:
        return self.best_epoch == self.last_epoch


def turn(record: RunRecord) -> Turn | None:
    """The turn of one run's curve; None without MIN_EPOCHS finite epochs of validation and training loss."""
    val = np.asarray(record.history.get("val_loss") or [], dtype=float)
    train = np.asarray(record.history.get("loss") or [], dtype=float)
    if len(train) != len(val) or np.isfinite(val).sum() < MIN_EPOCHS:
        return None
    finite = np.flatnonzero(np.isfinite(val))
    best, last = int(np.nanargmin(val)), int(finite[-1])
    steps = np.diff(val[finite])
    noise = 1.4826 * float(np.median(np.abs(steps - np.median(steps)))) / np.sqrt(2)  # one epoch's wobble
    budget = record.config.get("epochs")
    cut = best == last and isinstance(budget, int) and last + 1 >= budget
    return Turn(best + 1, last + 1, float(val[last] - val[best]), noise, bool(train[last] < train[best]), cut)


def _turns(records: Sequence[RunRecord]) -> list[Turn]:
    return [t for t in (turn(r) for r in records) if t is not None]


def _median_epoch(turns: Sequence[Turn]) -> float:
    return float(np.median([t.best_epoch for t in turns]))


def overfits(records: Sequence[RunRecord]) -> tuple[str, str] | None:
    """(outcome, words) for "the simple CNN overfits"; None when no seed has a long enough curve."""
    turns = _turns(records)
    if not turns:
        return None
    yes, never = sum(t.overfits for t in turns), sum(t.never_turned for t in turns)
    status = HOLDS if 2 * yes > len(turns) else DOES_NOT_HOLD if 2 * never > len(turns) else UNCLEAR
    return status, (
        f"{yes} of {len(turns)} seeds overfit (validation loss lowest at epoch "
        f"{_median_epoch(turns):g} in the median, then up more than {NOISE_FACTOR:g}× its noise); "
        f"{never} still at their minimum at the end"
    )


def delays(plain: Sequence[RunRecord], dropout: Sequence[RunRecord]) -> tuple[str, str] | None:
    """(outcome, words) for "dropout delays overfitting": the plain CNN overfits in most seeds, and dropout's
    curves turn later in the median or do not overfit though they stopped early (not cut at the budget)."""
    p, d = _turns(plain), _turns(dropout)
    if not p or not d:
        return None
    words = (
        f"with dropout lowest at epoch {_median_epoch(d):g} (median of {len(d)}), "
        f"{sum(t.overfits for t in d)} overfit, {sum(t.cut for t in d)} cut at the epoch budget; "
        f"without: epoch {_median_epoch(p):g}, {sum(t.overfits for t in p)} of {len(p)} overfit"
    )
    if 2 * sum(t.overfits for t in p) <= len(p) or 2 * sum(t.cut for t in d) > len(d):
        return UNCLEAR, words
    later = _median_epoch(d) > _median_epoch(p)
    milder = 2 * sum(t.overfits for t in d) < len(d)
    if later and (milder or np.median([t.rise for t in d]) <= np.median([t.rise for t in p])):
        return HOLDS, words
    if not later and not milder:
        return DOES_NOT_HOLD, words
    return UNCLEAR, words


def early_stopping(runs: Mapping[str, Sequence[RunRecord]]) -> tuple[str, str] | None:
    """(outcome, words) for "early stopping ends training": of the runs whose budget leaves room to stop
    (epochs > patience + 1), most stopped early (holds), none did (does not hold), else unclear."""
    budgeted = [
        (n, r)
        for n, rs in sorted(runs.items())
        for r in rs
        if isinstance(r.config.get("epochs"), int)
        and isinstance(r.config.get("patience"), int)
        and r.config["epochs"] > r.config["patience"] + 1
    ]
    if not budgeted:
        return None
    stopped = [(n, r) for n, r in budgeted if r.epochs_run < r.config["epochs"]]
    status = HOLDS if 2 * len(stopped) > len(budgeted) else DOES_NOT_HOLD if not stopped else UNCLEAR
    words = f"{len(stopped)} of {len(budgeted)} runs (all seeds) stopped before their epoch budget"
    if stopped:
        name, r = stopped[0]
        words += f" (e.g. {name} at {r.epochs_run} of {r.config['epochs']}, best epoch {r.best_epoch})"
    return status, words


def slowdown(augmented: Sequence[RunRecord], plain: Sequence[RunRecord], report: float) -> tuple[str, str]:
    """(outcome, words) for "augmentation slows training": the ratio of median seconds per epoch, per seed.
    Holds when every seed's augmented run is slower, does not hold when none is, else unclear; the report's
    ratio is in the words, since its GPU is not ours."""
    ratios = [a.seconds_per_epoch / b.seconds_per_epoch for a, b in zip(augmented, plain, strict=False)]
    status = HOLDS if min(ratios) > 1 else DOES_NOT_HOLD if max(ratios) <= 1 else UNCLEAR
    spread = f"{min(ratios):.2f}–{max(ratios):.2f}×" if len(ratios) > 1 else f"{ratios[0]:.2f}×"
    return status, (
        f"{spread} the seconds per epoch over {len(ratios)} seed(s) on {plain[0].device} "
        f"(report: {report:.1f}× on an RTX 2070)"
    )


def timing_premise(augmented: Sequence[RunRecord], plain: Sequence[RunRecord]) -> str | None:
    """Why the timings cannot be compared, or None when they can."""
    records = [*augmented, *plain]
    if len({(r.device, r.backend, r.replicas) for r in records}) > 1:
        return "the runs were timed on different devices or backends"
    if min(r.epochs_run for r in records) < MIN_EPOCHS:
        return f"fewer than {MIN_EPOCHS} epochs: the median epoch would include tracing and compilation"
    return None
