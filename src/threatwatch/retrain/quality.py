"""Data quality: agreement between analysts, and labels that contradict the training data.

Contradictions are listed for a person to adjudicate; retraining never settles them by itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import cohen_kappa_score

from threatwatch.classify.base import Classifier
from threatwatch.classify.training.data import Example
from threatwatch.classify.training.dedupe import MIN_SHARED_WORD_SHARE, NEAR_DUPLICATE_COSINE, skeleton
from threatwatch.domain import LABELS
from threatwatch.retrain.labels import LabelledItem, text_key

CONFIDENT_DISAGREEMENT = 0.9  # the model puts at least this probability on another label
_CHUNK = 512


@dataclass(frozen=True)
class Agreement:
    items: int  # messages labelled by two or more people
    observed: float | None  # share of those pairs that agree
    kappa: float | None  # Cohen's kappa over the first two labellers of each item


@dataclass(frozen=True)
class Conflict:
    """One label a person should look at again, and why."""

    kind: str  # "analysts disagree", "contradicts labelled_data", "near labelled_data", "model disagrees"
    key: str
    text: str
    labels: str  # e.g. "anna:threat, bob:none"
    other: str  # the other side: labelled_data's label and text, or the model's label and score


def agreement(items: Sequence[LabelledItem]) -> Agreement:
    first: list[str] = []
    second: list[str] = []
    for item in items:
        by_person: dict[str, str] = {}
        for record in sorted(item.records, key=lambda r: r.labelled_at):
            by_person.setdefault(record.labeller, record.label)
        if len(by_person) >= 2:
            a, b = list(by_person.values())[:2]
            first.append(a)
            second.append(b)
    if not first:
        return Agreement(items=0, observed=None, kappa=None)
    observed = float(np.mean([a == b for a, b in zip(first, second, strict=True)]))
    if len(set(first) | set(second)) < 2:
        return Agreement(items=len(first), observed=observed, kappa=1.0)
    kappa = cohen_kappa_score(first, second, labels=[label.value for label in LABELS])
    return Agreement(items=len(first), observed=observed, kappa=float(kappa))


def describe_labels(item: LabelledItem) -> str:
    return ", ".join(f"{r.labeller}:{r.label}" for r in item.records)


def disagreements(items: Sequence[LabelledItem]) -> list[Conflict]:
    return [
        Conflict("analysts disagree", item.key, item.text, describe_labels(item), "")
        for item in items
        if item.label is None
    ]


def near_duplicates(
    queries: Sequence[str], corpus: Sequence[str], *, threshold: float = NEAR_DUPLICATE_COSINE
) -> list[tuple[int, int]]:
    """(query index, corpus index) of the best near-duplicate per query, by the same measure as
    ``classify.training.dedupe`` (skeleton character n-gram cosine and shared words), computed in chunks
    so that thousands of labels against the labelled data stay small in memory."""
    if not queries or not corpus:
        return []
    query_skeletons = [skeleton(t) for t in queries]
    corpus_skeletons = [skeleton(t) for t in corpus]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    vectorizer.fit(corpus_skeletons + query_skeletons)
    corpus_matrix = vectorizer.transform(corpus_skeletons).T.tocsc()
    corpus_words = [set(re.findall(r"\w+", s)) for s in corpus_skeletons]
    found: list[tuple[int, int]] = []
    for start in range(0, len(queries), _CHUNK):
        block = (vectorizer.transform(query_skeletons[start : start + _CHUNK]) @ corpus_matrix).toarray()
        for offset, row in enumerate(block):
            i = start + offset
            words = set(re.findall(r"\w+", query_skeletons[i]))
            for j in np.argsort(-row)[:5]:
                if row[j] < threshold:
                    break
                shared = len(words & corpus_words[j]) / max(1, min(len(words), len(corpus_words[j])))
                if shared >= MIN_SHARED_WORD_SHARE:
                    found.append((i, int(j)))
                    break
    return found


def contradictions(items: Sequence[LabelledItem], base: Sequence[Example]) -> list[Conflict]:
    """Agreed labels whose text is the same as, or a near-duplicate of, a labelled_data message with
    another label."""
    by_text = {text_key(e.text): e for e in base}
    conflicts: list[Conflict] = []
    rest: list[LabelledItem] = []
    for item in items:
        if item.label is None:
            continue
        example = by_text.get(text_key(item.text))
        if example is None:
            rest.append(item)
        elif example.label.value != item.label:
            conflicts.append(
                Conflict(
                    "contradicts labelled_data",
                    item.key,
                    item.text,
                    describe_labels(item),
                    f"{example.source_file}: {example.label.value}",
                )
            )
    for i, j in near_duplicates([item.text for item in rest], [e.text for e in base]):
        item, example = rest[i], base[j]
        if example.label.value != item.label:
            conflicts.append(
                Conflict(
                    "near labelled_data",
                    item.key,
                    item.text,
                    describe_labels(item),
                    f"{example.source_file}: {example.label.value}: {example.text}",
                )
            )
    return conflicts


def model_disagreements(
    items: Sequence[LabelledItem], model: Classifier, *, confidence: float = CONFIDENT_DISAGREEMENT
) -> list[Conflict]:
    """Agreed labels the model confidently puts elsewhere: either the label or the model is wrong."""
    agreed = [item for item in items if item.label is not None]
    if not agreed:
        return []
    probabilities = model.predict_proba([item.text for item in agreed])
    names = [label.value for label in LABELS]
    conflicts = []
    for item, row in zip(agreed, probabilities, strict=True):
        best = int(np.argmax(row))
        if names[best] != item.label and row[best] >= confidence:
            conflicts.append(
                Conflict(
                    "model disagrees",
                    item.key,
                    item.text,
                    describe_labels(item),
                    f"{model.version}: {names[best]} ({row[best]:.2f})",
                )
            )
    return conflicts
