"""Figures for model cards: precision-recall curves, confusion matrix, reliability diagram (PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from threatwatch.domain import FLAGGED_LABELS, LABELS

PR_CURVES = "pr_curves.png"
CONFUSION = "confusion_matrix.png"
RELIABILITY = "reliability.png"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display, no GUI toolkit
    import matplotlib.pyplot as plt

    return plt


def write_card_plots(
    directory: Path,
    probabilities: npt.NDArray[np.float64],
    gold: Sequence[str] | npt.NDArray[np.str_],
    predicted: Sequence[str] | npt.NDArray[np.str_],
    *,
    title: str,
) -> list[str]:
    """Write the three figures for the split the probabilities belong to; returns their file names.

    A label no gold row has gets no precision-recall curve (it has no recall to draw)."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import average_precision_score, confusion_matrix, precision_recall_curve

    plt = _pyplot()
    names = [label.value for label in LABELS]
    gold_arr = np.asarray(gold)

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for i, name in enumerate(names):
        if LABELS[i] not in FLAGGED_LABELS:
            continue
        truth = gold_arr == name
        if not truth.any():
            continue
        precision, recall, _ = precision_recall_curve(truth, probabilities[:, i])
        ap = average_precision_score(truth, probabilities[:, i])
        ax.plot(recall, precision, label=f"{name} (AP {ap:.3f})")
    flagged_idx = [i for i, label in enumerate(LABELS) if label in FLAGGED_LABELS]
    flagged_truth = np.isin(gold_arr, [names[i] for i in flagged_idx])
    flagged_score = probabilities[:, flagged_idx].sum(axis=1)
    if flagged_truth.any():
        precision, recall, _ = precision_recall_curve(flagged_truth, flagged_score)
        ax.plot(
            recall,
            precision,
            "k--",
            label=f"flagged (AP {average_precision_score(flagged_truth, flagged_score):.3f})",
        )
    ax.set(
        xlabel="recall", ylabel="precision", title=f"{title}: precision-recall", xlim=(0, 1), ylim=(0, 1.02)
    )
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(directory / PR_CURVES, dpi=110)
    plt.close(fig)

    matrix = confusion_matrix(gold, predicted, labels=names)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.imshow(matrix, cmap="Blues")
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xticklabels=names, yticklabels=names)
    ax.set(xlabel="predicted", ylabel="gold", title=f"{title}: confusion matrix")
    for (row, col), value in np.ndenumerate(matrix):
        ax.text(
            col,
            row,
            str(value),
            ha="center",
            va="center",
            color="white" if value > matrix.max() / 2 else "black",
        )
    fig.tight_layout()
    fig.savefig(directory / CONFUSION, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect")
    for i, name in enumerate(names):
        truth = gold_arr == name
        observed, expected = calibration_curve(truth, probabilities[:, i], n_bins=10, strategy="quantile")
        ax.plot(expected, observed, marker="o", markersize=3, label=name)
    ax.set(xlabel="predicted probability", ylabel="observed frequency", title=f"{title}: reliability")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(directory / RELIABILITY, dpi=110)
    plt.close(fig)
    return [PR_CURVES, CONFUSION, RELIABILITY]


def expected_calibration_error(
    probabilities: npt.NDArray[np.float64], gold: Sequence[str], *, bins: int = 10
) -> float:
    """ECE of the top label: how far confidence is from accuracy, weighted by bin size."""
    names = np.asarray([label.value for label in LABELS])
    confidence = probabilities.max(axis=1)
    correct = names[probabilities.argmax(axis=1)] == np.asarray(gold)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for low, high in pairwise(edges):
        mask = (confidence > low) & (confidence <= high)
        if mask.any():
            total += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(total)
