"""Language of a post, and which posts are classified (Dutch by default; the rest stored only).

Detection (py3langid) is limited to languages seen online in the Netherlands so that short Dutch texts
are not mistaken for Afrikaans or Luxembourgish. When it is unsure, the feed's declared language
stands, and a post whose language cannot be told is classified: missing a threat costs more.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache

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


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(CANDIDATE_LANGUAGES))
    return identifier


def warm_up() -> None:
    """Load the model now (about a second: it is decompressed) rather than on the first post."""
    _identifier()


def _declared(code: str | None) -> str | None:
    """``nl-NL`` and ``NL`` mean ``nl``."""
    if not code:
        return None
    return code.strip().lower().replace("_", "-").split("-", 1)[0][:20] or None


def detect_language(text: str, *, declared: str | None = None) -> str | None:
    """ISO 639-1 code of ``text``; the declared language when the text is too short or ambiguous."""
    if len(text) < 4 * MIN_LETTERS and sum(ch.isalpha() for ch in text) < MIN_LETTERS:
        return _declared(declared)
    language, confidence = _identifier().classify(text[:SAMPLE_CHARS])
    if confidence < MIN_CONFIDENCE:
        return _declared(declared) or str(language)
    return str(language)


def classifiable_posts(languages: Collection[str]) -> ColumnElement[bool]:
    """Posts the classifier should see: originals (not linked duplicates) in a configured language,
    or of unknown language."""
    return and_(
        Post.duplicate_of_id.is_(None),
        or_(Post.language.is_(None), Post.language.in_(sorted(languages))),
    )
