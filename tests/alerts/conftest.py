"""Fixtures for alert tests: officials, flagged review items made through the ORM, receivers, settings."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from threatwatch import events
from threatwatch.alerts import SubscriptionSpec, create_subscription
from threatwatch.config import Settings
from threatwatch.db.models import Classification, Mention, Official, Post, ReviewItem, Source, Subscription

from .receivers import SmtpServer, WebhookReceiver

_counter = itertools.count(1)
# A Tuesday afternoon in Amsterdam (CET, UTC+1): outside any quiet hours used below.
NOON = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


@pytest.fixture
def officials(session: Session) -> dict[str, Official]:
    people = {
        "mayor": Official(name="Johanna de Vries", role="burgemeester", organisation="Gemeente Noordwaarde"),
        "alderman": Official(name="Ahmed Yildiz", role="wethouder", organisation="Gemeente Noordwaarde"),
        "mp": Official(name="Pieter Bakker", role="Tweede Kamerlid", organisation="Tweede Kamer"),
    }
    session.add_all(people.values())
    session.commit()
    return people


def make_item(
    session: Session, *, official_ids: list[int], label: str = "threat", score: float = 0.9, text: str = ""
) -> ReviewItem:
    """A stored post about ``official_ids``, classified and queued (no event published)."""
    n = next(_counter)
    source = Source(
        kind="feed", url=f"https://example.org/feed-{n}.xml", name=f"feed {n}", poll_interval_s=600
    )
    session.add(source)
    session.flush()
    post = Post(
        source_id=source.id,
        external_id=f"post-{n}",
        text=text or f"Bericht {n}: geheime inhoud die niet in een alert hoort.",
        content_hash=f"{n:064d}",
    )
    session.add(post)
    session.flush()
    session.add_all(Mention(post_id=post.id, official_id=oid, matched_on="test") for oid in official_ids)
    classification = Classification(
        post_id=post.id, model_version="test", label=label, flagged=True, scores={label: score}
    )
    session.add(classification)
    session.flush()
    item = ReviewItem(post_id=post.id, classification_id=classification.id, status="open", priority=score)
    session.add(item)
    session.flush()
    return item


def flag(
    session: Session,
    *,
    official_ids: list[int],
    label: str = "threat",
    score: float = 0.9,
    at: datetime = NOON,
    text: str = "",
    settings: Settings | None = None,
) -> ReviewItem:
    """What intake does for a flagged post: queue it and publish ``PostFlagged`` in the same transaction
    (under ``settings``, by default those of the environment)."""
    item = make_item(session, official_ids=official_ids, label=label, score=score, text=text)
    events.publish(
        session,
        events.PostFlagged(
            review_item_id=item.id,
            post_id=item.post_id,
            official_ids=tuple(official_ids),
            label=label,
            score=score,
            at=at,
        ),
        settings=settings or Settings(),
    )
    return item


def subscribe(session: Session, **fields: Any) -> Subscription:
    spec: dict[str, Any] = {
        "name": "team",
        "subscriber_team": "Steunpunt",
        "channel": "email",
        "target": "t@x.nl",
    }
    spec.update(fields)
    # Receivers listen on loopback: allowed here, as by THREATWATCH_ALERT_ALLOW_PRIVATE_TARGETS.
    subscription = create_subscription(
        session, spec=SubscriptionSpec(**spec), actor="test", allow_private_targets=True
    )
    session.commit()
    return subscription


@pytest.fixture
def alert_settings(settings: Settings) -> Settings:
    """Short time-outs and back-offs so failures show quickly; time itself is injected in tests."""
    return settings.model_copy(
        update={
            "alert_channel_timeout_s": 1.0,
            "alert_retry_base_s": 10.0,
            "alert_retry_max_s": 60.0,
            "alert_max_attempts": 3,
            "alert_dispatch_poll_s": 0.05,
            "public_url": "https://threatwatch.example.nl",
        }
    )


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer(credentials=("steunpunt", "geheim-wachtwoord")) as server:
        yield server
