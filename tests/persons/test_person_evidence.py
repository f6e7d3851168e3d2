"""Evidence across incidents: one person's retained posts per official, with accounts, names, hashes,
labels, analysts' decisions and signals, as JSON and printable HTML; audited by id; and the
`threatwatch persons` commands (analysts and admins only). SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from threatwatch.cli import app
from threatwatch.config import get_settings
from threatwatch.db.models import AuditEvent, Decision, Person, PersonNote, ReviewItem, User
from threatwatch.domain import Label
from threatwatch.evidence import PERSON_EXPORT, build_person_evidence_pack
from threatwatch.ops.retention import redact_posts
from threatwatch.persons.casework import PersonNotFoundError
from threatwatch.persons.profile import refresh_persons
from threatwatch.persons.signals import ESCALATION, MULTIPLE_TARGETS

from .seeding import officials, person_of, post

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NOW = START + timedelta(days=10)
HANDLE = "@dreiger@social.example"
runner = CliRunner()


def _user(session: Session, name: str, role: str) -> User:
    user = User(username=name, display_name=name, password_hash="x", role=role, active=True)
    session.add(user)
    session.flush()
    return user


def _seed(session: Session) -> tuple[int, dict[str, int], list[int]]:
    ids = officials(session)
    analyst = _user(session, "ana", "analyst")
    both = "Youssef El Amrani en Marieke van der Linden, we weten waar jullie wonen."
    said = [
        ("Marieke van der Linden is een sukkel.", Label.NONE, "Dirk"),
        ("Marieke van der Linden, rot op.", Label.ABUSE, None),
        (both, Label.THREAT, "D. Dreiger"),
        ("Youssef El Amrani, morgen sta ik bij je voordeur.", Label.THREAT, None),
    ]
    posts = [
        post(session, author="@dreiger", text=text, at=START + timedelta(days=day), label=label, name=name)
        for day, (text, label, name) in enumerate(said)
    ]
    item = ReviewItem(
        post_id=posts[2].id, classification_id=posts[2].classifications[0].id, status="decided", priority=1.0
    )
    session.add(item)
    session.flush()
    session.add(
        Decision(
            review_item_id=item.id,
            user_id=analyst.id,
            label="threat",
            model_label="threat",
            note="Echt dreigend.",
        )
    )
    person = person_of(session, HANDLE)
    refresh_persons(session, person_ids=[person], now=NOW)
    session.commit()
    return person, ids, [p.id for p in posts]


def test_person_pack_groups_posts_per_official_with_signals_and_decisions(session: Session) -> None:
    person, ids, post_ids = _seed(session)
    analyst = session.scalars(select(User).where(User.username == "ana")).one()

    pack = build_person_evidence_pack(session, person_id=person, actor=analyst, now=NOW)
    session.commit()

    assert [p.post_id for p in pack.posts] == post_ids  # in time order, numbered 1..4
    assert [p.number for p in pack.posts] == [1, 2, 3, 4]
    mayor, alderman = ids["Marieke van der Linden"], ids["Youssef El Amrani"]
    groups = {o["id"]: o["posts"] for o in pack.officials}
    assert groups == {mayor: [1, 2, 3], alderman: [3, 4]}
    third = pack.posts[2]
    assert third.text_sha256 == hashlib.sha256(third.text.encode()).hexdigest()
    assert third.label == "threat" and third.status == "decided"
    assert third.decisions[0]["note"] == "Echt dreigend." and third.decisions[0]["by"] == "ana"
    assert pack.posts[0].label == "none" and pack.posts[0].review_item_id is None
    [account] = pack.accounts
    assert account["handle"] == HANDLE and {n["name"] for n in account["names"]} == {"Dirk", "D. Dreiger"}
    signals = {s["name"]: s for s in pack.signals}
    assert ESCALATION in signals and MULTIPLE_TARGETS in signals
    assert signals[MULTIPLE_TARGETS]["posts"] == [3, 4]

    record = json.loads(pack.json_bytes())
    assert record["scope"] == {"kind": "person", "person_id": person}
    assert len(record["posts"]) == 4 and record["hash_algorithm"].startswith("SHA-256")
    html = pack.html()
    assert "Bewijsoverzicht" in html and "Over Marieke van der Linden" in html
    assert "Bericht 3: zie hierboven." in html  # a post about two officials is printed once
    assert "we weten waar jullie wonen" in html and "script" not in html.lower()

    [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == PERSON_EXPORT)).all()
    assert event.object_id == str(person) and event.details["posts"] == post_ids
    assert "dreiger" not in json.dumps(event.details).lower()


def test_person_pack_leaves_out_erased_posts_and_unknown_persons(session: Session) -> None:
    person, _ids, post_ids = _seed(session)
    analyst = session.scalars(select(User).where(User.username == "ana")).one()
    redact_posts(session, post_ids=post_ids[:1], reason="erasure", now=NOW)
    session.commit()

    pack = build_person_evidence_pack(session, person_id=person, actor=analyst, now=NOW)
    assert [p.post_id for p in pack.posts] == post_ids[1:]
    with pytest.raises(PersonNotFoundError):
        build_person_evidence_pack(session, person_id=person + 999, actor=analyst, now=NOW)


def test_person_pack_html_escapes_what_came_from_the_internet(session: Session) -> None:
    officials(session)
    analyst = _user(session, "ana", "analyst")
    post(
        session,
        author="@x",
        text='Marieke van der Linden <script>alert("x")</script>',
        at=START,
        label=Label.THREAT,
        name="<b>naam</b>",
    )
    person = person_of(session, "@x@social.example")
    pack = build_person_evidence_pack(session, person_id=person, actor=analyst, now=NOW)
    html = pack.html()
    assert "<script>" not in html and "&lt;script&gt;" in html and "<b>naam" not in html


# --- the command line ---


@pytest.fixture
def cli_db(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("THREATWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("THREATWATCH_DATABASE_URL", database_url)
    monkeypatch.delenv("THREATWATCH_USER", raising=False)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_persons_cli_lists_shows_links_sets_status_refreshes_and_exports(
    cli_db: str, session: Session, tmp_path: Path
) -> None:
    person, _ids, _posts = _seed(session)
    _user(session, "sam", "support")
    post(session, author="@ander", text="Marieke van der Linden, pas op.", at=START, label=Label.THREAT)
    other = person_of(session, "@ander@social.example")
    refresh_persons(session, person_ids=[other], now=NOW)
    session.commit()
    from threatwatch.db.models import Author

    other_author = session.scalars(select(Author.id).where(Author.person_id == other)).one()

    refused = runner.invoke(app, ["persons", "list", "--user", "sam"])
    assert refused.exit_code == 1 and "may not" in refused.output
    listed = runner.invoke(app, ["persons", "list", "--user", "ana", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {r["id"] for r in rows} == {person, other}

    shown = runner.invoke(app, ["persons", "show", str(person), "--user", "ana", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["accounts"][0]["handle"] == HANDLE

    no_note = runner.invoke(
        app, ["persons", "link", str(person), str(other_author), "--note", " ", "--user", "ana"]
    )
    assert no_note.exit_code == 1 and "note is required" in no_note.output
    linked = runner.invoke(
        app, ["persons", "link", str(person), str(other_author), "--note", "zelfde stijl", "--user", "ana"]
    )
    assert linked.exit_code == 0, linked.output
    session.expire_all()
    assert session.get(Person, other) is None
    unlinked = runner.invoke(
        app, ["persons", "unlink", str(other_author), "--note", "toch niet", "--user", "ana"]
    )
    assert unlinked.exit_code == 0, unlinked.output
    assert session.scalars(select(PersonNote.text).where(PersonNote.person_id == person)).all()

    status = runner.invoke(app, ["persons", "status", str(person), "watching", "--user", "ana"])
    assert status.exit_code == 0, status.output
    session.expire_all()
    assert session.get(Person, person).status == "watching"  # type: ignore[union-attr]
    bad = runner.invoke(app, ["persons", "status", str(person), "gevaarlijk", "--user", "ana"])
    assert bad.exit_code == 1 and "unknown status" in bad.output

    session.execute(Person.__table__.update().values(post_count=0, signals={}))
    session.commit()
    refreshed = runner.invoke(app, ["persons", "refresh", "--user", "ana"])
    assert refreshed.exit_code == 0 and "persons recomputed" in refreshed.output, refreshed.output
    session.expire_all()
    assert session.get(Person, person).post_count == 4  # type: ignore[union-attr]
    assert runner.invoke(app, ["persons", "refresh", "--all", "--user", "ana"]).exit_code == 0

    out = tmp_path / "aangifte"
    exported = runner.invoke(app, ["persons", "export", str(person), "--out", str(out), "--user", "ana"])
    assert exported.exit_code == 0, exported.output
    [json_file] = out.glob("*.json")
    assert json.loads(json_file.read_text())["person"]["id"] == person
    assert len(list(out.glob("*.html"))) == 1
    denied = runner.invoke(app, ["persons", "export", str(person), "--out", str(out), "--user", "sam"])
    assert denied.exit_code == 1
    missing = runner.invoke(app, ["persons", "show", "99999", "--user", "ana"])
    assert missing.exit_code == 1 and "no person" in missing.output
