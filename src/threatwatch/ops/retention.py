"""Retention: erase personal content when policy says so, keeping aggregate counts.

"Erasing" a post clears its text, author and link, the words its classifications cite, and the notes
of decisions on it. The row itself (source, external id, content hash, timestamps, label) stays as a
de-identified tombstone, so a feed that still lists the message does not bring it back, and it is
counted once into ``daily_counts`` (per day, source, official, label and review outcome) first.
Items that are open, claimed or escalated are never touched: escalations are kept until closed.

Posts that will never be classified (linked duplicates, languages not classified) count as not
flagged; a duplicate of a post that is queued for review is kept until that post is erased, as
evidence of how far it spread. Posts still waiting for their first classification are kept.

Erasing a post also lets go of its account (``Post.author_id``). Afterwards an account with no
retained post is erased, and a person left without accounts with it (``persons.erasure``); persons
that keep posts are recomputed, so their signals never rest on erased posts.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Table, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from threatwatch import audit
from threatwatch.config import Settings
from threatwatch.db.models import (
    AuditEvent,
    Base,
    Classification,
    DailyCount,
    Mention,
    Post,
    RedactedPost,
    ReviewItem,
)
from threatwatch.persons.erasure import authors_of, erase_unretained

logger = logging.getLogger(__name__)

CHUNK = 500
NOT_FLAGGED = "not_flagged"
UNCLASSIFIED = "unclassified"  # the label counted for posts that were never classified
DISMISSED = "dismissed"
# Terminal statuses that are not dismissals; "closed" is what an escalation becomes when it is done.
CLOSED_STATUSES: tuple[str, ...] = ("decided", "closed")
RETENTION_ACTOR = "retention"
# Review statuses that retention and erasure leave alone: the item is still being handled.
ACTIVE_STATUSES: frozenset[str] = frozenset({"open", "claimed", "escalated"})
# Accounts collection met this recently are left to a later purge: it may be storing their posts now.
RECENTLY_SEEN = timedelta(days=1)


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind of data is kept, in days (see docs/data-protection.md)."""

    not_flagged_post_days: int = 30
    dismissed_days: int = 90
    closed_days: int = 365
    audit_days: int = 730
    # The languages intake classifies: an unclassified post in another one will never be classified.
    classify_languages: tuple[str, ...] = ("fy", "nl")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            not_flagged_post_days=settings.retention_none_post_days,
            dismissed_days=settings.retention_dismissed_days,
            closed_days=settings.retention_closed_days,
            audit_days=settings.retention_audit_days,
            classify_languages=tuple(sorted(settings.classify_language_set)),
        )


@dataclass
class PurgeReport:
    not_flagged_posts: int = 0
    dismissed_items: int = 0
    closed_items: int = 0
    audit_events: int = 0
    dry_run: bool = False
    # Accounts and persons erased for having no retained post (not counted in ``total``; not in dry runs).
    accounts_erased: int = 0
    persons_erased: int = 0

    @property
    def total(self) -> int:
        return self.not_flagged_posts + self.dismissed_items + self.closed_items + self.audit_events


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def expired_not_flagged(
    session: Session, *, cutoff: datetime, languages: Collection[str] = ("nl",)
) -> list[tuple[int, str]]:
    """(post id, label) of posts collected before ``cutoff``, never flagged nor queued for review.

    Besides classified posts, that is posts that will never be classified (``languages`` are the ones
    intake classifies); their label is ``unclassified``. A post still waiting for its classification
    is not included, nor a duplicate of a post that is queued for review and not yet erased.
    """
    from threatwatch.collect.language import classifiable_posts

    latest = (
        select(Classification.post_id, func.max(Classification.id).label("classification_id"))
        .group_by(Classification.post_id)
        .subquery()
    )
    original = aliased(Post)
    any_classification = aliased(Classification)
    rows = session.execute(
        select(Post.id, Classification.label)
        .outerjoin(latest, latest.c.post_id == Post.id)
        .outerjoin(Classification, Classification.id == latest.c.classification_id)
        .where(
            Post.collected_at < cutoff,
            or_(latest.c.classification_id.is_not(None), ~classifiable_posts(languages)),
            ~exists().where(any_classification.post_id == Post.id, any_classification.flagged.is_(True)),
            ~exists().where(ReviewItem.post_id == Post.id),
            ~exists().where(RedactedPost.post_id == Post.id),
            # A repost of a post under review shows how far a threat spread: it goes with the original.
            ~exists()
            .where(
                original.id == Post.duplicate_of_id,
                exists().where(ReviewItem.post_id == original.id),
                ~exists().where(RedactedPost.post_id == original.id),
            )
            .correlate(Post),
        )
        .order_by(Post.id)
    ).all()
    return [(post_id, label or UNCLASSIFIED) for post_id, label in rows]


