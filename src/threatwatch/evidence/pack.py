"""Evidence packs for a police report (aangifte): one item, or one official over a period.

The JSON is the record (original text, URL, author, timestamps, SHA-256 of the stored text, model output,
analysts' decisions); the HTML is the same content as a printable Dutch document ("print to PDF").
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch import __version__, audit
from threatwatch.db.models import Mention, Official, Post, ReviewItem, User
from threatwatch.domain import ReviewStatus
from threatwatch.evidence.html import render_html
from threatwatch.review.detail import load_items
from threatwatch.review.errors import DecisionError, ItemNotFound

MAX_ITEMS = 1000


@dataclass(frozen=True)
class EvidenceItem:
    review_item_id: int
    post_id: int
    status: str
    text: str
    text_sha256: str
    url: str | None
    author: str | None
    source: str
    source_url: str
    published_at: str | None
    collected_at: str
    officials: list[dict[str, Any]]
    classification: dict[str, Any]
    decisions: list[dict[str, Any]]
    escalations: list[dict[str, Any]]


@dataclass(frozen=True)
class EvidencePack:
    generated_at: str
    generated_by: str
    generator: str
    scope: dict[str, Any]
    items: list[EvidenceItem] = field(default_factory=list)
    filename_stem: str = "bewijs"

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        del body["filename_stem"]
        body["hash_algorithm"] = "SHA-256 of the UTF-8 bytes of the stored text"
        return body

    def json_bytes(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")

    def html(self) -> str:
        return render_html(self)


def iso_or_none(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "x"


def decision_records(item: ReviewItem | None) -> list[dict[str, Any]]:
    """The analysts' decisions on an item as the evidence records them (item and person packs)."""
    if item is None:
        return []
    return [
        {
            "id": d.id,
            "label": d.label,
            "model_label": d.model_label,
            "corrected": d.corrected,
            "note": d.note,
            "by": d.user.username if d.user else None,
            "at": d.created_at.isoformat(),
            "undone_at": iso_or_none(d.undone_at),
        }
        for d in item.decisions
    ]


def escalation_records(item: ReviewItem | None) -> list[dict[str, Any]]:
    """An item's escalations as the evidence records them (item and person packs)."""
    if item is None:
        return []
    return [
        {
            "id": e.id,
            "urgency": e.urgency,
            "note": e.note,
            "by": e.user.username if e.user else None,
            "at": e.created_at.isoformat(),
        }
        for e in item.escalations
    ]


def _item(item: ReviewItem) -> EvidenceItem:
    post, c = item.post, item.classification
    return EvidenceItem(
        review_item_id=item.id,
        post_id=post.id,
        status=item.status,
        text=post.text,
        text_sha256=hashlib.sha256(post.text.encode("utf-8")).hexdigest(),
        url=post.url,
        author=post.author,
        source=post.source.name,
        source_url=post.source.url,
        published_at=iso_or_none(post.published_at),
        collected_at=post.collected_at.isoformat(),
        officials=[
            {
                "id": m.official.id,
                "name": m.official.name,
                "role": m.official.role,
                "organisation": m.official.organisation,
            }
            for m in sorted(post.mentions, key=lambda m: m.official.name)
        ],
        classification={
            "model_version": c.model_version,
            "label": c.label,
            "flagged": c.flagged,
            "scores": c.scores,
            "explanation": c.explanation,
            "classified_at": c.created_at.isoformat(),
        },
        decisions=decision_records(item),
        escalations=escalation_records(item),
    )


def build_evidence_pack(
    session: Session,
    *,
    actor: User,
    item_ids: list[int] | None = None,
    official_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime,
) -> EvidencePack:
    """Collect the evidence and audit the export. Give ``item_ids``, or ``official_id`` with an optional
    period (by publication time, else collection time); for an official, items dismissed as noise are
    left out. DecisionError when the request selects nothing or too much."""
    if (item_ids is None) == (official_id is None):
        raise DecisionError("give either item ids or an official")
    scope: dict[str, Any]
    if item_ids is not None:
        ids = sorted(set(item_ids))
        if not ids:
            raise DecisionError("no items selected")
        items = load_items(session, ids)
        missing = sorted(set(ids) - {i.id for i in items})
        if missing:
            raise ItemNotFound(f"no review items {missing}")
        scope = {"kind": "items", "item_ids": ids}
        stem = f"bewijs-item-{ids[0]}" if len(ids) == 1 else f"bewijs-{len(ids)}-items"
    else:
        official = session.get(Official, official_id)
        if official is None:
            raise ItemNotFound(f"no official {official_id}")
        if since is not None and until is not None and since > until:
            raise DecisionError("the period starts after it ends")
        when = func.coalesce(Post.published_at, Post.collected_at)
        stmt = (
            select(ReviewItem.id)
            .join(Post, Post.id == ReviewItem.post_id)
            .join(Mention, Mention.post_id == Post.id)
            .where(Mention.official_id == official.id, ReviewItem.status != ReviewStatus.DISMISSED.value)
            .order_by(ReviewItem.id)
            .limit(MAX_ITEMS + 1)
        )
        if since is not None:
            stmt = stmt.where(when >= since)
        if until is not None:
            stmt = stmt.where(when <= until)
        ids = list(session.scalars(stmt))
        if len(ids) > MAX_ITEMS:
            raise DecisionError(f"more than {MAX_ITEMS} items; choose a shorter period")
        items = load_items(session, ids)
        scope = {
            "kind": "official",
            "official": {
                "id": official.id,
                "name": official.name,
                "role": official.role,
                "organisation": official.organisation,
            },
            "since": iso_or_none(since),
            "until": iso_or_none(until),
        }
        stem = f"bewijs-{_slug(official.name)}"
    items.sort(key=lambda i: (i.post.published_at or i.post.collected_at, i.id))
    pack = EvidencePack(
        generated_at=now.isoformat(),
        generated_by=actor.username,
        generator=f"threatwatch {__version__}",
        scope=scope,
        items=[_item(i) for i in items],
        filename_stem=f"{stem}-{now:%Y%m%d-%H%M}",
    )
    audit.record(
        session,
        actor=actor.username,
        action="export",
        object_type="evidence_pack",
        details={"scope": scope, "items": [i.id for i in items]},
    )
    return pack
