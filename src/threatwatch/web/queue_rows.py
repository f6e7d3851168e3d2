"""The rows of the queue page, rendered in Python rather than in ``queue.html``.

The queue page is every analyst's most frequent request, and its 50 rows hold ~25 values each. In
Jinja each value costs a generator step, an attribute lookup, a Markup object and an escape, which made
the rows most of the page's CPU time; here a row is one f-string, about three times cheaper. Every value
that comes from a post, a source or a person still goes through ``escape`` (``highlight`` escapes the
post text piece by piece); ids are integers. ``queue.html`` places the rows and holds the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from threatwatch.review.queue import ACTIVE_STATUSES, QueueEntry
from threatwatch.web.highlight import highlight
from threatwatch.web.i18n import Translator
from threatwatch.web.rendering import format_when, label_badge, status_badge

_CLAIMABLE = frozenset(s.value for s in ACTIVE_STATUSES)


def _claim_form(item_id: int, csrf: str, button: str) -> str:
    return (
        f'\n        <form method="post" action="/items/{item_id}/claim" class="inline claim">\n'
        f'          <input type="hidden" name="csrf_token" value="{csrf}">\n'
        f'          <button type="submit">{button}</button>\n'
        "        </form>"
    )


def queue_rows(entries: Sequence[QueueEntry], *, t: Translator, csrf_token: str) -> Markup:
    """``<tr class="entry">`` per entry: select box, priority, label and score, text with the explanation
    marked, officials, source, status and holder, and a claim button while the item is active."""
    select_text, claim_text, csrf = escape(t("queue.select")), escape(t("item.claim")), escape(csrf_token)
    parts: list[str] = []
    for e in entries:
        i = int(e.id)
        officials = ", ".join(
            f'<a href="/officials/{int(oid)}">{escape(name)}</a>'
            for oid, name in zip(e.official_ids, e.officials, strict=True)
        )
        holder = f'<br><span class="muted">{escape(e.assignee)}</span>' if e.assignee else ""
        claim = _claim_form(i, csrf, claim_text) if e.status in _CLAIMABLE else ""
        score = (e.scores.get(e.label) or 0) * 100
        parts.append(
            f'    <tr class="entry" data-item-id="{i}" data-href="/items/{i}">\n'
            f'      <td><input type="checkbox" name="item_ids" value="{i}" form="bulk" '
            f'aria-label="{select_text} {i}"></td>\n'
            f"      <td>{e.priority:.2f}</td>\n"
            f'      <td>{label_badge(t, e.label)}<br><span class="muted">{score:.0f}%</span></td>\n'
            f'      <td class="text"><a href="/items/{i}" class="open">#{i}</a> '
            f"{highlight(e.text, e.explanation or ())}</td>\n"
            f"      <td>{officials}</td>\n"
            f'      <td>{escape(e.source)}<br><span class="muted">{escape(e.author or "")} '
            f"{escape(format_when(e.published_at))}</span></td>\n"
            f"      <td>{status_badge(t, e.status)}{holder}</td>\n"
            f"      <td>{claim}</td>\n"
            "    </tr>\n"
        )
    return Markup("".join(parts))  # every interpolated value above is escaped or an int
