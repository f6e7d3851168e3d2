"""Evidence packs: the JSON record and the printable Dutch HTML, for items or an official's period."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.config import Settings
from threatwatch.db.models import AuditEvent, User
from threatwatch.evidence import build_evidence_pack
from threatwatch.review import (
    DecisionError,
    ItemNotFound,
    decide_item,
    escalate_item,
)

from .conftest import NOW, MakeItem, later, make_official

HOSTILE = "Anna <script>alert('x')</script><img src=x onerror=alert(1)> we weten waar je woont"
SPAN = HOSTILE.index("waar je woont")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def test_item_pack_holds_the_record_and_is_audited(
    session: Session, make_item: MakeItem, ann: User, published_events: list[object], settings: Settings
) -> None:
    mayor = make_official(session, "Anna de Vries")
    item = make_item(
        text=HOSTILE,
        officials=(mayor,),
        published_at=NOW - timedelta(hours=3),
        url="javascript:alert(1)",
        explanation=[{"start": SPAN, "end": SPAN + 13, "text": "waar je woont", "weight": 0.5}],
    )
    decide_item(session, item_id=item.id, user=ann, label="threat", note="<b>ernstig</b>", now=NOW)
    escalate_item(session, settings=settings, item_id=item.id, user=ann, urgency="high", now=later(1))
    pack = build_evidence_pack(session, actor=ann, item_ids=[item.id], now=later(2))

    record = json.loads(pack.json_bytes())
    assert record == pack.to_json()
    [entry] = record["items"]
    assert entry["text"] == HOSTILE
    assert entry["text_sha256"] == hashlib.sha256(HOSTILE.encode("utf-8")).hexdigest()
    assert (entry["url"], entry["author"]) == ("javascript:alert(1)", "@iemand")
    assert entry["published_at"] == (NOW - timedelta(hours=3)).isoformat()
    assert entry["collected_at"] == NOW.isoformat()
    assert (
        entry["classification"]["label"] == "threat"
        and entry["classification"]["model_version"] == "test-model"
    )
    assert [(d["label"], d["by"], d["note"]) for d in entry["decisions"]] == [
        ("threat", "ann", "<b>ernstig</b>")
    ]
    assert [(e["urgency"], e["by"]) for e in entry["escalations"]] == [("high", "ann")]
    assert entry["officials"][0]["name"] == "Anna de Vries"
    assert record["generated_by"] == "ann" and record["scope"] == {"kind": "items", "item_ids": [item.id]}
    assert pack.filename_stem == f"bewijs-item-{item.id}-20261120-1202"

    html = pack.html()
    parser = _Tags()
    parser.feed(html)
    assert not {"script", "img", "a", "b", "link", "iframe"} & set(parser.tags)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "<mark>waar je woont</mark>" in html
    assert "javascript:alert(1)" in html and 'href="javascript' not in html
    assert entry["text_sha256"] in html and 'lang="nl"' in html and "@media print" in html
    assert "bedreiging" in html and "urgentie hoog" in html and "default-src 'none'" in html

    exports = session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()
    assert [(e.actor, e.details["items"]) for e in exports] == [("ann", [item.id])]


def test_official_pack_covers_a_period_without_noise(
    session: Session, make_item: MakeItem, ann: User
) -> None:
    mayor, other = make_official(session, "Anna de Vries"), make_official(session, "Kees Bakker")
    inside = make_item(officials=(mayor,), published_at=NOW - timedelta(days=3))
    collected_inside = make_item(officials=(mayor,), created_at=NOW - timedelta(days=1))
    make_item(officials=(mayor,), published_at=NOW - timedelta(days=30))
    noise = make_item(officials=(mayor,), published_at=NOW - timedelta(days=2))
    make_item(officials=(other,), published_at=NOW - timedelta(days=2))
    decide_item(session, item_id=noise.id, user=ann, label="none", now=NOW)

    pack = build_evidence_pack(
        session, actor=ann, official_id=mayor.id, since=NOW - timedelta(days=7), until=NOW, now=NOW
    )
    assert [i.review_item_id for i in pack.items] == [inside.id, collected_inside.id]
    assert pack.scope["official"]["name"] == "Anna de Vries"
    assert pack.filename_stem.startswith("bewijs-anna-de-vries-")
    assert "Bewijsoverzicht: berichten over Anna de Vries" in pack.html()
    assert "nog geen beoordeling" in pack.html()
    empty = build_evidence_pack(session, actor=ann, official_id=other.id, since=NOW, now=NOW)
    assert empty.items == [] and "Geen berichten" in empty.html()


def test_bad_requests_are_refused(session: Session, make_item: MakeItem, ann: User) -> None:
    item = make_item()
    mayor = make_official(session, "Anna de Vries")
    with pytest.raises(DecisionError, match="either"):
        build_evidence_pack(session, actor=ann, now=NOW)
    with pytest.raises(DecisionError, match="either"):
        build_evidence_pack(session, actor=ann, item_ids=[item.id], official_id=mayor.id, now=NOW)
    with pytest.raises(DecisionError, match="no items"):
        build_evidence_pack(session, actor=ann, item_ids=[], now=NOW)
    with pytest.raises(ItemNotFound, match=str(item.id + 7)):
        build_evidence_pack(session, actor=ann, item_ids=[item.id, item.id + 7], now=NOW)
    with pytest.raises(ItemNotFound):
        build_evidence_pack(session, actor=ann, official_id=mayor.id + 50, now=NOW)
    with pytest.raises(DecisionError, match="starts after"):
        build_evidence_pack(
            session, actor=ann, official_id=mayor.id, since=NOW, until=NOW - timedelta(1), now=NOW
        )
    assert session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all() == []
