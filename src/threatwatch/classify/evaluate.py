"""Metrics we report: per-label P/R/F1, flagged-vs-not, confusion matrix, false flags on hard negatives
and on ordinary messages, and the flagged precision those rates give in a real stream."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from threatwatch.classify.prevalence import STREAM_FLAGGED_SHARE
from threatwatch.classify.prevalence import precision_at_prevalence as stream_precision
from threatwatch.domain import FLAGGED_LABELS, LABELS


@dataclass(frozen=True)
class Evaluation:
    n: int
    per_label: dict[str, dict[str, float]]
    macro_f1: float
    flagged_precision: float
    flagged_recall: float
    flagged_f1: float
    confusion: list[list[int]]
    hard_negative_false_flag_rate: float | None
    # Flagged share of ordinary `none` messages (not hard negatives), and of everything not flagged.
    ordinary_false_flag_rate: float | None = None
    false_flag_rate: float | None = None
    # Flagged precision in a stream with `prevalence.STREAM_FLAGGED_SHARE` flagged messages, from the
    # recall and false-flag rate above (the labelled data's own precision says little about a stream).
    stream_prevalence: float = STREAM_FLAGGED_SHARE
    precision_at_stream_prevalence: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(
    gold: Sequence[str],
    predicted: Sequence[str],
    *,
    hard_negative: Sequence[bool] | None = None,
    ordinary: Sequence[bool] | None = None,
) -> Evaluation:
    names = [label.value for label in LABELS]
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=names, zero_division=0
    )
    flagged = {label.value for label in FLAGGED_LABELS}
    gold_flag = [g in flagged for g in gold]
    pred_flag = [p in flagged for p in predicted]
    fp, fr, ff, _ = precision_recall_fscore_support(
        gold_flag, pred_flag, average="binary", pos_label=True, zero_division=0
    )

    def flagged_share(mask: Sequence[bool] | None) -> float | None:
        if mask is None:
            return None
        rows = [p for p, m in zip(pred_flag, mask, strict=True) if m]
        return sum(rows) / len(rows) if rows else None

    false_flags = flagged_share([not g for g in gold_flag])
    precision_at_prevalence = (
        stream_precision(float(fr), false_flags, STREAM_FLAGGED_SHARE) if false_flags is not None else None
    )
    return Evaluation(
        n=len(gold),
        per_label={
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
        },
        macro_f1=float(f1_score(gold, predicted, labels=names, average="macro", zero_division=0)),
        flagged_precision=float(fp),
        flagged_recall=float(fr),
        flagged_f1=float(ff),
        confusion=confusion_matrix(gold, predicted, labels=names).tolist(),
        hard_negative_false_flag_rate=flagged_share(hard_negative),
        ordinary_false_flag_rate=flagged_share(ordinary),
        false_flag_rate=false_flags,
        precision_at_stream_prevalence=precision_at_prevalence,
    )


def format_evaluation(evaluation: Evaluation) -> str:
    """A plain-text report for the terminal and the model card."""
    names = [label.value for label in LABELS]
    lines = [f"{'label':<10} {'prec':>6} {'recall':>6} {'f1':>6} {'n':>5}"]
    for name in names:
        m = evaluation.per_label[name]
        lines.append(f"{name:<10} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['support']:5d}")
    lines.append(f"macro-F1 {evaluation.macro_f1:.3f}")
    lines.append(
        f"flagged: precision {evaluation.flagged_precision:.3f} recall {evaluation.flagged_recall:.3f} "
        f"F1 {evaluation.flagged_f1:.3f}"
    )
    if evaluation.hard_negative_false_flag_rate is not None:
        lines.append(f"false-flag rate on hard negatives {evaluation.hard_negative_false_flag_rate:.3f}")
    if evaluation.ordinary_false_flag_rate is not None:
        lines.append(
            f"false flags per 1,000 ordinary messages {1000 * evaluation.ordinary_false_flag_rate:.1f}"
        )
    if evaluation.precision_at_stream_prevalence is not None:
        lines.append(
            f"flagged precision at a stream prevalence of 1 in {round(1 / evaluation.stream_prevalence)}: "
            f"{evaluation.precision_at_stream_prevalence:.3f}"
        )
    lines.append("confusion (rows gold, columns predicted): " + " ".join(names))
    for name, row in zip(names, evaluation.confusion, strict=True):
        lines.append(f"  {name:<10} " + " ".join(f"{v:5d}" for v in row))
    return "\n".join(lines)
