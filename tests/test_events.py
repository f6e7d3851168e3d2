"""Domain events: subscribers are connected at start-up, and an event nobody hears is an error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from threatwatch import events
from threatwatch.alerts.outbox import enqueue_alerts
from threatwatch.config import Settings
from threatwatch.wiring import connect_subscribers

EVENT = events.PostFlagged(
    review_item_id=1,
    post_id=1,
    official_ids=(1,),
    label="threat",
    score=0.9,
    at=datetime(2026, 12, 7, tzinfo=UTC),
)


def test_start_up_connects_the_alerts_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "_subscribers", [])
    connect_subscribers()
    connect_subscribers()
    assert events._subscribers == [enqueue_alerts]


def test_an_event_without_subscribers_is_an_error_not_a_lost_alert(
    monkeypatch: pytest.MonkeyPatch, session: Session, settings: Settings
) -> None:
    monkeypatch.setattr(events, "_subscribers", [])
    with pytest.raises(events.NoSubscribersError, match="connect_subscribers"):
        events.publish(session, EVENT, settings=settings)


def test_every_subscriber_hears_the_event_with_the_publishers_settings(
    monkeypatch: pytest.MonkeyPatch, session: Session, settings: Settings
) -> None:
    heard: list[tuple[Any, Settings]] = []

    def first(*, session: Session, event: events.Event, settings: Settings) -> None:
        heard.append((event, settings))

    def second(*, session: Session, event: events.Event, settings: Settings) -> None:
        heard.append((event, settings))

    monkeypatch.setattr(events, "_subscribers", [first, second])
    events.publish(session, EVENT, settings=settings)
    assert heard == [(EVENT, settings), (EVENT, settings)]
