"""Turn untrusted HTML into plain text that is safe to store, classify and show."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from functools import partial
from typing import Any

import nh3

_BLOCK_BOUNDARY = re.compile(r"<\s*(?:br|/p|/div|/li|/h[1-6]|/blockquote|/tr|hr)\b[^>]*>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_NEWLINES = re.compile(r"\s*\n\s*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_STRIP_OPTIONS: dict[str, Any] = {
    "tags": set(),
    "clean_content_tags": {"script", "style"},
    "strip_comments": True,
}
# Built once where nh3 can (``Cleaner``, newer nh3): ``nh3.clean`` builds the sanitizer on every call.
_strip_all: Callable[[str], str] = (
    nh3.Cleaner(**_STRIP_OPTIONS).clean if hasattr(nh3, "Cleaner") else partial(nh3.clean, **_STRIP_OPTIONS)
)


def html_to_text(markup: str) -> str:
    """Drop every tag (and the content of script/style), keep link and @mention text, normalise Unicode.

    nh3 (ammonia) parses like a browser, so broken or hostile markup cannot smuggle tags through.
    """
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:  # plain text (most titles): no parser needed
        text = unicodedata.normalize("NFC", _CONTROL.sub("", markup))
        return _NEWLINES.sub("\n", _SPACES.sub(" ", text)).strip()
    marked = _BLOCK_BOUNDARY.sub("\n", markup)
    stripped = _strip_all(marked)
    text = html.unescape(stripped)
    text = unicodedata.normalize("NFC", _CONTROL.sub("", text))
    text = _SPACES.sub(" ", text)
    return _NEWLINES.sub("\n", text).strip()
