"""What an alert says, in Dutch: as plain text, HTML and a JSON payload.

Alerts travel over channels we do not control (mail servers, chat services), so they carry as little
personal data as will do: the label, the official, the time and a link back to the item in
threatwatch, where access is role-checked and audited. The post's text is left out unless
``alert_include_excerpt`` is set.

Alerts on persons of concern name the person by number and account handles (what a team needs to
recognise and report them), never by display name, and say what the signal is and which posts raise
it, with links to the person page and the review items; signals rank people for human review and the
message says so.
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
from threatwatch.db.models import Alert, AlertItem, Mention, Official, Person, Post, ReviewItem
from threatwatch.domain import SEVERITY, Label

LABEL_NL = {
    "threat": "bedreiging",
    "coercion": "dwang",
    "doxxing": "doxing (persoonsgegevens gedeeld)",
    "abuse": "belediging",
    "signal": "signaal over een persoon",
}
KIND_NL = {"flagged": "Gemarkeerd", "escalated": "Geëscaleerd", "digest": "Overzicht", "signal": "Signaal"}
SIGNAL_NL = {
    "escalation": "escalatie (van belediging naar bedreiging)",
    "fixation": "fixatie (vooral over één bestuurder)",
    "persistence": "volharding (berichten op veel dagen)",
    "leakage": "lekken van voornemen (wapen, tijd of plaats)",
    "multiple_targets": "meerdere doelwitten",
}
MAX_LISTED_ACCOUNTS = 5
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


def person_url(settings: Settings, person_id: int) -> str:
    return f"{settings.public_url.rstrip('/')}/persons/{person_id}"


def _accounts(person: Person | None) -> list[str]:
    if person is None:
        return []
    return [f"{a.handle} ({a.platform})" for a in person.authors]


def _person_line(person_id: int, person: Person | None) -> str:
    accounts = _accounts(person)
    shown = ", ".join(accounts[:MAX_LISTED_ACCOUNTS])
    if len(accounts) > MAX_LISTED_ACCOUNTS:
        shown += f" en nog {len(accounts) - MAX_LISTED_ACCOUNTS}"
    return f"Persoon {person_id}" + (f" (accounts: {shown})" if shown else "")


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
                selectinload(Alert.items).selectinload(AlertItem.person).selectinload(Person.authors),
            )
        )
    )


def _signal_lines(
    signals: list[AlertItem], *, settings: Settings, tz: ZoneInfo
) -> tuple[list[str], list[dict[str, Any]]]:
    """The signals part of a message, per person: what was raised, why, and where to look."""
    lines: list[str] = []
    payload: list[dict[str, Any]] = []
    by_person: dict[int, list[AlertItem]] = {}
    for item in signals:
        assert item.person_id is not None
        by_person.setdefault(item.person_id, []).append(item)
    for person_id, raised in by_person.items():
        person = raised[0].person
        names = ", ".join(SIGNAL_NL.get(i.signal or "", i.signal or "") for i in raised)
        lines.append(f"{_person_line(person_id, person)} heeft een nieuw signaal: {names}")
        entries: list[dict[str, Any]] = []
        for item in raised:
            details = item.signal_details or {}
            item_ids = [int(i) for i in details.get("review_item_ids", [])]
            lines.append(
                f"  - {item.signal}: {details.get('detail', '')}"
                f" ({len(details.get('post_ids', []))} berichten, {_when(item.event_at, tz)})"
            )
            lines.extend(f"      item: {item_url(settings, i)}" for i in item_ids[:MAX_LISTED_ITEMS])
            entries.append(
                {
                    "signal": item.signal,
                    "detail": details.get("detail"),
                    "post_count": len(details.get("post_ids", [])),
                    "review_item_ids": item_ids,
                    "item_urls": [item_url(settings, i) for i in item_ids],
                    "event_at": item.event_at.isoformat(),
                }
            )
        lines.append(f"  Persoonspagina: {person_url(settings, person_id)}")
        payload.append(
            {
                "person_id": person_id,
                "accounts": _accounts(person),
                "url": person_url(settings, person_id),
                "signals": entries,
            }
        )
    if lines:
        lines += [
            "Signalen rangschikken personen alleen voor beoordeling door een analist; ze zijn geen"
            " vaststelling over iemand.",
        ]
    return lines, payload


def build_message(alert: Alert, *, settings: Settings) -> AlertMessage:
    tz = ZoneInfo(settings.alert_timezone)
    everything = sorted(alert.items, key=lambda i: (i.event_at, i.id))
    items = [i for i in everything if i.review_item is not None]
    signals = [i for i in everything if i.signal is not None and i.person_id is not None]
    followed = set(alert.subscription.official_ids)
    officials: dict[int, Official] = {}
    for item in items:
        assert item.review_item is not None
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
    if items:
        subject = f"[threatwatch] {KIND_NL.get(alert.kind, alert.kind)}: {top} - {count} {noun} over {who}"
    else:
        persons = sorted({i.person_id for i in signals if i.person_id is not None})
        names = sorted({i.signal or "" for i in signals})
        subject = f"[threatwatch] {KIND_NL.get(alert.kind, alert.kind)}: {', '.join(names)} bij " + ", ".join(
            f"persoon {p}" for p in persons
        )

    intro = {
        "flagged": f"threatwatch heeft {count} {noun} gemarkeerd die gaan over:",
        "escalated": f"Een analist heeft {count} {noun} geëscaleerd naar uw team. Het gaat over:",
        "digest": f"Overzicht: {count} {noun} sinds het vorige overzicht, over:",
    }.get(alert.kind, f"{count} {noun} over:")
    lines: list[str] = []
    payload_items: list[dict[str, Any]] = []
    if items:
        by_severity = sorted(labels.items(), key=lambda kv: (-_rank(kv[0]), kv[0]))
        breakdown = ", ".join(f"{LABEL_NL.get(k, k)}: {v}" for k, v in by_severity)
        lines += [intro, *(f"  - {_official_line(o)}" for o in about), ""]
        authors = {i.person_id: i.person for i in items if i.person_id is not None}
        if authors:
            lines += [
                "Geschreven door een persoon die u volgt:",
                *(f"  - {_person_line(pid, person)}" for pid, person in sorted(authors.items())),
                "",
            ]
        lines += [
            f"Ernstigste categorie: {top}",
            f"Per categorie: {breakdown}",
            f"Eerste melding: {_when(alert.first_event_at, tz)}, laatste: {_when(alert.last_event_at, tz)}"
            f" ({settings.alert_timezone})",
            "",
            "Bekijk en beoordeel in threatwatch:",
        ]
        for item in items[:MAX_LISTED_ITEMS]:
            assert item.review_item is not None and item.review_item_id is not None
            url = item_url(settings, item.review_item_id)
            extra = f", urgentie {item.urgency}" if item.urgency else ""
            lines.append(
                f"  - {LABEL_NL.get(item.label, item.label)}{extra}, {_when(item.event_at, tz)}: {url}"
            )
            entry: dict[str, Any] = {
                "review_item_id": item.review_item_id,
                "trigger": item.trigger,
                "label": item.label,
                "urgency": item.urgency,
                "event_at": item.event_at.isoformat(),
                "url": url,
            }
            if item.person_id is not None:
                entry["person_id"] = item.person_id
            if settings.alert_include_excerpt:
                entry["excerpt"] = item.review_item.post.text[:EXCERPT_CHARS]
                lines.append(f"    \u201c{entry['excerpt']}\u201d")
            payload_items.append(entry)
        if count > MAX_LISTED_ITEMS:
            lines.append(f"  ... en nog {count - MAX_LISTED_ITEMS} in threatwatch")
    signal_lines, payload_persons = _signal_lines(signals, settings=settings, tz=tz)
    if signal_lines:
        lines += ([""] if lines else []) + signal_lines
    lines += [
        "",
        "Dit bericht bevat bewust zo min mogelijk persoonsgegevens; de inhoud staat in threatwatch.",
        f"U ontvangt dit via het abonnement \u201c{alert.subscription.name}\u201d.",
    ]
    text = "\n".join(lines) + "\n"
    html = _html(lines)
    data: dict[str, Any] = {
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
    }
    if payload_persons:
        data["persons"] = payload_persons
    payload = {"type": f"alert.{alert.kind}", "timestamp": alert.last_event_at.isoformat(), "data": data}
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
