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
from threatwatch.registry import live_classifier
from threatwatch.review.intake import classify_pending

from . import rows

pytestmark = pytest.mark.slow


def _unclassified_posts(session: Session, count: int) -> datetime:
    """``count`` committed posts of one source that no model has classified; their collection time."""
    now = datetime.now(UTC)
    feed = rows.source(session)
    for n in range(count):
        rows.post(
            session, source_id=feed.id, external_id=f"p{n}", collected_at=now, text=f"Bericht {n}", label=None
        )
    session.commit()
    return now


@pytest.mark.parametrize("migrated_url", ["postgresql"], indirect=True)
def test_a_second_run_skips_what_the_first_is_classifying(session: Session, settings: Settings) -> None:
    now = _unclassified_posts(session, 6)
    classifier = live_classifier(settings)
    make = session_factory(engine_for(settings.database_url))

    with make() as first, make() as second:
        first.begin()
        assert (
            classify_pending(
                first, settings=settings, classifier=classifier, now=now, batch_size=4
            ).classified
            == 6
        )
        # The first run has not committed: its posts are locked, the second finds nothing to do.
        second.begin()
        second.execute(text("SET LOCAL lock_timeout = '5s'"))  # waiting on the first run would fail here
        assert classify_pending(second, settings=settings, classifier=classifier, now=now).classified == 0
        second.commit()
        first.commit()
    assert session.scalar(select(func.count()).select_from(Classification)) == 6


@pytest.mark.parametrize("migrated_url", ["postgresql"], indirect=True)
def test_two_workers_working_off_a_backlog_batch_by_batch_classify_each_post_once(
    session: Session, settings: Settings
) -> None:
    """Two collection runs draining one backlog in small committed batches (``classify_backlog``) both
    finish, and every post is classified exactly once, also when one run commits a batch while the
    other's SELECT is still deciding what is unclassified (``_not_classified_meanwhile``)."""
    import threading

    from threatwatch.review.intake import IntakeReport, classify_backlog

    _unclassified_posts(session, 120)
    classifier = live_classifier(settings)
    make = session_factory(engine_for(settings.database_url))
    reports: list[IntakeReport] = []
    errors: list[BaseException] = []

    def drain() -> None:
        try:
            reports.append(classify_backlog(make, settings=settings, classifier=classifier, batch_size=3))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=drain) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert errors == []
    assert sum(r.classified for r in reports) == 120
    assert session.scalar(select(func.count(func.distinct(Classification.post_id)))) == 120
    assert session.scalar(select(func.count()).select_from(Classification)) == 120


@pytest.mark.parametrize("migrated_url", ["postgresql"], indirect=True)
def test_posts_classified_while_our_select_ran_are_left_out(session: Session, settings: Settings) -> None:
    """The race itself cannot be timed from a test (it lies inside one SELECT): what the SELECT may hand
    back, a post whose classification another run committed meanwhile, is checked here directly."""
    from threatwatch.db.models import Post
    from threatwatch.review.intake import _not_classified_meanwhile

    _unclassified_posts(session, 3)
    posts = session.scalars(select(Post).order_by(Post.id)).all()
    other = session_factory(engine_for(settings.database_url))()
    with other, other.begin():
        other.add(
            Classification(
                post_id=posts[1].id,
                model_version="v1",
                label="none",
                flagged=False,
                scores={},
                explanation=[],
            )
        )
    assert _not_classified_meanwhile(session, posts, version="v1") == [posts[0], posts[2]]
    assert _not_classified_meanwhile(session, posts, version="v2") == list(posts)
