"""Model-agnostic explanations by occlusion: drop a word, see how far the chosen label's score falls."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from threatwatch.classify.base import ClassificationResult, Span
from threatwatch.domain import FLAGGED_LABELS, LABELS, Label

_WORD = re.compile(r"@?\w+(?:['’-]\w+)*", re.UNICODE)
MAX_WORDS = 80  # longer texts: only the first words are occluded, which bounds the cost


def occlusion_spans(
    texts: Sequence[str],
    label_indices: Sequence[int],
    predict_proba: Callable[[Sequence[str]], npt.NDArray[np.float64]],
    *,
    top_k: int = 5,
    min_weight: float = 0.01,
) -> list[tuple[Span, ...]]:
    """For each text, the ``top_k`` words whose removal lowers the chosen label's probability most.

    All variants of all texts go through the model in one batch.
    """
    variants: list[str] = []
    owners: list[tuple[int, re.Match[str] | None]] = []
    for t_index, text in enumerate(texts):
        variants.append(text)
        owners.append((t_index, None))
        for word in list(_WORD.finditer(text))[:MAX_WORDS]:
            variants.append(text[: word.start()] + text[word.end() :])
            owners.append((t_index, word))
    probabilities = predict_proba(variants)
    base: dict[int, float] = {}
    candidates: dict[int, list[Span]] = {i: [] for i in range(len(texts))}
    for row, (t_index, occluded) in zip(probabilities, owners, strict=True):
        score = float(row[label_indices[t_index]])
        if occluded is None:
            base[t_index] = score
            continue
        weight = base[t_index] - score
        if weight >= min_weight:
            candidates[t_index].append(Span(occluded.start(), occluded.end(), occluded.group(0), weight))
    return [
        tuple(sorted(sorted(spans, key=lambda s: -s.weight)[:top_k], key=lambda s: s.start))
        for _, spans in sorted(candidates.items())
    ]


def explained_results(
    texts: Sequence[str],
    probabilities: npt.NDArray[np.float64],
    labels: Sequence[Label],
    *,
    version: str,
    explain_with: Callable[[Sequence[str]], npt.NDArray[np.float64]] | None,
) -> list[ClassificationResult]:
    """Results in input order; flagged ones explained by occlusion through ``explain_with`` when given."""
    explanations: dict[int, tuple[Span, ...]] = {}
    flagged_rows = [i for i, label in enumerate(labels) if label in FLAGGED_LABELS]
    if explain_with is not None and flagged_rows:
        spans = occlusion_spans(
            [texts[i] for i in flagged_rows], [LABELS.index(labels[i]) for i in flagged_rows], explain_with
        )
        explanations = dict(zip(flagged_rows, spans, strict=True))
    return [
        ClassificationResult(
            label=label,
            scores={name.value: float(p) for name, p in zip(LABELS, row, strict=True)},
            flagged=label in FLAGGED_LABELS,
            model_version=version,
            explanation=explanations.get(i, ()),
        )
        for i, (label, row) in enumerate(zip(labels, probabilities, strict=True))
    ]