def expired_items(
    session: Session, *, statuses: Sequence[str], cutoff: datetime
) -> list[tuple[int, int, str, str]]:
    """(item id, post id, label, status) of review items in ``statuses`` last changed before ``cutoff``."""
    rows = session.execute(
        select(ReviewItem.id, ReviewItem.post_id, Classification.label, ReviewItem.status)
        .join(Classification, Classification.id == ReviewItem.classification_id)
        .join(Post, Post.id == ReviewItem.post_id)
        .where(
            ReviewItem.status.in_(list(statuses)),
            ReviewItem.updated_at < cutoff,
            ~exists().where(RedactedPost.post_id == Post.id),
        )
        .order_by(ReviewItem.id)
    ).all()
    return [(item_id, post_id, label, status) for item_id, post_id, label, status in rows]


def _count_into_daily(session: Session, *, posts: Sequence[tuple[int, str, str]]) -> None:
    """Add (post id, label, outcome) to the daily counts, one count per official the post mentions."""
    counts: Counter[tuple[date, int, int, str, str]] = Counter()
    info = {post_id: (label, outcome) for post_id, label, outcome in posts}
    for chunk in _chunks(list(info)):
        officials: dict[int, list[int]] = {}
        for post_id, official_id in session.execute(
            select(Mention.post_id, Mention.official_id).where(Mention.post_id.in_(chunk))
        ):
            officials.setdefault(post_id, []).append(official_id)
        for post_id, source_id, collected_at in session.execute(
            select(Post.id, Post.source_id, Post.collected_at).where(Post.id.in_(chunk))
        ):
            label, outcome = info[post_id]
            for official_id in officials.get(post_id, [0]):
                counts[(collected_at.date(), source_id, official_id, label, outcome)] += 1
    for (day, source_id, official_id, label, outcome), n in sorted(counts.items()):
        row = session.scalar(
            select(DailyCount).where(
                DailyCount.day == day,
                DailyCount.source_id == source_id,
                DailyCount.official_id == official_id,
                DailyCount.label == label,
                DailyCount.outcome == outcome,
            )
        )
        if row is None:
            session.add(
                DailyCount(
                    day=day,
                    source_id=source_id,
                    official_id=official_id,
                    label=label,
                    outcome=outcome,
                    posts=n,
                )
            )
        else:
            row.posts += n
    session.flush()


def _note_tables() -> list[Table]:
    """Tables that hold analysts' free-text notes about a review item (found, so new ones count too)."""
    return [
        table
        for table in Base.metadata.sorted_tables
        if "review_item_id" in table.columns and "note" in table.columns
    ]


def redact_posts(session: Session, *, post_ids: Sequence[int], reason: str, now: datetime) -> set[int]:
    """Erase the personal content of these posts (see the module docstring); rows stay as tombstones.
    Returns the accounts that wrote them, for ``persons.erasure.erase_unretained``."""
    authors = authors_of(session, post_ids)
    for chunk in _chunks(list(post_ids)):
        session.execute(
            update(Post).where(Post.id.in_(chunk)).values(text="", author=None, author_id=None, url=None),
            execution_options={"synchronize_session": False},
        )
        session.execute(
            update(Classification).where(Classification.post_id.in_(chunk)).values(explanation=[]),
            execution_options={"synchronize_session": False},
        )
        item_ids = select(ReviewItem.id).where(ReviewItem.post_id.in_(chunk))
        for table in _note_tables():  # decisions, escalations, ...: analysts' free text about the post
            session.execute(
                update(table).where(table.c.review_item_id.in_(item_ids)).values(note=None),
                execution_options={"synchronize_session": False},
            )
        session.add_all(RedactedPost(post_id=post_id, reason=reason, redacted_at=now) for post_id in chunk)
    session.flush()
    session.expire_all()
    return authors


