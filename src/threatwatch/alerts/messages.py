"""What an alert says, in Dutch: as plain text, HTML and a JSON payload.

Alerts travel over channels we do not control (mail servers, chat services), so they carry as little
personal data as will do: the label, the official, the time and a link back to the item in
threatwatch, where access is role-checked and audited. The post's text is left out unless
``alert_include_excerpt`` is set.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from threatwatch.config import Settings
from threatwatch.db.models import Alert, AlertItem, Mention, Official, Post, ReviewItem
from threatwatch.domain import SEVERITY, Label

LABEL_NL = {
    "threat": "bedreiging",
    "coercion": "dwang",
    "doxxing": "doxing (persoonsgegevens gedeeld)",
    "abuse": "belediging",
}
KIND_NL = {"flagged": "Gemarkeerd", "escalated": "Geëscaleerd", "digest": "Overzicht"}
MAX_LISTED_ITEMS = 20
EXCERPT_CHARS = 200


@dataclass(frozen=True)
class AlertMessage:
    """One alert, rendered for every channel; ``message_id`` is the webhook id receivers dedupe on."""

    alert_id: int
    message_id: str
    subject: str
    text: str
    html: str
    payload: dict[str, Any]


def _rank(label: str) -> float:
    try:
        return SEVERITY[Label(label)]
    except ValueError:
        return 0.0


def item_url(settings: Settings, review_item_id: int) -> str:
    return f"{settings.public_url.rstrip('/')}/items/{review_item_id}"


def _when(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%d-%m-%Y %H:%M")


def _official_line(official: Official) -> str:
    return f"{official.name} ({official.role}, {official.organisation})"


def load_alerts(session: Session, alert_ids: list[int]) -> list[Alert]:
    """Alerts with everything their message needs, in a few queries."""
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.id.in_(alert_ids))
            .options(
                selectinload(Alert.subscription),
                selectinload(Alert.items)
                .selectinload(AlertItem.review_item)
                .selectinload(ReviewItem.post)
                .selectinload(Post.mentions)
                .selectinload(Mention.official),
            )
        )
    )


def build_message(alert: Alert, *, settings: Settings) -> AlertMessage:
    tz = ZoneInfo(settings.alert_timezone)
    items = sorted(alert.items, key=lambda i: (i.event_at, i.id))
    followed = set(alert.subscription.official_ids)
    officials: dict[int, Official] = {}
    for item in items:
        for mention in item.review_item.post.mentions:
            if (
                mention.official_id in followed
                or mention.official.organisation == alert.subscription.organisation
                or mention.official_id == alert.official_id
            ):
                officials[mention.official_id] = mention.official
    about = [officials[k] for k in sorted(officials)]
    labels = Counter(item.label for item in items)
    count = len(items)
    top = LABEL_NL.get(alert.label, alert.label)
    who = about[0].name if len(about) == 1 else f"{len(about)} functionarissen"
    noun = "bericht" if count == 1 else "berichten"
    subject = f"[threatwatch] {KIND_NL.get(alert.kind, alert.kind)}: {top} - {count} {noun} over {who}"

    intro = {
        "flagged": f"threatwatch heeft {count} {noun} gemarkeerd die gaan over:",
        "escalated": f"Een analist heeft {count} {noun} geëscaleerd naar uw team. Het gaat over:",
        "digest": f"Overzicht: {count} {noun} sinds het vorige overzicht, over:",
    }.get(alert.kind, f"{count} {noun} over:")
    by_severity = sorted(labels.items(), key=lambda kv: (-_rank(kv[0]), kv[0]))
    breakdown = ", ".join(f"{LABEL_NL.get(k, k)}: {v}" for k, v in by_severity)
    lines = [intro, *(f"  - {_official_line(o)}" for o in about), ""]
    lines += [
        f"Ernstigste categorie: {top}",
        f"Per categorie: {breakdown}",
        f"Eerste melding: {_when(alert.first_event_at, tz)}, laatste: {_when(alert.last_event_at, tz)}"
        f" ({settings.alert_timezone})",
        "",
        "Bekijk en beoordeel in threatwatch:",
    ]
    payload_items: list[dict[str, Any]] = []
    for item in items[:MAX_LISTED_ITEMS]:
        url = item_url(settings, item.review_item_id)
        extra = f", urgentie {item.urgency}" if item.urgency else ""
        lines.append(f"  - {LABEL_NL.get(item.label, item.label)}{extra}, {_when(item.event_at, tz)}: {url}")
        entry: dict[str, Any] = {
            "review_item_id": item.review_item_id,
            "trigger": item.trigger,
            "label": item.label,
            "urgency": item.urgency,
            "event_at": item.event_at.isoformat(),
            "url": url,
        }
        if settings.alert_include_excerpt:
            entry["excerpt"] = item.review_item.post.text[:EXCERPT_CHARS]
            lines.append(f"    \u201c{entry['excerpt']}\u201d")
        payload_items.append(entry)
    if count > MAX_LISTED_ITEMS:
        lines.append(f"  ... en nog {count - MAX_LISTED_ITEMS} in threatwatch")
    lines += [
        "",
        "Dit bericht bevat bewust zo min mogelijk persoonsgegevens; de inhoud staat in threatwatch.",
        f"U ontvangt dit via het abonnement \u201c{alert.subscription.name}\u201d.",
    ]
    text = "\n".join(lines) + "\n"
    html = _html(lines)
    payload = {
        "type": f"alert.{alert.kind}",
        "timestamp": alert.last_event_at.isoformat(),
        "data": {
            "alert_id": alert.id,
            "idempotency_key": alert.idempotency_key,
            "subscription_id": alert.subscription_id,
            "kind": alert.kind,
            "label": alert.label,
            "item_count": count,
            "labels": dict(labels),
            "first_event_at": alert.first_event_at.isoformat(),
            "last_event_at": alert.last_event_at.isoformat(),
            "officials": [
                {"id": o.id, "name": o.name, "role": o.role, "organisation": o.organisation} for o in about
            ],
            "items": payload_items,
        },
    }
    return AlertMessage(
        alert_id=alert.id,
        message_id=f"msg_{alert.idempotency_key}",
        subject=subject,
        text=text,
        html=html,
        payload=payload,
    )


def _html(lines: list[str]) -> str:
    """The plain text as simple HTML, with links clickable; every line escaped."""
    body: list[str] = []
    for line in lines:
        if not line:
            body.append("<br>")
            continue
        safe = escape(line)
        if "http" in line:
            head, _, url = line.rpartition(": ")
            if url.startswith("http"):
                safe = f'{escape(head)}: <a href="{escape(url)}">{escape(url)}</a>'
        body.append(f"<div>{safe}</div>")
    return (
        '<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>threatwatch</title></head>'
        f'<body style="font-family: sans-serif">{"".join(body)}</body></html>'
    )
