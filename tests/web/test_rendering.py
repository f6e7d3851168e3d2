"""Pure pieces of the web layer: texts in both languages, highlighting, redirects, the chart."""

from __future__ import annotations

import re
import string
from datetime import date, timedelta
from pathlib import Path

import pytest

import threatwatch.web.app  # noqa: F401  # every area registers its texts (add_messages) on import
from threatwatch.review.detail import DayCount
from threatwatch.web.charts import timeline_svg
from threatwatch.web.common import external_link, safe_next
from threatwatch.web.highlight import highlight
from threatwatch.web.i18n import _from_accept_language
from threatwatch.web.translations import MESSAGES

WEB = Path(__file__).resolve().parents[2] / "src" / "threatwatch" / "web"
KEY_USE = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z_0-9]+)["']""")
DYNAMIC_PREFIXES = ("label.", "status.", "urgency.", "role.", "source_status.", "error.")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_text_exists_in_both_languages_with_the_same_placeholders() -> None:
    used = set()
    for path in [*WEB.glob("templates/*.html"), *WEB.glob("*.py")]:
        used |= set(KEY_USE.findall(path.read_text()))
    assert used and used <= set(MESSAGES), sorted(used - set(MESSAGES))
    for key, (dutch, english) in MESSAGES.items():
        assert dutch.strip() and english.strip(), key
        assert _fields(dutch) == _fields(english), key
    for prefix in DYNAMIC_PREFIXES:  # built as t("label." ~ value): each family must be present
        assert any(k.startswith(prefix) for k in MESSAGES), prefix


def test_highlight_escapes_everything_but_its_own_marks() -> None:
    text = "<b>Jij</b> gaat eraan & snel"
    spans = [
        {"start": 11, "end": 21, "text": "gaat eraan", "weight": 0.5},
        {"start": 14, "end": 25, "text": "overlap", "weight": 0.9},  # overlaps the first: dropped
        {"start": 20, "end": 99, "text": "too far", "weight": 1.0},  # past the end: dropped
        {"start": "x"},  # malformed: dropped
    ]
    assert str(highlight(text, spans)) == (
        '&lt;b&gt;Jij&lt;/b&gt; <mark title="0.50">gaat eraan</mark> &amp; snel'
    )
    assert str(highlight("<script>", [{"start": 0, "end": 8, "weight": 1}])) == (
        '<mark title="1.00">&lt;script&gt;</mark>'
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/items/3", "/items/3"),
        ("/queue?label=threat", "/queue?label=threat"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        (None, "/"),
    ],
)
def test_safe_next_only_allows_local_paths(target: str | None, expected: str) -> None:
    assert safe_next(target, "/") == expected


def test_only_plain_web_links_become_links() -> None:
    assert external_link("https://example.org/a") == "https://example.org/a"
    assert external_link("javascript:alert(1)") is None
    assert external_link("data:text/html,<script>") is None
    assert external_link("file:///etc/passwd") is None


def test_accept_language() -> None:
    assert _from_accept_language("en-GB,en;q=0.9,nl;q=0.8") == "en"
    assert _from_accept_language("de, nl;q=0.3, en;q=0.2") == "nl"
    assert _from_accept_language("fr") is None
    assert _from_accept_language("en;q=0, nl;q=bad") is None


def test_timeline_chart_draws_every_day() -> None:
    first = date(2026, 11, 1)
    days = [DayCount(day=first + timedelta(days=i), mentions=i, flagged=i // 3) for i in range(10)]
    svg = str(timeline_svg(days, title="<t>", mentions_label="m", flagged_label="f"))
    assert svg.startswith('<svg class="chart"') and "<title>&lt;t&gt;</title>" in svg
    assert svg.count('class="mentions"') == 10 and svg.count('class="flagged"') == 10
    assert 'data-day="2026-11-10" data-count="9"' in svg and " style=" not in svg
