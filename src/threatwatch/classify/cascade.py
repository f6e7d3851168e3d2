"""The cascade: the fast stage settles the clearly benign bulk, the transformer decides the rest."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from threatwatch.classify.base import ClassificationResult, Span, decide
from threatwatch.classify.explain import explained_results, verified_spans
from threatwatch.classify.fast import CONFIG_FILE, FastStageModel, FastTrainingArguments
from threatwatch.classify.prevalence import prior_weights, shift
from threatwatch.classify.training.thresholds import tune_for_stream, tune_thresholds
from threatwatch.domain import FLAGGED_LABELS, LABELS, Label

if TYPE_CHECKING:  # torch is imported only when a transformer is actually loaded
    from threatwatch.classify.transformer.early_exit import ExitGate, ExitGateArguments
    from threatwatch.classify.transformer.stage import TransformerStage

FAST_DIR = "fast"
TRANSFORMER_DIR = "transformer"
NONE_COLUMN = LABELS.index(Label.NONE)
# Flagged recall on dev that settling may cost against the transformer deciding everything: the fast stage
# alone, and fast stage plus exit gate together. The target on test is at most 1 point.
SETTLE_RECALL_BUDGET = 0.005
EXIT_RECALL_BUDGET = 0.0075
EXIT_GRID = tuple(round(0.01 * i, 2) for i in range(1, 51))


@dataclass(frozen=True)
class CascadeConfig:
    version: str
    settle_none_threshold: float
    thresholds: dict[str, float] = field(default_factory=dict)
    labels: tuple[str, ...] = tuple(label.value for label in LABELS)
    # Per-channel dynamic int8, feed-forward outputs kept in fp32 (see transformer/model.py): faster,
    # nearly always the same label as fp32 (speed: README). The model card reports the quantised model.
    int8: bool = True
    # The transformer's exit gate (see transformer/early_exit.py) settles an escalated message when the
    # flagged share of its probabilities after the first layers is below this; None: every escalated
    # message runs the whole transformer.
    exit_settle_below: float | None = None
    # Per stage ("fast", "transformer"), the factors that move its probabilities from the label mix it
    # trained on to a real stream's (`prevalence`); empty: scores as the stages give them.
    prior_weights: dict[str, dict[str, float]] = field(default_factory=dict)
    kind: str = "cascade"


class CascadeModel:
    """Two stages behind the one ``Classifier`` contract.

    A message whose fast-stage probability of ``none`` reaches ``settle_none_threshold`` (≥ 0.5) is
    settled there as not flagged, with its fast-stage probabilities; every other message goes to the
    transformer. With an exit gate, the transformer's first layers may settle it as not flagged too;
    the rest finish the transformer, whose probabilities meet the per-label thresholds.
    """

    def __init__(
        self,
        fast: FastStageModel,
        transformer: TransformerStage,
        config: CascadeConfig,
        gate: ExitGate | None = None,
    ) -> None:
        if config.exit_settle_below is not None and gate is None:
            raise ValueError("the config sets an exit threshold but the transformer has no exit gate")
        self.fast = fast
        self.transformer = transformer
        self.config = config
        self.gate = gate

    @property
    def version(self) -> str:
        return self.config.version

    def escalated(self, fast_probabilities: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        return np.asarray(fast_probabilities[:, NONE_COLUMN] < self.config.settle_none_threshold)

    def _stages(self, texts: Sequence[str]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """Probabilities per text and which texts the whole transformer decided."""
        probabilities = self.fast.predict_proba(texts)
        escalated = self.escalated(probabilities)
        decided = escalated.copy()
        hard = np.flatnonzero(escalated)
        if hard.size:
            escalated_texts = [texts[int(i)] for i in hard]
            if self.gate is not None and self.config.exit_settle_below is not None:
                from threatwatch.classify.transformer.early_exit import gated_proba

                probabilities[hard], at_gate = gated_proba(
                    self.transformer, self.gate, escalated_texts, settle_below=self.config.exit_settle_below
                )
                decided[hard[at_gate]] = False
            else:
                probabilities[hard] = self.transformer.predict_proba(escalated_texts)
        weights = self.config.prior_weights
        if weights:
            probabilities[~escalated] = shift(probabilities[~escalated], weights[FAST_DIR])
            probabilities[escalated] = shift(probabilities[escalated], weights[TRANSFORMER_DIR])
        return probabilities, decided

    def decided_by_transformer(self, texts: Sequence[str]) -> npt.NDArray[np.bool_]:
        """Which texts neither the fast stage nor the exit gate settled."""
        return self._stages(texts)[1]

    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        return self._stages(texts)[0]

    def predict(self, texts: Sequence[str], *, explain: bool = True) -> list[ClassificationResult]:
        probabilities, escalated = self._stages(texts)
        labels = cascade_labels(probabilities, escalated, self.config.thresholds)
        return explained_results(
            texts, probabilities, labels, version=self.version, explain_with=self.explain if explain else None
        )

    def explain(self, texts: Sequence[str], labels: Sequence[Label]) -> list[tuple[Span, ...]]:
        """Flagged messages were all decided by the transformer; the fast stage proposes spans and the
        transformer weighs them (`verified_spans`): three transformer passes per message."""
        return verified_spans(
            texts,
            [LABELS.index(label) for label in labels],
            propose=self.fast.predict_proba,
            verify=self.transformer.predict_proba,
        )

    def tuned(
        self,
        dev_texts: Sequence[str],
        dev_gold: Sequence[str],
        dev_hard_negative: Sequence[bool],
        *,
        max_recall_loss: float = EXIT_RECALL_BUDGET,
    ) -> CascadeModel:
        """The same stages with thresholds and settle points chosen on dev, from this model's own scores.

        Where both stages recorded the label mix they trained on, scores are moved to a real stream's
        mix (`prevalence`) and the thresholds are tuned on the moved scores for the most flagged recall
        within false-flag budgets (`thresholds.tune_for_stream`); otherwise for a recall target as
        before. The fast stage may cost at most ``SETTLE_RECALL_BUDGET`` of flagged recall on dev
        against the transformer deciding everything; the exit gate, where there is one, at most
        ``max_recall_loss`` for both together."""
        weights = self.stream_prior_weights()
        fast_dev = self.fast.predict_proba(dev_texts)
        gate_dev: npt.NDArray[np.float64] | None = None
        if self.gate is not None:
            from threatwatch.classify.transformer.early_exit import gate_and_full_proba

            gate_dev, transformer_dev = gate_and_full_proba(self.transformer, self.gate, dev_texts)
        else:
            transformer_dev = self.transformer.predict_proba(dev_texts)
        if weights:
            transformer_dev = shift(transformer_dev, weights[TRANSFORMER_DIR])
            ordinary = [
                gold == Label.NONE.value and not hard
                for gold, hard in zip(dev_gold, dev_hard_negative, strict=True)
            ]
            thresholds = tune_for_stream(
                transformer_dev, dev_gold, hard_negative=dev_hard_negative, ordinary=ordinary
            )
        else:
            thresholds = tune_thresholds(transformer_dev, dev_gold, hard_negative=dev_hard_negative)
        settle = choose_settle_threshold(
            fast_dev, transformer_dev, dev_gold, thresholds=thresholds, max_recall_loss=SETTLE_RECALL_BUDGET
        )
        exit_below = None
        if gate_dev is not None:
            exit_below = choose_exit_threshold(
                fast_dev,
                gate_dev,
                transformer_dev,
                dev_gold,
                thresholds=thresholds,
                settle_none_threshold=settle,
                max_recall_loss=max(max_recall_loss, SETTLE_RECALL_BUDGET),
            )
        config = replace(
            self.config,
            thresholds=thresholds,
            settle_none_threshold=settle,
            exit_settle_below=exit_below,
            prior_weights=weights,
        )
        return CascadeModel(self.fast, self.transformer, config, self.gate)

    def stream_prior_weights(self) -> dict[str, dict[str, float]]:
        """`prevalence.prior_weights` of both stages, or {} when either did not record its label mix."""
        fast_counts = self.fast.config.label_counts
        transformer_counts = self.transformer.config.label_counts
        if not fast_counts or not transformer_counts:
            return {}
        return {FAST_DIR: prior_weights(fast_counts), TRANSFORMER_DIR: prior_weights(transformer_counts)}

    def save_config(self, directory: Path) -> None:
        (directory / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")

    def save_pretrained(
        self,
        directory: Path,
        *,
        fast_args: FastTrainingArguments | None = None,
        gate_args: ExitGateArguments | None = None,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.fast.save_pretrained(directory / FAST_DIR, args=fast_args)
        self.transformer.save_pretrained(directory / TRANSFORMER_DIR)
        if self.gate is not None:
            self.gate.save(directory / TRANSFORMER_DIR, args=gate_args)
        self.save_config(directory)

    @classmethod
    def from_pretrained(cls, directory: Path, *, base_cache_dir: Path) -> CascadeModel:
        from threatwatch.classify.transformer.early_exit import ExitGate
        from threatwatch.classify.transformer.stage import TransformerStage

        raw = json.loads((directory / CONFIG_FILE).read_text())
        raw["labels"] = tuple(raw["labels"])
        config = CascadeConfig(**raw)
        fast = FastStageModel.from_pretrained(directory / FAST_DIR)
        transformer = TransformerStage.from_pretrained(
            directory / TRANSFORMER_DIR, base_cache_dir=base_cache_dir, int8=config.int8
        )
        return cls(fast, transformer, config, ExitGate.load(directory / TRANSFORMER_DIR))


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


def _flagged_recall(
    probabilities: npt.NDArray[np.float64],
    decided: npt.NDArray[np.bool_],
    gold: Sequence[str],
    thresholds: dict[str, float],
) -> float:
    flagged = {label.value for label in FLAGGED_LABELS}
    actual = np.asarray([g in flagged for g in gold])
    labels = cascade_labels(probabilities, decided, thresholds)
    predicted = np.asarray([label.value in flagged for label in labels])
    return float((predicted & actual).sum() / max(1, actual.sum()))


def choose_settle_threshold(
    fast_probabilities: npt.NDArray[np.float64],
    transformer_probabilities: npt.NDArray[np.float64],
    gold: Sequence[str],
    *,
    thresholds: dict[str, float],
    max_recall_loss: float = SETTLE_RECALL_BUDGET,
) -> float:
    """The lowest P(none) at which the fast stage may settle a message while flagged recall on dev stays
    within ``max_recall_loss`` of the transformer deciding everything. Lower settles more: faster."""
    reference = _flagged_recall(transformer_probabilities, np.ones(len(gold), dtype=bool), gold, thresholds)
    for percent in range(50, 100):
        escalated = fast_probabilities[:, NONE_COLUMN] < percent / 100
        mixed = np.where(escalated[:, None], transformer_probabilities, fast_probabilities)
        if _flagged_recall(mixed, escalated, gold, thresholds) >= reference - max_recall_loss:
            return percent / 100
    return 1.0  # never settle: the fast stage is not trusted on its own


def choose_exit_threshold(
    fast_probabilities: npt.NDArray[np.float64],
    gate_probabilities: npt.NDArray[np.float64],
    transformer_probabilities: npt.NDArray[np.float64],
    gold: Sequence[str],
    *,
    thresholds: dict[str, float],
    settle_none_threshold: float,
    max_recall_loss: float,
) -> float | None:
    """The highest flagged share below which the exit gate may settle what the fast stage escalated,
    while flagged recall on dev of the whole cascade stays within ``max_recall_loss`` of the transformer
    deciding everything. Higher settles more: faster. None when not even the lowest step fits."""
    from threatwatch.classify.transformer.early_exit import ExitGate

    reference = _flagged_recall(transformer_probabilities, np.ones(len(gold), dtype=bool), gold, thresholds)
    escalated = fast_probabilities[:, NONE_COLUMN] < settle_none_threshold
    share = ExitGate.flagged_share(gate_probabilities)
    best = None
    for step in EXIT_GRID:
        at_gate = escalated & (share < step)
        decided = escalated & ~at_gate
        mixed = np.where(
            decided[:, None],
            transformer_probabilities,
            np.where(at_gate[:, None], gate_probabilities, fast_probabilities),
        )
        if _flagged_recall(mixed, decided, gold, thresholds) < reference - max_recall_loss:
            break
        best = step
    return best
