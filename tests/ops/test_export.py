"""Subject access export on SQLite and PostgreSQL: everything about one author or one official."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.db.models import AuditEvent
from threatwatch.ops.export import SubjectNotFoundError, export_subject

from . import rows

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_export_by_author_holds_their_posts_and_what_was_decided(session: Session) -> None:
    feed = rows.source(session)
    anna = rows.official(session)
    rows.post(
        session,
        source_id=feed.id,
        external_id="t1",
        collected_at=NOW,
        text="We weten waar je woont",
        author="troll@x",
        label="threat",
        status="dismissed",
        note="grap, geen dreiging",
        official_ids=(anna.id,),
    )
    rows.post(
        session, source_id=feed.id, external_id="t2", collected_at=NOW, text="Goedemorgen", author="troll@x"
    )
    rows.post(
        session, source_id=feed.id, external_id="o1", collected_at=NOW, text="Iets anders", author="other"
    )

    export = export_subject(session, actor="admin", author="troll@x")
    session.commit()
    document = json.loads(json.dumps(export))  # plain JSON all the way down
    assert document["subject"] == {"kind": "author", "author": "troll@x"}
    assert [p["text"] for p in document["posts"]] == ["We weten waar je woont", "Goedemorgen"]
    first = document["posts"][0]
    assert first["mentions"][0]["official"] == anna.name
    assert first["classifications"][0]["label"] == "threat"
    assert first["review"]["status"] == "dismissed"
    assert first["review"]["decisions"][0]["note"] == "grap, geen dreiging"
    assert document["posts"][1]["review"] is None
    exports = session.scalars(select(AuditEvent).where(AuditEvent.action == "export_subject")).all()
    assert [(e.actor, e.object_type, e.object_id) for e in exports] == [("admin", "author", "troll@x")]


def test_export_by_official_holds_their_record_and_every_post_naming_them(session: Session) -> None:
    feed = rows.source(session)
    anna = rows.official(session)
    bram = rows.official(session, "Bram Bakker")
    rows.post(
        session,
        source_id=feed.id,
        external_id="a",
        collected_at=NOW,
        text="Over Anna",
        official_ids=(anna.id,),
    )
    rows.post(
        session,
        source_id=feed.id,
        external_id="b",
        collected_at=NOW,
        text="Over Bram",
        official_ids=(bram.id,),
    )
    session.add(
        AuditEvent(actor="admin", action="edit_official", object_type="official", object_id=str(anna.id))
    )
    session.flush()

    document = json.loads(json.dumps(export_subject(session, actor="admin", official_id=anna.id)))
    assert document["official"]["name"] == "Anna de Vries"
    assert [p["text"] for p in document["posts_mentioning"]] == ["Over Anna"]
    assert [e["action"] for e in document["audit_events"]] == ["edit_official"]
    assert "mentions" not in document["related"]


def test_export_of_an_unknown_subject_says_so(session: Session) -> None:
    with pytest.raises(SubjectNotFoundError, match="nobody"):
        export_subject(session, actor="admin", author="nobody")
    with pytest.raises(SubjectNotFoundError, match="no official with id 999"):
        export_subject(session, actor="admin", official_id=999)
    with pytest.raises(ValueError, match="exactly one"):
        export_subject(session, actor="admin", author="x", official_id=1)
