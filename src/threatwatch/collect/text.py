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
_FIELD_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Lone surrogates (from "&#xD800;" or a JSON "\ud800") cannot be encoded as UTF-8: no database stores them.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Raw-text and RCDATA elements: an HTML parser reads their content as text, so markup inside them
# (``<noscript><img onerror=...></noscript>``) would come out as literal markup. Their content is
# dropped with them: it is either not shown by a browser or form furniture, never a message.
RAW_TEXT_ELEMENTS = frozenset(
    {"script", "style", "iframe", "noscript", "noembed", "noframes", "textarea", "title", "xmp", "plaintext"}
)
# ammonia drops the content of SVG and MathML elements (<svg>, <text>, <mi>, ...) whole. Every tag but
# the raw-text ones is read as a <span> instead: all tags are stripped anyway, and their text is kept.
_NON_RAW_TAG = re.compile(
    r"<(/?)(?!(?:" + "|".join(sorted(RAW_TEXT_ELEMENTS)) + r")\b)[a-zA-Z][\w:-]*", re.IGNORECASE
)
_STRIP_OPTIONS: dict[str, Any] = {
    "tags": set(),
    "clean_content_tags": set(RAW_TEXT_ELEMENTS),
    "strip_comments": True,
}
# Built once where nh3 can (``Cleaner``, newer nh3): ``nh3.clean`` builds the sanitizer on every call.
_strip_all: Callable[[str], str] = (
    nh3.Cleaner(**_STRIP_OPTIONS).clean if hasattr(nh3, "Cleaner") else partial(nh3.clean, **_STRIP_OPTIONS)
)


_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_UNSTORABLE_ONE_LINE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def needs_cleaning(value: str, *, one_line: bool = False) -> bool:
    """Whether ``value`` holds a control character (in a one-line field: also tab and line breaks) or
    a lone surrogate: a quick check, so the hot path cleans only what needs it."""
    return (_UNSTORABLE_ONE_LINE if one_line else _UNSTORABLE).search(value) is not None


def clean_field(value: str) -> str:
    """A one-line field (author, id, link) every database accepts: no control characters (PostgreSQL
    refuses NUL), no lone surrogates."""
    return _SURROGATE.sub("\ufffd", _FIELD_CONTROL.sub("", value))


def plain_text(text: str) -> str:
    """Text that is already text (an Atom ``type="text"`` construct): "<blink>" stays "<blink>"; only
    control characters, lone surrogates and spacing are cleaned, and Unicode normalised."""
    text = unicodedata.normalize("NFC", _SURROGATE.sub("\ufffd", _CONTROL.sub("", text)))
    return _NEWLINES.sub("\n", _SPACES.sub(" ", text)).strip()


def html_to_text(markup: str) -> str:
    """Drop every tag (and the content of raw-text elements such as script, style, noscript), keep link
    and @mention text, normalise Unicode.

    nh3 (ammonia) parses like a browser, so broken or hostile markup cannot smuggle tags through.
    """
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:  # plain text (most titles): no parser needed
        return plain_text(markup)
    marked = _NON_RAW_TAG.sub(r"<\1span", _BLOCK_BOUNDARY.sub("\n", _SURROGATE.sub("\ufffd", markup)))
    stripped = _strip_all(marked)
    return plain_text(html.unescape(stripped))


# Bidirectional controls reorder what follows them on screen ("gpj.exe" shown as "exe.jpg"): in a page
# or an evidence document an analyst must see that they are there, not their effect.
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def reveal_bidi_controls(text: str) -> str:
    """Each bidi control as a visible ``[U+202E]``; the stored text keeps them (it is evidence)."""
    return _BIDI_CONTROLS.sub(lambda m: f"[U+{ord(m.group(0)):04X}]", text)