def purge(session: Session, *, policy: RetentionPolicy, now: datetime, dry_run: bool = False) -> PurgeReport:
    """Apply ``policy`` as of ``now`` in the caller's transaction; ``dry_run`` only counts."""
    report = PurgeReport(dry_run=dry_run)
    not_flagged = expired_not_flagged(
        session,
        cutoff=now - timedelta(days=policy.not_flagged_post_days),
        languages=policy.classify_languages,
    )
    dismissed = expired_items(
        session, statuses=[DISMISSED], cutoff=now - timedelta(days=policy.dismissed_days)
    )
    closed = expired_items(session, statuses=CLOSED_STATUSES, cutoff=now - timedelta(days=policy.closed_days))
    audit_cutoff = now - timedelta(days=policy.audit_days)
    report.not_flagged_posts, report.dismissed_items, report.closed_items = (
        len(not_flagged),
        len(dismissed),
        len(closed),
    )
    report.audit_events = session.scalar(select(func.count()).where(AuditEvent.at < audit_cutoff)) or 0
    if dry_run:
        return report

    _count_into_daily(session, posts=[(post_id, label, NOT_FLAGGED) for post_id, label in not_flagged])
    authors = redact_posts(
        session, post_ids=[post_id for post_id, _ in not_flagged], reason=NOT_FLAGGED, now=now
    )
    for reason, items in ((DISMISSED, dismissed), ("closed", closed)):
        _count_into_daily(session, posts=[(post_id, label, status) for _, post_id, label, status in items])
        authors |= redact_posts(
            session, post_ids=[post_id for _, post_id, _, _ in items], reason=reason, now=now
        )
    session.execute(delete(AuditEvent).where(AuditEvent.at < audit_cutoff))
    # The sweep also takes accounts left over by an earlier purge (seen too recently then).
    persons = erase_unretained(
        session,
        author_ids=authors,
        actor=RETENTION_ACTOR,
        reason="retention",
        now=now,
        sweep=True,
        seen_before=now - RECENTLY_SEEN,
    )
    report.accounts_erased, report.persons_erased = persons.accounts, len(persons.persons)
    audit.record(
        session, actor=RETENTION_ACTOR, action="purge", details={**asdict(report), "policy": asdict(policy)}
    )
    session.flush()
    logger.info("purge: %s", report)
    return report


@dataclass
class ErasureReport:
    erased: int = 0
    kept_active: int = 0
    accounts_erased: int = 0
    persons_erased: int = 0


def erase_author(
    session: Session, *, author: str, actor: str, now: datetime, include_active: bool = False
) -> ErasureReport:
    """Right to erasure: erase the posts by ``author`` now, whatever their age.

    Posts whose review item is still open, claimed or escalated are kept unless ``include_active``:
    they may be evidence of a threat, which an operator must weigh first (docs/data-protection.md).
    Counts are kept as for any purge; the erasure is audited without repeating the name. The accounts
    that wrote the posts go when none of their posts is kept, and a person left without accounts with
    them (names, notes, signals); a person keeping posts is recomputed.
    """
    latest = (
        select(Classification.post_id, func.max(Classification.id).label("classification_id"))
        .group_by(Classification.post_id)
        .subquery()
    )
    rows = session.execute(
        select(Post.id, Classification.label, ReviewItem.status)
        .outerjoin(latest, latest.c.post_id == Post.id)
        .outerjoin(Classification, Classification.id == latest.c.classification_id)
        .outerjoin(ReviewItem, ReviewItem.post_id == Post.id)
        .where(Post.author == author, ~exists().where(RedactedPost.post_id == Post.id))
        .order_by(Post.id)
    ).all()
    report = ErasureReport()
    chosen: list[tuple[int, str, str]] = []
    for post_id, label, status in rows:
        if status in ACTIVE_STATUSES and not include_active:
            report.kept_active += 1
        else:
            chosen.append((post_id, label or UNCLASSIFIED, status or NOT_FLAGGED))
    _count_into_daily(session, posts=chosen)
    authors = redact_posts(session, post_ids=[post_id for post_id, _, _ in chosen], reason="erasure", now=now)
    persons = erase_unretained(session, author_ids=authors, actor=actor, reason="erasure", now=now)
    report.accounts_erased, report.persons_erased = persons.accounts, len(persons.persons)
    report.erased = len(chosen)
    audit.record(session, actor=actor, action="erase_subject", object_type="author", details=asdict(report))
    return report
