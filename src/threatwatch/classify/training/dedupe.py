"""Near-duplicate detection for labelled data: the same message with a name, place or number swapped."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sklearn.feature_extraction.text import TfidfVectorizer

from threatwatch.watchlist.names import fold

_HANDLE_OR_TAG = re.compile(r"[@#][\w.]+")
_NAME = re.compile(r"\b[A-ZÀ-Ý][a-zà-ÿ]+(?:[-'][A-Za-zÀ-ÿ]+)*\b")
_NUMBER = re.compile(r"\d+")
_URL = re.compile(r"https?://\S+|www\.\S+")

NEAR_DUPLICATE_COSINE = 0.8
MIN_SHARED_WORD_SHARE = 0.6  # and most words in common, so two short curses sharing one slur don't count
# Rows compared at a time: the similarity of tens of thousands of messages is dense (common trigrams),
# so it is computed one block of rows at a time and only the pairs above the threshold are kept.
_BLOCK_ROWS = 1024


def skeleton(text: str) -> str:
    """The text with what a template would swap (links, handles, hashtags, capitalised names, numbers)
    removed."""
    text = _NUMBER.sub(" ", _HANDLE_OR_TAG.sub(" ", _URL.sub(" ", text)))
    without_names = " ".join(fold(_NAME.sub(" ", text)).split())
    # A short outburst that is mostly capitalised words would vanish: compare it whole instead.
    return without_names if len(re.findall(r"\w+", without_names)) >= 3 else " ".join(fold(text).split())


def near_duplicate_pairs(
    texts: Sequence[str],
    *,
    threshold: float = NEAR_DUPLICATE_COSINE,
    against: Sequence[str] = (),
) -> list[tuple[int, int, float]]:
    """Pairs (i, j, cosine) whose skeletons' character 3-5-gram TF-IDF cosine is ≥ threshold and that
    share most of their words.

    Without ``against``: pairs within ``texts``, i < j. With ``against``: pairs between ``texts[i]`` and
    ``against[j]`` only (new data checked against old, or an evaluation set against training data)."""
    cross = len(against) > 0
    if not texts or (not cross and len(texts) < 2):
        return []
    skeletons = [skeleton(t) for t in texts]
    others = [skeleton(t) for t in against] if cross else skeletons
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    vectorizer.fit(skeletons + (others if cross else []))
    rows = vectorizer.transform(skeletons)
    columns_t = (vectorizer.transform(others) if cross else rows).T.tocsc()
    words = [set(s.split()) for s in skeletons]
    other_words = [set(s.split()) for s in others] if cross else words
    pairs = []
    for start in range(0, rows.shape[0], _BLOCK_ROWS):
        block = (rows[start : start + _BLOCK_ROWS] @ columns_t).tocoo()
        keep = block.data >= threshold
        for i, j, value in zip(block.row[keep] + start, block.col[keep], block.data[keep], strict=True):
            if not cross and i >= j:
                continue
            shared = len(words[i] & other_words[j]) / max(1, min(len(words[i]), len(other_words[j])))
            if shared >= MIN_SHARED_WORD_SHARE:
                pairs.append((int(i), int(j), float(value)))
    return sorted(pairs)
