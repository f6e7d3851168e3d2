"""Language of a post, and which posts are classified (Dutch by default; the rest stored only).

Detection (py3langid) is limited to languages seen online in the Netherlands so that short Dutch texts
are not mistaken for Afrikaans or Luxembourgish. When it is unsure, the feed's declared language
stands, and a post whose language cannot be told is classified: missing a threat costs more.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from py3langid.langid import MODEL_FILE, LanguageIdentifier
from sqlalchemy import ColumnElement, and_, or_

from threatwatch.db.models import Post

CANDIDATE_LANGUAGES = (
    "nl", "en", "de", "fr", "fy", "tr", "ar", "pl", "es", "it", "pt", "ro", "id", "so", "uk", "ru",
)  # fmt: skip
MIN_CONFIDENCE = 0.7
MIN_LETTERS = 12
# The opening of a post tells its language; reading further costs time (linear) and rarely changes it.
SAMPLE_CHARS = 120


@dataclass(frozen=True)
class _Walker:
    """py3langid's byte automaton as arrays, to walk many texts in lock-step (one numpy step per byte
    position instead of one Python step per byte per text). Scores are then taken exactly as
    py3langid takes them, so the outcome is the same to the last bit (``tests`` compare both)."""

    identifier: Any
    next_move: np.ndarray[Any, Any]
    row_base: np.ndarray[Any, Any]
    output: np.ndarray[Any, Any]

    @classmethod
    def of(cls, identifier: Any) -> _Walker | None:
        """``None`` when this py3langid keeps its model otherwise (then texts go one by one)."""
        try:
            moves = identifier.tk_nextmove
            walker = cls(
                identifier=identifier,
                next_move=np.frombuffer(moves, dtype=np.dtype(moves.typecode)),
                row_base=np.asarray(identifier._rowbase, dtype=np.intp),
                output=np.asarray(identifier.tk_output, dtype=np.intp),
            )
            usable = (
                identifier._norm_probs
                and identifier.min_confidence is None
                and not identifier._alias_pairs
                and callable(identifier._encode)
                and callable(identifier._sparse_score)
            )
        except (AttributeError, TypeError, ValueError):
            return None
        return walker if usable else None

    def classify(self, samples: Sequence[str]) -> list[tuple[str, float]]:
        identifier = self.identifier
        encoded: list[bytes] = [identifier._encode(sample) for sample in samples]
        count = len(encoded)
        width = max(map(len, encoded), default=0)
        grid = np.zeros((count, width), dtype=np.uint8)
        for row, data in enumerate(encoded):
            grid[row, : len(data)] = np.frombuffer(data, dtype=np.uint8)
        states = np.zeros(count, dtype=np.intp)
        visited = np.empty((width, count), dtype=np.intp)
        for column in range(width):
            states = self.next_move[self.row_base[states] + grid[:, column]]
            visited[column] = states
        features = self.output[visited.T]
        scores = np.zeros((count, len(identifier.nb_classes)), dtype=np.float32)
        for row, data in enumerate(encoded):
            found = features[row, : len(data)]
            # Counter keeps first-seen order, as py3langid's does: the same sum in the same order.
            visits = Counter(found[found >= 0].tolist())
            if visits:
                scores[row] = identifier._sparse_score(visits, identifier.nb_ptc)
        # py3langid's normalisation (norm_probs), row by row.
        scores *= np.array([1.0 / math.sqrt(len(data) or 1) for data in encoded], dtype=np.float32)[:, None]
        np.exp(scores - scores.max(axis=1, keepdims=True), out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        best = scores.argmax(axis=1).tolist()
        return [(str(identifier.nb_classes[i]), float(scores[row, i])) for row, i in enumerate(best)]


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(CANDIDATE_LANGUAGES))
    return identifier


@lru_cache(maxsize=1)
def _walker() -> _Walker | None:
    return _Walker.of(_identifier())


def warm_up() -> None:
    """Load the model now (about a second: it is decompressed) rather than on the first post."""
    _walker()


def _classify(samples: Sequence[str]) -> list[tuple[str, float]]:
    walker = _walker()
    if walker is not None:
        return walker.classify(samples)
    identifier = _identifier()
    return [(str(language), float(p)) for language, p in map(identifier.classify, samples)]


def _declared(code: str | None) -> str | None:
    """``nl-NL`` and ``NL`` mean ``nl``."""
    if not code:
        return None
    return code.strip().lower().replace("_", "-").split("-", 1)[0][:20] or None


def _too_short(text: str) -> bool:
    return len(text) < 4 * MIN_LETTERS and sum(ch.isalpha() for ch in text) < MIN_LETTERS


def detect_languages(texts: Sequence[str], declared: Sequence[str | None]) -> list[str | None]:
    """``detect_language`` of each text (with its feed's declared language), for a whole batch at once.

    Each distinct opening is classified once (boosts and copy-paste repeat it), all in one walk.
    """
    if len(texts) != len(declared):
        raise ValueError("one declared language (or None) per text")
    openings = [None if _too_short(text) else text[:SAMPLE_CHARS] for text in texts]
    distinct = list(dict.fromkeys(o for o in openings if o is not None))
    found = dict(zip(distinct, _classify(distinct) if distinct else [], strict=True))
    languages: list[str | None] = []
    for opening, code in zip(openings, declared, strict=True):
        if opening is None:
            languages.append(_declared(code))
            continue
        language, confidence = found[opening]
        languages.append(_declared(code) or language if confidence < MIN_CONFIDENCE else language)
    return languages


def detect_language(text: str, *, declared: str | None = None) -> str | None:
    """ISO 639-1 code of ``text``; the declared language when the text is too short or ambiguous."""
    return detect_languages([text], [declared])[0]


def classifiable_posts(languages: Collection[str]) -> ColumnElement[bool]:
    """Posts the classifier should see: originals (not linked duplicates) in a configured language,
    or of unknown language."""
    return and_(
        Post.duplicate_of_id.is_(None),
        or_(Post.language.is_(None), Post.language.in_(sorted(languages))),
    )
