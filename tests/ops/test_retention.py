"""Retention on SQLite and PostgreSQL: exactly what the policy names is erased, counts survive."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch.config import Settings
from threatwatch.db.models import (
    AuditEvent,
    Classification,
    DailyCount,
    Decision,
    Escalation,
    Post,
    RedactedPost,
    ReviewItem,
)
from threatwatch.ops.retention import RetentionPolicy, erase_author, purge

from . import rows

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
POLICY = RetentionPolicy(not_flagged_post_days=30, dismissed_days=90, closed_days=365, audit_days=180)


def _days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def _erased(session: Session, post: Post) -> bool:
    session.refresh(post)
    return post.text == "" and post.author is None and post.url is None


def _world(session: Session) -> dict[str, Post]:
    feed = rows.source(session)
    anna = rows.official(session)
    other = rows.official(session, "Bram Bakker")
    posts = {
        # not flagged: erased after 30 days, kept before
        "old_none": rows.post(
            session,
            source_id=feed.id,
            external_id="old-none",
            collected_at=_days_ago(31),
            official_ids=(anna.id,),
        ),
        "old_none_two_officials": rows.post(
            session,
            source_id=feed.id,
            external_id="old-none-2",
            collected_at=_days_ago(31),
            official_ids=(anna.id, other.id),
        ),
        "young_none": rows.post(
            session, source_id=feed.id, external_id="young-none", collected_at=_days_ago(29)
        ),
        "unclassified": rows.post(
            session, source_id=feed.id, external_id="pending", collected_at=_days_ago(100), label=None
        ),
        # dismissed: 90 days after dismissal, not after collection
        "old_dismissed": rows.post(
            session,
            source_id=feed.id,
            external_id="dismissed-old",
            collected_at=_days_ago(200),
            label="abuse",
            status="dismissed",
            decided_at=_days_ago(91),
            note="niet bedreigend, schreef analist",
            official_ids=(anna.id,),
        ),
        "recently_dismissed": rows.post(
            session,
            source_id=feed.id,
            external_id="dismissed-new",
            collected_at=_days_ago(200),
            label="abuse",
            status="dismissed",
            decided_at=_days_ago(89),
        ),
        # escalated, open and claimed: kept whatever their age
        "escalated": rows.post(
            session,
            source_id=feed.id,
            external_id="escalated",
            collected_at=_days_ago(1000),
            label="threat",
            status="escalated",
            decided_at=_days_ago(1000),
        ),
        "open": rows.post(
            session,
            source_id=feed.id,
            external_id="open",
            collected_at=_days_ago(1000),
            label="threat",
            status="open",
        ),
        # decided: kept for a year after the decision
        "old_decided": rows.post(
            session,
            source_id=feed.id,
            external_id="decided-old",
            collected_at=_days_ago(400),
            label="coercion",
            status="decided",
            decided_at=_days_ago(366),
        ),
        "young_decided": rows.post(
            session,
            source_id=feed.id,
            external_id="decided-young",
            collected_at=_days_ago(400),
            label="coercion",
            status="decided",
            decided_at=_days_ago(364),
        ),
    }
    session.add_all(
        [
            AuditEvent(at=_days_ago(181), actor="a", action="view_queue", details={}),
            AuditEvent(at=_days_ago(179), actor="a", action="view_queue", details={}),
        ]
    )
    session.flush()
    return posts


def _escalate(session: Session, post: Post, note: str) -> Escalation:
    item_id = session.scalar(select(ReviewItem.id).where(ReviewItem.post_id == post.id))
    assert item_id is not None
    escalation = Escalation(review_item_id=item_id, urgency="high", note=note, created_at=NOW)
    session.add(escalation)
    session.flush()
    return escalation


def test_purge_erases_exactly_what_policy_says(session: Session) -> None:
    posts = _world(session)
    closed_escalation = _escalate(session, posts["old_decided"], "bel de burgemeester")
    live_escalation = _escalate(session, posts["escalated"], "politie ingelicht")
    report = purge(session, policy=POLICY, now=NOW)
    session.commit()

    erased = {name for name, post in posts.items() if _erased(session, post)}
    assert erased == {"old_none", "old_none_two_officials", "old_dismissed", "old_decided"}
    assert (report.not_flagged_posts, report.dismissed_items, report.closed_items, report.audit_events) == (
        2,
        1,
        1,
        1,
    )
    # The words a classification cited and an analyst's note are personal content too.
    explanation = session.scalar(
        select(Classification.explanation).where(Classification.post_id == posts["old_none"].id)
    )
    assert explanation == []
    assert session.scalars(select(Decision.note)).all() == [None]
    session.refresh(closed_escalation)
    session.refresh(live_escalation)
    assert (closed_escalation.note, live_escalation.note) == (None, "politie ingelicht")
    # Rows stay as tombstones so a feed still listing them cannot bring them back.
    assert session.scalar(select(func.count()).select_from(Post)) == len(posts)
    reasons = dict(session.execute(select(RedactedPost.post_id, RedactedPost.reason)).all())
    assert reasons == {
        posts["old_none"].id: "not_flagged",
        posts["old_none_two_officials"].id: "not_flagged",
        posts["old_dismissed"].id: "dismissed",
        posts["old_decided"].id: "closed",
    }
    # Only the young audit event and the purge's own record remain.
    actions = sorted(session.scalars(select(AuditEvent.action)).all())
    assert actions == ["purge", "view_queue"]


def test_purge_keeps_aggregate_counts_once(session: Session) -> None:
    posts = _world(session)
    anna_id = posts["old_none"].mentions[0].official_id
    purge(session, policy=POLICY, now=NOW)
    # A second run finds nothing new and must not count twice.
    again = purge(session, policy=POLICY, now=NOW + timedelta(hours=1))
    session.commit()
    assert (again.not_flagged_posts, again.dismissed_items, again.closed_items) == (0, 0, 0)

    counts = {
        (c.day, c.official_id, c.label, c.outcome): c.posts for c in session.scalars(select(DailyCount)).all()
    }
    old_none_day = _days_ago(31).date()
    other_id = next(
        m.official_id for m in posts["old_none_two_officials"].mentions if m.official_id != anna_id
    )
    assert counts == {
        (old_none_day, anna_id, "none", "not_flagged"): 2,
        (old_none_day, other_id, "none", "not_flagged"): 1,
        (_days_ago(200).date(), anna_id, "abuse", "dismissed"): 1,
        (_days_ago(400).date(), 0, "coercion", "decided"): 1,
    }
    assert all(isinstance(day, date) for day, *_ in counts)


def test_dry_run_changes_nothing(session: Session) -> None:
    posts = _world(session)
    report = purge(session, policy=POLICY, now=NOW, dry_run=True)
    session.commit()
    assert report.dry_run and report.total == 5
    assert not any(_erased(session, post) for post in posts.values())
    assert session.scalar(select(func.count()).select_from(DailyCount)) == 0
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == 2


def test_posts_never_classified_are_erased_like_unflagged_ones(session: Session) -> None:
    """Linked duplicates and posts in a language that is not classified never get a classification:
    they must not outlive the not-flagged rule. Posts still waiting for one, and reposts of a post
    under review (how far a threat spread), are kept."""
    feed = rows.source(session)
    anna = rows.official(session)

    def post(external_id: str, days: float, **values: Any) -> Post:
        return rows.post(
            session, source_id=feed.id, external_id=external_id, collected_at=_days_ago(days), **values
        )

    unflagged = post("unflagged", 40)
    escalated = post("escalated", 40, label="threat", status="escalated")
    dismissed = post("dismissed", 400, label="abuse", status="dismissed", decided_at=_days_ago(91))
    posts = {
        "repost": post("repost", 31, label=None, duplicate_of_id=unflagged.id, official_ids=(anna.id,)),
        "young_repost": post("young-repost", 29, label=None, duplicate_of_id=unflagged.id),
        "english": post("english", 31, label=None, language="en"),
        "young_english": post("young-english", 29, label=None, language="en"),
        "flagged_unqueued": post("flagged", 31, label="threat", status=None),
        "pending_dutch": post("pending-nl", 31, label=None),
        "pending_unknown_language": post("pending-unknown", 31, label=None, language=None),
        "repost_of_escalated": post("repost-escalated", 31, label=None, duplicate_of_id=escalated.id),
        "repost_of_dismissed": post("repost-dismissed", 31, label=None, duplicate_of_id=dismissed.id),
    }
    # A flagged classification without its review item: still flagged, never "not flagged".
    flagged = session.scalars(
        select(Classification).where(Classification.post_id == posts["flagged_unqueued"].id)
    ).one()
    flagged.flagged = True
    session.flush()

    first = purge(session, policy=POLICY, now=NOW)
    erased = {name for name, p in posts.items() if _erased(session, p)}
    assert erased == {"repost", "english"}
    assert _erased(session, unflagged) and _erased(session, dismissed) and not _erased(session, escalated)
    assert (first.not_flagged_posts, first.dismissed_items) == (3, 1)
    counts = {(c.official_id, c.label, c.outcome): c.posts for c in session.scalars(select(DailyCount))}
    assert counts[(anna.id, "unclassified", "not_flagged")] == 1  # the repost, under the official it names
    assert counts[(0, "unclassified", "not_flagged")] == 1  # the English post

    # Once the post under review is erased, its reposts follow the not-flagged rule on the next run.
    second = purge(session, policy=POLICY, now=NOW + timedelta(days=1))
    session.commit()
    assert second.not_flagged_posts == 1 and _erased(session, posts["repost_of_dismissed"])
    assert not _erased(session, posts["repost_of_escalated"])
    assert not any(_erased(session, posts[name]) for name in ("pending_dutch", "pending_unknown_language"))


def test_policy_takes_the_classified_languages_from_settings(settings: Settings) -> None:
    policy = RetentionPolicy.from_settings(settings.model_copy(update={"classify_languages": "nl, EN"}))
    assert policy.classify_languages == ("en", "nl")


def test_erasure_of_an_author_spares_items_still_in_review(session: Session) -> None:
    feed = rows.source(session)
    mine = [
        rows.post(session, source_id=feed.id, external_id="a1", collected_at=_days_ago(1), author="troll@x"),
        rows.post(
            session,
            source_id=feed.id,
            external_id="a2",
            collected_at=_days_ago(1),
            author="troll@x",
            label="threat",
            status="escalated",
        ),
    ]
    someone_else = rows.post(
        session, source_id=feed.id, external_id="b1", collected_at=_days_ago(1), author="b"
    )

    report = erase_author(session, author="troll@x", actor="admin", now=NOW)
    assert (report.erased, report.kept_active) == (1, 1)
    assert _erased(session, mine[0]) and not _erased(session, mine[1])
    assert not _erased(session, someone_else)

    forced = erase_author(session, author="troll@x", actor="admin", now=NOW, include_active=True)
    session.commit()
    assert (forced.erased, forced.kept_active) == (1, 0)
    assert _erased(session, mine[1])
    audit_rows = session.scalars(select(AuditEvent).where(AuditEvent.action == "erase_subject")).all()
    assert len(audit_rows) == 2
    assert all("troll" not in str(row.details) for row in audit_rows)


def test_an_escalation_is_kept_until_closed_then_for_the_closed_period(session: Session) -> None:
    """ "Escalated items and evidence kept until closed": closing starts the clock, not the post's age."""
    from threatwatch.accounts import create_user
    from threatwatch.domain import Role
    from threatwatch.review.decisions import close_item

    feed = rows.source(session)
    post = rows.post(
        session,
        source_id=feed.id,
        external_id="escalated-long-ago",
        collected_at=_days_ago(2000),
        label="threat",
        status="escalated",
        decided_at=_days_ago(2000),
    )
    escalation = _escalate(session, post, "aangifte gedaan")
    assert purge(session, policy=POLICY, now=NOW).closed_items == 0 and not _erased(session, post)

    support = create_user(session, username="steun", password="een-lang-wachtwoord", role=Role.SUPPORT)
    item_id = escalation.review_item_id
    close_item(session, item_id=item_id, user=support, note="burgemeester gebeld", now=NOW)
    assert session.get(ReviewItem, item_id).status == "closed"  # type: ignore[union-attr]
    assert purge(session, policy=POLICY, now=NOW + timedelta(days=364)).closed_items == 0
    assert not _erased(session, post)
    assert purge(session, policy=POLICY, now=NOW + timedelta(days=366)).closed_items == 1
    session.commit()
    assert _erased(session, post)
    session.refresh(escalation)
    assert escalation.note is None
