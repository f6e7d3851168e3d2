"""Seed rows for web tests through the ORM and the account service: no mocks, real databases."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from threatwatch.accounts import create_user
from threatwatch.db.models import Classification, Mention, Official, Post, ReviewItem, Source, User
from threatwatch.domain import LABELS, Role

PASSWORD = "correct horse battery staple"
HOSTILE = (
    "Burgemeester, we weten waar je woont <script>alert('xss')</script>"
    '<img src=x onerror="alert(1)"> <a href="javascript:alert(2)">klik</a>'
)
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_user(session: Session, role: Role, username: str | None = None) -> User:
    return create_user(session, username=username or f"{role.value}1", password=PASSWORD, role=role)


def make_source(session: Session, name: str = "regionieuws") -> Source:
    source = Source(kind="feed", url=f"https://example.org/{name}.xml", name=name, poll_interval_s=600)
    session.add(source)
    session.flush()
    return source


def make_official(session: Session, name: str = "Anna de Vries") -> Official:
    official = Official(name=name, role="burgemeester", organisation="Gemeente Noordwaarde")
    session.add(official)
    session.flush()
    return official


@dataclass
class Seeded:
    item_id: int
    post_id: int


def make_item(
    session: Session,
    *,
    source: Source,
    text: str,
    label: str = "threat",
    score: float = 0.9,
    officials: tuple[Official, ...] = (),
    url: str | None = "https://example.org/post/1",
    explanation: list[dict[str, object]] | None = None,
    explained: bool = True,
    published_at: datetime | None = None,
    priority: float | None = None,
) -> Seeded:
    """One collected, classified and queued post, as intake would leave it (``explained=False``: before
    the explain flow has run)."""
    now = datetime.now(UTC)
    post = Post(
        source_id=source.id,
        external_id=hashlib.sha1(text.encode()).hexdigest() + str(now.timestamp()),
        url=url,
        author="@boze_burger",
        published_at=published_at or now - timedelta(hours=1),
        collected_at=now,
        text=text,
        language="nl",
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
    )
    session.add(post)
    session.flush()
    for official in officials:
        session.add(Mention(post_id=post.id, official_id=official.id, matched_on=official.name))
    rest = (1.0 - score) / (len(LABELS) - 1)
    classification = Classification(
        post_id=post.id,
        model_version="test-model",
        label=label,
        flagged=label in ("threat", "coercion", "doxxing"),
        scores={lab.value: (score if lab.value == label else rest) for lab in LABELS},
        explanation=(explanation or []) if explained else None,
    )
    session.add(classification)
    session.flush()
    item = ReviewItem(
        post_id=post.id,
        classification_id=classification.id,
        status="open",
        priority=score if priority is None else priority,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    return Seeded(item_id=item.id, post_id=post.id)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form like a browser; returns the CSRF token of the new session."""
    page = client.get("/login")
    match = CSRF_INPUT.search(page.text)
    assert match, page.text
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": match.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client)


def csrf_of(client: TestClient) -> str:
    match = CSRF_META.search(client.get("/account").text)
    assert match
    return match.group(1)
