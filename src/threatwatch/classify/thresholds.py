"""Per-label decision thresholds, chosen on the dev split for a stated flagged-recall target."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from threatwatch.classify.base import decide
from threatwatch.domain import FLAGGED_LABELS

GRID = tuple(float(round(x, 2)) for x in np.arange(0.10, 0.91, 0.05))
FLAGGED_RECALL_TARGET = 0.90
HARD_NEGATIVE_FALSE_FLAG_CAP = 0.08  # on dev; the target on test is 10%


def _flagged_scores(
    probabilities: npt.NDArray[np.float64],
    gold: Sequence[str],
    thresholds: dict[str, float],
    hard_negative: Sequence[bool],
) -> tuple[float, float, float]:
    """(flagged recall, flagged F1, false-flag rate on hard negatives) under ``thresholds``."""
    flagged = {label.value for label in FLAGGED_LABELS}
    predicted = np.asarray([label.value in flagged for label in decide(probabilities, thresholds)])
    actual = np.asarray([g in flagged for g in gold])
    tp = int((predicted & actual).sum())
    fp = int((predicted & ~actual).sum())
    fn = int((~predicted & actual).sum())
    recall = tp / (tp + fn) if tp + fn else 0.0
    precision = tp / (tp + fp) if tp + fp else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    hard = np.asarray(hard_negative, dtype=bool)
    false_flags = float(predicted[hard].mean()) if hard.any() else 0.0
    return recall, f1, false_flags


def tune_thresholds(
    probabilities: npt.NDArray[np.float64],
    gold: Sequence[str],
    *,
    recall_target: float = FLAGGED_RECALL_TARGET,
    hard_negative: Sequence[bool] | None = None,
    false_flag_cap: float = HARD_NEGATIVE_FALSE_FLAG_CAP,
    passes: int = 3,
) -> dict[str, float]:
    """Coordinate search over per-label thresholds for the best flagged F1 among settings that keep flagged
    recall ≥ ``recall_target`` and (when ``hard_negative`` marks them) false flags on hard negatives
    ≤ ``false_flag_cap``. Where no setting is feasible, recall comes first, then fewer false flags.
    """
    hard = list(hard_negative) if hard_negative is not None else [False] * len(gold)
    thresholds = {label.value: 0.5 for label in sorted(FLAGGED_LABELS)}
    for _ in range(passes):
        for label in list(thresholds):
            best_key: tuple[float, ...] | None = None
            best_value = thresholds[label]
            for value in GRID:
                recall, f1, false_flags = _flagged_scores(
                    probabilities, gold, {**thresholds, label: value}, hard
                )
                recall_ok, flags_ok = recall >= recall_target, false_flags <= false_flag_cap
                if recall_ok and flags_ok:
                    key: tuple[float, ...] = (2, f1, -abs(value - 0.5))
                elif recall_ok:
                    key = (1, -false_flags, f1)
                else:
                    key = (0, recall, -false_flags)
                if best_key is None or key > best_key:
                    best_key, best_value = key, value
            thresholds[label] = best_value
    return thresholds
