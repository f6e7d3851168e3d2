"""Metrics we report: per-label P/R/F1, flagged-vs-not, confusion matrix, false flags on hard negatives
and on ordinary messages, and the flagged precision those rates give in a real stream.

One function computes them for every evaluation: the fixed splits (labels as strings) and a user's own
file (labels as compact integer codes in ``LABELS`` order, so a million rows stay small)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from threatwatch.classify.prevalence import STREAM_FLAGGED_SHARE
from threatwatch.classify.prevalence import precision_at_prevalence as stream_precision
from threatwatch.domain import FLAGGED_LABELS, LABELS

LABEL_INDEX: dict[str, int] = {label.value: i for i, label in enumerate(LABELS)}
FLAGGED_CODES: tuple[int, ...] = tuple(i for i, label in enumerate(LABELS) if label in FLAGGED_LABELS)

# Labels as their values, or as codes (index into ``LABELS``) in an integer array.
LabelValues = Sequence[str] | npt.NDArray[np.integer[Any]]


def label_codes(values: LabelValues) -> npt.NDArray[np.int8]:
    """Labels as int8 codes in ``LABELS`` order; an unknown label is an error, never guessed."""
    if isinstance(values, np.ndarray) and np.issubdtype(values.dtype, np.integer):
        codes = values.astype(np.int8, copy=False)
        if codes.size and (codes.min() < 0 or codes.max() >= len(LABELS)):
            raise ValueError(f"label codes must lie in 0..{len(LABELS) - 1}")
        return codes
    try:
        return np.fromiter((LABEL_INDEX[v] for v in values), dtype=np.int8, count=len(values))
    except KeyError as exc:
        raise ValueError(f"unknown label {exc.args[0]!r}; labels are {', '.join(LABEL_INDEX)}") from None


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
    # Flagged precision in a stream with `stream_prevalence` flagged messages (by default
    # `prevalence.STREAM_FLAGGED_SHARE`), from the recall and false-flag rate above (the labelled
    # data's own precision says little about a stream).
    stream_prevalence: float = STREAM_FLAGGED_SHARE
    precision_at_stream_prevalence: float | None = None
    # The same per flagged label: the precision of predicting it in that stream, flagged and unflagged
    # labels keeping their mix in the evaluated data (None: no row on one side, or never predicted).
    precision_at_stream_prevalence_by_label: dict[str, float | None] = field(default_factory=dict)
    # Per gold label, the share of its messages flagged (None: no message of that label).
    flagged_share_by_label: dict[str, float | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(
    gold: LabelValues,
    predicted: LabelValues,
    *,
    hard_negative: Sequence[bool] | npt.NDArray[np.bool_] | None = None,
    ordinary: Sequence[bool] | npt.NDArray[np.bool_] | None = None,
    prevalence: float = STREAM_FLAGGED_SHARE,
) -> Evaluation:
    """The metrics of ``predicted`` against ``gold`` (at least one row each, equally long)."""
    gold_codes, predicted_codes = label_codes(gold), label_codes(predicted)
    if len(gold_codes) != len(predicted_codes):
        raise ValueError(f"{len(gold_codes)} gold labels but {len(predicted_codes)} predictions")
    if not len(gold_codes):
        raise ValueError("nothing to evaluate: no labelled rows")
    names = [label.value for label in LABELS]
    codes = list(range(len(LABELS)))
    precision, recall, f1, support = precision_recall_fscore_support(
        gold_codes, predicted_codes, labels=codes, zero_division=0
    )
    gold_flag = np.isin(gold_codes, FLAGGED_CODES)
    pred_flag = np.isin(predicted_codes, FLAGGED_CODES)
    fp, fr, ff, _ = precision_recall_fscore_support(
        gold_flag, pred_flag, average="binary", pos_label=True, zero_division=0
    )

    def flagged_share(mask: Sequence[bool] | npt.NDArray[np.bool_] | None) -> float | None:
        if mask is None:
            return None
        rows = pred_flag[np.asarray(mask, dtype=bool)]
        return float(rows.mean()) if rows.size else None

    false_flags = flagged_share(~gold_flag)
    precision_at_prevalence = (
        stream_precision(float(fr), false_flags, prevalence) if false_flags is not None else None
    )
    confusion = confusion_matrix(gold_codes, predicted_codes, labels=codes)
    return Evaluation(
        n=len(gold_codes),
        per_label={
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
        },
        macro_f1=float(f1_score(gold_codes, predicted_codes, labels=codes, average="macro", zero_division=0)),
        flagged_precision=float(fp),
        flagged_recall=float(fr),
        flagged_f1=float(ff),
        confusion=confusion.tolist(),
        hard_negative_false_flag_rate=flagged_share(hard_negative),
        ordinary_false_flag_rate=flagged_share(ordinary),
        false_flag_rate=false_flags,
        stream_prevalence=prevalence,
        precision_at_stream_prevalence=precision_at_prevalence,
        precision_at_stream_prevalence_by_label=_label_precision_at_prevalence(confusion, prevalence),
        flagged_share_by_label={name: flagged_share(gold_codes == i) for i, name in enumerate(names)},
    )


def _label_precision_at_prevalence(
    confusion: npt.NDArray[np.int64], prevalence: float
) -> dict[str, float | None]:
    """Precision of each flagged label in a stream where ``prevalence`` of messages are flagged: each
    gold row of the confusion matrix, as rates, weighted by its share of such a stream (flagged and
    unflagged labels each keep their mix in the evaluated data)."""
    support = confusion.sum(axis=1)
    flagged = np.isin(np.arange(len(LABELS)), FLAGGED_CODES)
    flagged_support, other_support = int(support[flagged].sum()), int(support[~flagged].sum())
    if not flagged_support or not other_support:
        return {LABELS[c].value: None for c in FLAGGED_CODES}
    weight = np.where(
        flagged, prevalence * support / flagged_support, (1.0 - prevalence) * support / other_support
    )
    rates = confusion / np.maximum(support, 1)[:, None]
    predicted_mass = weight @ rates  # share of the stream predicted as each label
    return {
        LABELS[c].value: float(weight[c] * rates[c, c] / predicted_mass[c]) if predicted_mass[c] > 0 else None
        for c in FLAGGED_CODES
    }


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
    shares = evaluation.flagged_share_by_label
    if shares:
        parts = [f"{n} {'-' if shares.get(n) is None else format(shares[n], '.3f')}" for n in names]
        lines.append("share flagged per gold label: " + ", ".join(parts))
    if evaluation.hard_negative_false_flag_rate is not None:
        lines.append(f"false-flag rate on hard negatives {evaluation.hard_negative_false_flag_rate:.3f}")
    if evaluation.ordinary_false_flag_rate is not None:
        lines.append(
            f"false flags per 1,000 ordinary messages {1000 * evaluation.ordinary_false_flag_rate:.1f}"
        )
    if evaluation.precision_at_stream_prevalence is not None:
        lines.append(
            f"flagged precision at a stream prevalence of 1 in {1 / evaluation.stream_prevalence:,.0f}: "
            f"{evaluation.precision_at_stream_prevalence:.3f}"
        )
        by_label = evaluation.precision_at_stream_prevalence_by_label
        if by_label:
            parts = [f"{n} {'-' if v is None else format(v, '.3f')}" for n, v in by_label.items()]
            lines.append("  per flagged label (the data's mix of flagged labels): " + ", ".join(parts))
    lines.append("confusion (rows gold, columns predicted): " + " ".join(names))
    for name, row in zip(names, evaluation.confusion, strict=True):
        lines.append(f"  {name:<10} " + " ".join(f"{v:5d}" for v in row))
    return "\n".join(lines)
