"""Post text with the explanation spans marked, escaped piece by piece on the server.

Post text comes from the internet: every character of it goes through ``markupsafe.escape``; only the
``<mark>`` tags this module writes itself are markup. Templates therefore never need ``|safe``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from markupsafe import Markup, escape

from threatwatch.collect.text import reveal_bidi_controls


def _valid_spans(text: str, spans: Iterable[Mapping[str, Any]]) -> list[tuple[int, int, float]]:
    """Spans inside the text, sorted, overlaps dropped (the first one wins); bad rows are skipped."""
    cleaned: list[tuple[int, int, float]] = []
    for span in spans:
        try:
            start, end = int(span["start"]), int(span["end"])
            weight = float(span.get("weight", 0.0))
        except (KeyError, TypeError, ValueError):
            continue
        if 0 <= start < end <= len(text):
            cleaned.append((start, end, weight))
    cleaned.sort()
    result: list[tuple[int, int, float]] = []
    for start, end, weight in cleaned:
        if result and start < result[-1][1]:
            continue
        result.append((start, end, weight))
    return result


def highlight(text: str, spans: Iterable[Mapping[str, Any]]) -> Markup:
    parts: list[str] = []
    position = 0
    for start, end, weight in _valid_spans(text, spans):
        parts.append(str(_shown(text[position:start])))
        parts.append(f'<mark title="{weight:.2f}">{_shown(text[start:end])}</mark>')
        position = end
    parts.append(str(_shown(text[position:])))
    return Markup("".join(parts))


def _shown(text: str) -> Markup:
    """Escaped, with bidi controls made visible."""
    return escape(reveal_bidi_controls(text))


def finalize(value: Any) -> Any:
    """Jinja's ``finalize``: every plain string a template prints shows its bidi controls (markup the
    app wrote itself, ``Markup``, is left alone)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return reveal_bidi_controls(value)
    return value
