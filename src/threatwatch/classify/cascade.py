"""The cascade: the fast stage settles the clearly benign bulk, the transformer decides the rest."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from threatwatch.classify.base import ClassificationResult, decide
from threatwatch.classify.explain import explained_results
from threatwatch.classify.fast import CONFIG_FILE, FastStageModel, FastTrainingArguments
from threatwatch.classify.thresholds import tune_thresholds
from threatwatch.domain import FLAGGED_LABELS, LABELS, Label

if TYPE_CHECKING:  # torch is imported only when a transformer is actually loaded
    from threatwatch.classify.transformer import TransformerStage

FAST_DIR = "fast"
TRANSFORMER_DIR = "transformer"
NONE_COLUMN = LABELS.index(Label.NONE)


@dataclass(frozen=True)
class CascadeConfig:
    version: str
    settle_none_threshold: float
    thresholds: dict[str, float] = field(default_factory=dict)
    labels: tuple[str, ...] = tuple(label.value for label in LABELS)
    # Per-channel dynamic int8, feed-forward outputs kept in fp32 (see transformer.py): ~1.7x faster,
    # same label as fp32 on ~98% of test messages. The model card reports the quantised model.
    int8: bool = True
    kind: str = "cascade"


class CascadeModel:
    """Two stages behind the one ``Classifier`` contract.

    A message whose fast-stage probability of ``none`` reaches ``settle_none_threshold`` (≥ 0.5) is
    settled there as not flagged, with its fast-stage probabilities; every other message goes to the
    transformer, whose probabilities meet the per-label thresholds.
    """

    def __init__(self, fast: FastStageModel, transformer: TransformerStage, config: CascadeConfig) -> None:
        self.fast = fast
        self.transformer = transformer
        self.config = config

    @property
    def version(self) -> str:
        return self.config.version

    def escalated(self, fast_probabilities: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        return np.asarray(fast_probabilities[:, NONE_COLUMN] < self.config.settle_none_threshold)

    def _stages(self, texts: Sequence[str]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        probabilities = self.fast.predict_proba(texts)
        escalated = self.escalated(probabilities)
        hard = np.flatnonzero(escalated)
        if hard.size:
            probabilities[hard] = self.transformer.predict_proba([texts[int(i)] for i in hard])
        return probabilities, escalated

    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        return self._stages(texts)[0]

    def predict(self, texts: Sequence[str], *, explain: bool = True) -> list[ClassificationResult]:
        probabilities, escalated = self._stages(texts)
        labels = cascade_labels(probabilities, escalated, self.config.thresholds)
        # Flagged messages were all decided by the transformer: explain with it alone, so removing a word
        # never hands the variant to the other stage.
        return explained_results(
            texts,
            probabilities,
            labels,
            version=self.version,
            explain_with=self.transformer.predict_proba if explain else None,
        )

    def tuned(
        self, dev_texts: Sequence[str], dev_gold: Sequence[str], dev_hard_negative: Sequence[bool]
    ) -> CascadeModel:
        """The same stages with thresholds and settle point chosen on dev, from this model's own scores."""
        fast_dev = self.fast.predict_proba(dev_texts)
        transformer_dev = self.transformer.predict_proba(dev_texts)
        thresholds = tune_thresholds(transformer_dev, dev_gold, hard_negative=dev_hard_negative)
        settle = choose_settle_threshold(fast_dev, transformer_dev, dev_gold, thresholds=thresholds)
        config = replace(self.config, thresholds=thresholds, settle_none_threshold=settle)
        return CascadeModel(self.fast, self.transformer, config)

    def save_config(self, directory: Path) -> None:
        (directory / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")

    def save_pretrained(self, directory: Path, *, fast_args: FastTrainingArguments | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.fast.save_pretrained(directory / FAST_DIR, args=fast_args)
        self.transformer.save_pretrained(directory / TRANSFORMER_DIR)
        self.save_config(directory)

    @classmethod
    def from_pretrained(cls, directory: Path, *, base_cache_dir: Path) -> CascadeModel:
        from threatwatch.classify.transformer import TransformerStage

        raw = json.loads((directory / CONFIG_FILE).read_text())
        raw["labels"] = tuple(raw["labels"])
        config = CascadeConfig(**raw)
        fast = FastStageModel.from_pretrained(directory / FAST_DIR)
        transformer = TransformerStage.from_pretrained(
            directory / TRANSFORMER_DIR, base_cache_dir=base_cache_dir, int8=config.int8
        )
        return cls(fast, transformer, config)


def cascade_labels(
    probabilities: npt.NDArray[np.float64], escalated: npt.NDArray[np.bool_], thresholds: dict[str, float]
) -> list[Label]:
    """Thresholds decide escalated rows; a settled row takes its likeliest unflagged label."""
    decided = decide(probabilities, thresholds)
    unflagged = [i for i, label in enumerate(LABELS) if label not in FLAGGED_LABELS]
    return [
        label if hard else LABELS[unflagged[int(np.argmax(row[unflagged]))]]
        for label, hard, row in zip(decided, escalated, probabilities, strict=True)
    ]


def choose_settle_threshold(
    fast_probabilities: npt.NDArray[np.float64],
    transformer_probabilities: npt.NDArray[np.float64],
    gold: Sequence[str],
    *,
    thresholds: dict[str, float],
    max_recall_loss: float = 0.005,
) -> float:
    """The lowest P(none) at which the fast stage may settle a message while flagged recall on dev stays
    within ``max_recall_loss`` of the transformer deciding everything. Lower settles more: faster."""
    flagged = {label.value for label in FLAGGED_LABELS}
    actual = np.asarray([g in flagged for g in gold])

    def recall(probabilities: npt.NDArray[np.float64], escalated: npt.NDArray[np.bool_]) -> float:
        labels = cascade_labels(probabilities, escalated, thresholds)
        predicted = np.asarray([label.value in flagged for label in labels])
        return float((predicted & actual).sum() / max(1, actual.sum()))

    reference = recall(transformer_probabilities, np.ones(len(gold), dtype=bool))
    for percent in range(50, 100):
        escalated = fast_probabilities[:, NONE_COLUMN] < percent / 100
        mixed = np.where(escalated[:, None], transformer_probabilities, fast_probabilities)
        if recall(mixed, escalated) >= reference - max_recall_loss:
            return percent / 100
    return 1.0  # never settle: the fast stage is not trusted on its own
