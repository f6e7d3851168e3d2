"""Scores for a real stream: the labelled data's label mix is not the world's.

A stage's probabilities carry the label mix it was trained on (in our data about one message in five
is flagged; in a real stream about one in two hundred). Bayes' rule moves them to the stream's mix:
multiply each label's probability by (stream share / training share) and renormalise (Saerens et al.,
"Adjusting the outputs of a classifier to new a priori probabilities", 2002). The served scores then
read as "how likely in a real stream", thresholds are tuned on those scores, and precision at the
stream's prevalence is reported beside the labelled-data figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt

from threatwatch.domain import FLAGGED_LABELS, LABELS, Label

# The stream we calibrate for: 1 flagged message in 200 and 2% abuse, the rest `none`. A stated
# assumption (monitoring services report well under 1% threatening posts), not a measurement.
STREAM_FLAGGED_SHARE = 1 / 200
STREAM_ABUSE_SHARE = 0.02


def label_counts(labels: Iterable[str]) -> dict[str, int]:
    """How many of each label a stage trained on, in ``LABELS`` order."""
    counts = Counter(labels)
    return {label.value: int(counts.get(label.value, 0)) for label in LABELS}


def stream_shares(
    trained_on: Mapping[str, int],
    *,
    flagged_share: float = STREAM_FLAGGED_SHARE,
    abuse_share: float = STREAM_ABUSE_SHARE,
) -> dict[str, float]:
    """Each label's share of the stream: the flagged share split over the flagged labels as in
    training (we know no better), abuse and none as stated."""
    flagged = {label.value for label in FLAGGED_LABELS}
    flagged_total = sum(trained_on.get(name, 0) for name in flagged)
    shares = {
        name: flagged_share * trained_on.get(name, 0) / flagged_total if flagged_total else 0.0
        for name in flagged
    }
    shares[Label.ABUSE.value] = abuse_share
    shares[Label.NONE.value] = 1.0 - flagged_share - abuse_share
    return {label.value: shares[label.value] for label in LABELS}


def prior_weights(trained_on: Mapping[str, int], **shares: float) -> dict[str, float]:
    """Per label, stream share ÷ training share: what `shift` multiplies probabilities by."""
    total = sum(trained_on.values())
    if not total or any(trained_on.get(label.value, 0) == 0 for label in LABELS):
        raise ValueError(f"every label needs training examples to shift priors, got {dict(trained_on)}")
    stream = stream_shares(trained_on, **shares)
    return {label.value: stream[label.value] / (trained_on[label.value] / total) for label in LABELS}


def shift(probabilities: npt.NDArray[np.float64], weights: Mapping[str, float]) -> npt.NDArray[np.float64]:
    """Rows moved to the stream's label mix (``LABELS`` column order); empty weights change nothing."""
    if not weights or not len(probabilities):
        return probabilities
    column_weights = np.asarray([weights[label.value] for label in LABELS], dtype=np.float64)
    weighted = probabilities * column_weights
    return np.asarray(weighted / weighted.sum(axis=1, keepdims=True).clip(min=1e-300), dtype=np.float64)


def precision_at_prevalence(recall: float, false_flag_rate: float, prevalence: float) -> float:
    """Flagged precision in a stream where ``prevalence`` of messages should be flagged, from the
    rates measured on labelled data (recall on flagged, false-flag rate on the rest)."""
    true_flags = recall * prevalence
    false_flags = false_flag_rate * (1.0 - prevalence)
    return true_flags / (true_flags + false_flags) if true_flags + false_flags else 0.0
