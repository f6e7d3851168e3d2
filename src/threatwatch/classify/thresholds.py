"""Per-label decision thresholds, chosen on the dev split for a stated flagged-recall target."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from threatwatch.classify.base import decide
from threatwatch.domain import FLAGGED_LABELS

GRID = tuple(round(x, 2) for x in np.arange(0.10, 0.91, 0.05))
FLAGGED_RECALL_TARGET = 0.93


def _flagged_scores(
    probabilities: npt.NDArray[np.float64], gold: Sequence[str], thresholds: dict[str, float]
) -> tuple[float, float]:
    """(flagged recall, flagged F1) under ``thresholds``."""
    flagged = {label.value for label in FLAGGED_LABELS}
    predicted = [label.value in flagged for label in decide(probabilities, thresholds)]
    actual = [g in flagged for g in gold]
    tp = sum(p and a for p, a in zip(predicted, actual, strict=True))
    fp = sum(p and not a for p, a in zip(predicted, actual, strict=True))
    fn = sum(a and not p for p, a in zip(predicted, actual, strict=True))
    recall = tp / (tp + fn) if tp + fn else 0.0
    precision = tp / (tp + fp) if tp + fp else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return recall, f1


def tune_thresholds(
    probabilities: npt.NDArray[np.float64],
    gold: Sequence[str],
    *,
    recall_target: float = FLAGGED_RECALL_TARGET,
    passes: int = 3,
) -> dict[str, float]:
    """Coordinate search: per flagged label, the threshold with the best flagged F1 among those that keep
    flagged recall at or above ``recall_target``; when none does, the one with the highest recall.
    """
    thresholds = {label.value: 0.5 for label in sorted(FLAGGED_LABELS)}
    for _ in range(passes):
        for label in list(thresholds):
            best_key: tuple[bool, float, float] | None = None
            best_value = thresholds[label]
            for value in GRID:
                recall, f1 = _flagged_scores(probabilities, gold, {**thresholds, label: value})
                key = (recall >= recall_target, f1 if recall >= recall_target else recall, -abs(value - 0.5))
                if best_key is None or key > best_key:
                    best_key, best_value = key, value
            thresholds[label] = best_value
    return thresholds
