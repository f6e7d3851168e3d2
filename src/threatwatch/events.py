"""Domain events that other parts of threatwatch react to, inside the transaction that caused them.

A tiny publish/subscribe: ``publish`` runs every subscriber in the caller's session, and subscribers
add rows only (the outbox pattern), so whatever an event causes (alerts today) is committed or rolled
back together with the change that raised it. This module imports nothing above it: subscribers are
registered at start-up by ``threatwatch.wiring.connect_subscribers`` (every entry point calls it), and
publishing with none registered is an error rather than an alert silently lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from threatwatch.config import Settings


@dataclass(frozen=True)
class PostFlagged:
    """The model flagged a post and it entered the review queue."""

    review_item_id: int
    post_id: int
    official_ids: tuple[int, ...]
    label: str
    score: float
    at: datetime
    # The person whose account wrote the post (threatwatch.persons), for subscriptions that follow them.
    person_id: int | None = None


@dataclass(frozen=True)
class ItemEscalated:
    """An analyst escalated a review item to the support team of the officials it concerns."""

    review_item_id: int
    post_id: int
    official_ids: tuple[int, ...]
    label: str
    urgency: str
    escalated_by: str
    at: datetime


@dataclass(frozen=True)
class PersonSignalRaised:
    """A person with flagged posts newly raised a signal (escalation, fixation, ...; threatwatch.persons)."""

    person_id: int
    signal: str
    detail: str
    post_ids: tuple[int, ...]
    official_ids: tuple[int, ...]
    at: datetime


Event = PostFlagged | ItemEscalated | PersonSignalRaised


class Subscriber(Protocol):
    def __call__(self, *, session: Session, event: Event, settings: Settings) -> object: ...


class NoSubscribersError(RuntimeError):
    """An event was published in a process whose entry point never connected the subscribers."""


_subscribers: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> None:
    """Register ``subscriber`` for every event (once; registering it again changes nothing)."""
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def publish(session: Session, event: Event, *, settings: Settings) -> None:
    """Record what ``event`` causes in ``session`` under ``settings``; the caller commits."""
    if not _subscribers:
        raise NoSubscribersError(
            "no subscriber for domain events: call threatwatch.wiring.connect_subscribers() at start-up"
        )
    for subscriber in _subscribers:
        subscriber(session=session, event=event, settings=settings)
