"""Explanations: the words that drove a label.

Occlusion, model-agnostic: drop a word or phrase, see how far the chosen label's score falls. That
costs one model pass per word and phrase, cheap for the fast stage; the transformer verifies only the
few spans the fast stage proposes (`verified_spans`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from threatwatch.classify.base import ClassificationResult, Span
from threatwatch.domain import FLAGGED_LABELS, LABELS, Label

_WORD = re.compile(r"@?\w+(?:['’-]\w+)*", re.UNICODE)
MAX_WORDS = 80  # longer texts: only the first words are occluded, which bounds the cost
WINDOW_SIZES = (1, 2, 3)


def _word_windows(text: str, sizes: Sequence[int]) -> list[tuple[int, int]]:
    words = list(_WORD.finditer(text))[:MAX_WORDS]
    return [
        (words[first].start(), words[first + size - 1].end())
        for size in sizes
        for first in range(len(words) - size + 1)
    ]


def occlusion_spans(
    texts: Sequence[str],
    label_indices: Sequence[int],
    predict_proba: Callable[[Sequence[str]], npt.NDArray[np.float64]],
    *,
    top_k: int = 5,
    min_weight: float = 0.05,
    window_sizes: Sequence[int] = WINDOW_SIZES,
    windows: Sequence[Sequence[tuple[int, int]]] | None = None,
) -> list[tuple[Span, ...]]:
    """For each text, up to ``top_k`` non-overlapping spans (single words or short phrases) whose removal
    lowers the chosen label's log-odds most.

    Log-odds rather than probability: a confident model's probability barely moves when one word goes
    (0.96 to 0.95), its log-odds still show what carried the decision. Phrases matter because a
    transformer reads "weten waar je woont" as a whole. All variants go through the model in one batch.
    ``windows`` (per text, (start, end) pairs) occludes just those instead of every word and phrase.
    """
    variants: list[str] = []
    owners: list[tuple[int, tuple[int, int] | None]] = []
    for t_index, text in enumerate(texts):
        variants.append(text)
        owners.append((t_index, None))
        for start, end in windows[t_index] if windows is not None else _word_windows(text, window_sizes):
            variants.append(text[:start] + text[end:])
            owners.append((t_index, (start, end)))
    probabilities = predict_proba(variants)
    base: dict[int, float] = {}
    candidates: dict[int, list[Span]] = {i: [] for i in range(len(texts))}
    for row, (t_index, occluded) in zip(probabilities, owners, strict=True):
        p = min(max(float(row[label_indices[t_index]]), 1e-6), 1 - 1e-6)
        score = math.log(p / (1 - p))
        if occluded is None:
            base[t_index] = score
            continue
        start, end = occluded
        # Per word, so a long phrase does not win just by removing more text.
        weight = (base[t_index] - score) / len(_WORD.findall(texts[t_index][start:end]))
        candidates[t_index].append(Span(start, end, texts[t_index][start:end], weight))
    chosen: list[tuple[Span, ...]] = []
    for _, spans in sorted(candidates.items()):
        ranked = sorted(spans, key=lambda s: -s.weight)
        picked: list[Span] = []
        for span in ranked:
            if len(picked) == top_k or span.weight < min_weight:
                break
            if all(span.end <= other.start or span.start >= other.end for other in picked):
                picked.append(span)
        # A flagged message always names something: at worst the span that mattered most.
        chosen.append(tuple(sorted(picked, key=lambda s: s.start)) or tuple(ranked[:1]))
    return chosen


def verified_spans(
    texts: Sequence[str],
    label_indices: Sequence[int],
    *,
    propose: Callable[[Sequence[str]], npt.NDArray[np.float64]],
    verify: Callable[[Sequence[str]], npt.NDArray[np.float64]],
    candidates: int = 3,
) -> list[tuple[Span, ...]]:
    """Occlusion on a budget: a cheap model (``propose``) occludes every word and phrase and proposes its
    best ``candidates`` spans; the expensive model that made the decision (``verify``) occludes only
    those, and their weights are its own fall in log-odds. ``candidates`` passes of the expensive model
    per text, instead of one per word and phrase."""
    if not texts:
        return []
    proposed = occlusion_spans(texts, label_indices, propose, top_k=candidates, min_weight=-math.inf)
    verified = occlusion_spans(
        texts, label_indices, verify, windows=[[(s.start, s.end) for s in spans] for spans in proposed]
    )
    return verified


def explain_labels(
    texts: Sequence[str],
    labels: Sequence[Label],
    predict_proba: Callable[[Sequence[str]], npt.NDArray[np.float64]],
) -> list[tuple[Span, ...]]:
    """Occlusion spans for each text's given label (flagged or not) through ``predict_proba``."""
    if not texts:
        return []
    return occlusion_spans(texts, [LABELS.index(label) for label in labels], predict_proba)


def explained_results(
    texts: Sequence[str],
    probabilities: npt.NDArray[np.float64],
    labels: Sequence[Label],
    *,
    version: str,
    explain_with: Callable[[Sequence[str], Sequence[Label]], list[tuple[Span, ...]]] | None,
) -> list[ClassificationResult]:
    """Results in input order; flagged ones explained by ``explain_with`` (texts, labels) when given."""
    explanations: dict[int, tuple[Span, ...]] = {}
    flagged_rows = [i for i, label in enumerate(labels) if label in FLAGGED_LABELS]
    if explain_with is not None and flagged_rows:
        spans = explain_with([texts[i] for i in flagged_rows], [labels[i] for i in flagged_rows])
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
