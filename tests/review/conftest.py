"""Factories for review tests: real rows (source, officials, posts, classifications, items, users)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from threatwatch import accounts, events
from threatwatch.config import Settings
from threatwatch.db.models import Classification, Mention, Official, Post, ReviewItem, Source, User
from threatwatch.domain import LABELS, Role
from threatwatch.review.priority import priority

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
_ids = itertools.count(1)

MakeItem = Callable[..., ReviewItem]


def make_source(session: Session, name: str = "Voorbeeldfeed") -> Source:
    source = Source(
        kind="feed",
        url=f"https://example.org/{name.lower()}-{next(_ids)}.xml",
        name=name,
        poll_interval_s=600,
        status="active",
    )
    session.add(source)
    session.flush()
    return source


def make_official(session: Session, name: str, role: str = "burgemeester") -> Official:
    official = Official(name=name, role=role, organisation="Gemeente Voorbeeld", aliases=[], handles=[])
    session.add(official)
    session.flush()
    return official


def add_item(
    session: Session,
    *,
    source: Source,
    text: str = "We weten waar je woont.",
    label: str = "threat",
    score: float = 0.9,
    officials: tuple[Official, ...] = (),
    created_at: datetime = NOW,
    published_at: datetime | None = None,
    url: str | None = "https://example.org/post",
    author: str | None = "@iemand",
    explanation: list[dict[str, Any]] | None = None,
) -> ReviewItem:
    """One flagged post in the queue, with its priority computed the way intake does (no surge)."""
    rest = (1 - score) / (len(LABELS) - 1)
    scores = {lab.value: (score if lab.value == label else rest) for lab in LABELS}
    post = Post(
        source_id=source.id,
        external_id=f"ext-{next(_ids)}",
        url=url,
        author=author,
        published_at=published_at,
        collected_at=created_at,
        text=text,
        language="nl",
        content_hash=f"{next(_ids):064d}",
    )
    post.mentions = [Mention(official_id=o.id, matched_on=o.name) for o in officials]
    session.add(post)
    session.flush()
    classification = Classification(
        post_id=post.id,
        model_version="test-model",
        label=label,
        flagged=label in {"threat", "coercion", "doxxing"},
        scores=scores,
        explanation=explanation or [],
        created_at=created_at,
    )
    session.add(classification)
    session.flush()
    item = ReviewItem(
        post_id=post.id,
        classification_id=classification.id,
        status="open",
        priority=priority(label, scores, others_in_surge=0),
        created_at=created_at,
        updated_at=created_at,
    )
    session.add(item)
    session.flush()
    return item


@pytest.fixture
def source(session: Session) -> Source:
    return make_source(session)


@pytest.fixture
def make_item(session: Session, source: Source) -> MakeItem:
    def make(**kwargs: Any) -> ReviewItem:
        kwargs.setdefault("source", source)
        return add_item(session, **kwargs)

    return make


@pytest.fixture
def ann(session: Session) -> User:
    return accounts.create_user(session, username="ann", password=PASSWORD, role=Role.ANALYST)


@pytest.fixture
def bob(session: Session) -> User:
    return accounts.create_user(session, username="bob", password=PASSWORD, role=Role.ANALYST)


@pytest.fixture
def published_events(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Domain events as subscribers receive them, recorded in order (in place of the real ones)."""
    seen: list[Any] = []

    def record(*, session: Session, event: Any, settings: Settings) -> None:
        assert session.in_transaction()
        seen.append(event)

    monkeypatch.setattr(events, "_subscribers", [record])
    yield seen


def later(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)
