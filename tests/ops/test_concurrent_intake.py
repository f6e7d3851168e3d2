"""Two overlapping intake runs on PostgreSQL (two workers, or two source kinds' schedules) share the
backlog: the second skips the posts the first holds instead of failing on the unique constraint."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.models import Classification
from threatwatch.ops.readiness import loaded_classifier
from threatwatch.review.intake import classify_pending

from . import rows

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("migrated_url", ["postgresql"], indirect=True)
def test_a_second_run_skips_what_the_first_is_classifying(session: Session, settings: Settings) -> None:
    now = datetime.now(UTC)
    feed = rows.source(session)
    for n in range(6):
        rows.post(
            session, source_id=feed.id, external_id=f"p{n}", collected_at=now, text=f"Bericht {n}", label=None
        )
    session.commit()
    classifier = loaded_classifier(settings)
    make = session_factory(engine_for(settings.database_url))

    with make() as first, make() as second:
        first.begin()
        assert classify_pending(first, classifier=classifier, now=now, batch_size=4).classified == 6
        # The first run has not committed: its posts are locked, the second finds nothing to do.
        second.begin()
        second.execute(text("SET LOCAL lock_timeout = '5s'"))  # waiting on the first run would fail here
        assert classify_pending(second, classifier=classifier, now=now).classified == 0
        second.commit()
        first.commit()
    assert session.scalar(select(func.count()).select_from(Classification)) == 6
