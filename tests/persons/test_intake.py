"""Intake keeps persons current: the posts it classifies update their person's signals, newly raised
signals are published (for alerts), and a person of concern's new flagged posts rise in the queue.
With the shipped model, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch import events
from threatwatch.config import Settings
from threatwatch.db.models import Person, ReviewItem
from threatwatch.persons.signals import FIXATION
from threatwatch.registry import load_classifier
from threatwatch.review import classify_pending
from threatwatch.review.priority import priority

from .seeding import officials, person_of, post

NOW = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
THREATS = [
    "Burgemeester Van der Linden, we weten waar je woont, pas maar op als het donker is.",
    "Burgemeester Van der Linden, we komen je thuis opzoeken en dan ben je nog niet jarig.",
    "Burgemeester Van der Linden, jij gaat eraan, we weten waar je kinderen op school zitten.",
]
NEXT = "Burgemeester Van der Linden, dit overleef je niet, we staan morgen bij je voordeur."


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    seen: list[Any] = []

    def record(*, session: Session, event: Any, settings: Settings) -> None:
        seen.append(event)

    monkeypatch.setattr(events, "_subscribers", [record])
    yield seen


def test_intake_updates_persons_publishes_new_signals_and_lifts_their_next_posts(
    session: Session, settings: Settings, published: list[Any]
) -> None:
    officials(session)
    for day, text in enumerate(THREATS):
        post(session, author="@dreiger", text=text, at=NOW + timedelta(days=day), label=None)
    classifier = load_classifier(settings.model_dir, cache_dir=settings.cache_dir)
    first = classify_pending(session, settings=settings, classifier=classifier, now=NOW)
    assert first.queued == 3

    person_id = person_of(session, "@dreiger@social.example")
    person = session.get(Person, person_id)
    assert person is not None and person.flagged_count == 3 and FIXATION in person.signals
    flagged = [e for e in published if isinstance(e, events.PostFlagged)]
    assert {e.person_id for e in flagged} == {person_id}
    raised = [e for e in published if isinstance(e, events.PersonSignalRaised)]
    assert FIXATION in {e.signal for e in raised} and all(e.person_id == person_id for e in raised)
    assert len(raised) == len(set(person.signals))

    # The next round: the same person again, and a stranger with a threat as strong.
    published.clear()
    post(session, author="@dreiger", text=NEXT, at=NOW + timedelta(days=3), label=None)
    post(session, author="@onbekende", text=NEXT.replace("morgen", "vanavond"), at=NOW, label=None)
    classify_pending(session, settings=settings, classifier=classifier, now=NOW)
    session.expire_all()
    person = session.get(Person, person_id)
    assert person is not None
    items = session.scalars(select(ReviewItem).order_by(ReviewItem.id)).all()
    others = len(items) - 1  # every item is about the mayor, all created in this surge window
    known, stranger = items[-2], items[-1]
    # The stranger's first threat is judged on its own; the known person's counts their history too.
    for item, concern in ((known, person.concern), (stranger, 0.0)):
        classification = item.classification
        assert item.priority == priority(
            classification.label, classification.scores, others_in_surge=others, person_concern=concern
        )
    assert person.concern > 0
    # Signals raised before are not published again.
    assert not [e for e in published if isinstance(e, events.PersonSignalRaised) and e.signal == FIXATION]
