"""Near-duplicate detection for labelled data: the same message with a name, place or number swapped."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sklearn.feature_extraction.text import TfidfVectorizer

from threatwatch.watchlist.names import fold

_HANDLE_OR_TAG = re.compile(r"[@#][\w.]+")
_NAME = re.compile(r"\b[A-ZÀ-Ý][a-zà-ÿ]+(?:[-'][A-Za-zÀ-ÿ]+)*\b")
_NUMBER = re.compile(r"\d+")

NEAR_DUPLICATE_COSINE = 0.8
MIN_SHARED_WORD_SHARE = 0.6  # and most words in common, so two short curses sharing one slur don't count


def skeleton(text: str) -> str:
    """The text with what a template would swap (handles, hashtags, capitalised names, numbers) removed."""
    text = _NUMBER.sub(" ", _HANDLE_OR_TAG.sub(" ", text))
    without_names = " ".join(fold(_NAME.sub(" ", text)).split())
    # A short outburst that is mostly capitalised words would vanish: compare it whole instead.
    return without_names if len(re.findall(r"\w+", without_names)) >= 3 else " ".join(fold(text).split())


def near_duplicate_pairs(
    texts: Sequence[str], *, threshold: float = NEAR_DUPLICATE_COSINE
) -> list[tuple[int, int, float]]:
    """Pairs (i, j, cosine) with i < j whose skeletons' character 3-5-gram TF-IDF cosine is ≥ threshold
    and that share most of their words."""
    if len(texts) < 2:
        return []
    skeletons = [skeleton(t) for t in texts]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    matrix = vectorizer.fit_transform(skeletons)
    similarity = (matrix @ matrix.T).tocoo()
    pairs = []
    for i, j, value in zip(similarity.row, similarity.col, similarity.data, strict=True):
        if i < j and value >= threshold:
            words_i, words_j = set(skeletons[i].split()), set(skeletons[j].split())
            shared = len(words_i & words_j) / max(1, min(len(words_i), len(words_j)))
            if shared >= MIN_SHARED_WORD_SHARE:
                pairs.append((int(i), int(j), float(value)))
    return sorted(pairs)
