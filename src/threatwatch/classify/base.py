"""The classifier contract every model honours: texts in, one result per text out, in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from threatwatch.domain import FLAGGED_LABELS, LABELS, Label


@dataclass(frozen=True)
class Span:
    """A stretch of the input that pushed the score of the chosen label up by ``weight``."""

    start: int
    end: int
    text: str
    weight: float


@dataclass(frozen=True)
class ClassificationResult:
    label: Label
    scores: dict[str, float]
    flagged: bool
    model_version: str
    explanation: tuple[Span, ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        return {
            "label": self.label.value,
            "flagged": self.flagged,
            "scores": {k: round(v, 6) for k, v in self.scores.items()},
            "explanation": [
                {"start": s.start, "end": s.end, "text": s.text, "weight": round(s.weight, 4)}
                for s in self.explanation
            ],
            "model_version": self.model_version,
        }


@runtime_checkable
class Classifier(Protocol):
    """What the collection flow, the CLI and the API rely on; models come and go behind it."""

    @property
    def version(self) -> str: ...

    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """Probabilities, one row per text, columns in ``LABELS`` order."""
        ...

    def predict(self, texts: Sequence[str], *, explain: bool = True) -> list[ClassificationResult]: ...

    def explain(self, texts: Sequence[str], labels: Sequence[Label]) -> list[tuple[Span, ...]]:
        """The spans that drove ``labels`` (given, e.g. stored at intake, not predicted again)."""
        ...


def decide(probabilities: npt.NDArray[np.float64], thresholds: Mapping[str, float]) -> list[Label]:
    """Pick a label per row: the flagged label that clears its threshold by the widest margin, if any;
    otherwise the likelier of the unflagged labels.

    With empty thresholds this is plain arg-max. Thresholds tuned on dev trade precision for recall.
    """
    labels: list[Label] = []
    for row in probabilities:
        best_flagged: Label | None = None
        best_margin = -1.0
        for i, label in enumerate(LABELS):
            if label in FLAGGED_LABELS and label.value in thresholds:
                margin = row[i] / thresholds[label.value]
                if row[i] >= thresholds[label.value] and margin > best_margin:
                    best_flagged, best_margin = label, margin
        if best_flagged is not None:
            labels.append(best_flagged)
        elif thresholds:
            unflagged = [(row[i], label) for i, label in enumerate(LABELS) if label not in FLAGGED_LABELS]
            labels.append(max(unflagged)[1])
        else:
            labels.append(LABELS[int(np.argmax(row))])
    return labels
