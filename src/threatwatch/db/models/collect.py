"""What we collect: sources, their posts, and which officials a post mentions."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from threatwatch.db.models.base import Base
from threatwatch.db.types import StrEnumColumn, utcnow
from threatwatch.domain import SourceStatus

if TYPE_CHECKING:
    from threatwatch.db.models.classify import Classification
    from threatwatch.db.models.watch import Official


class Source(Base):
    """Somewhere we poll, with its HTTP cache validators, paging cursor, health and run lease.

    ``official_id`` is set on search sources generated from the watchlist (paused, posts kept, when the
    official is removed).
    ``locked_until`` is a lease a run claims with a conditional UPDATE, so two overlapping runs never poll
    the same source; ``next_poll_at`` carries the interval, back-off and any ``Retry-After``.
    """

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    poll_interval_s: Mapped[int] = mapped_column(Integer)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[SourceStatus] = mapped_column(StrEnumColumn(SourceStatus), default=SourceStatus.ACTIVE)
    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    items_last_run: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    official_id: Mapped[int | None] = mapped_column(
        ForeignKey("officials.id", ondelete="SET NULL"), index=True
    )
    cursor: Mapped[str | None] = mapped_column(String(500))
    next_poll_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
    lock_owner: Mapped[str | None] = mapped_column(String(64))
    paused_reason: Mapped[str | None] = mapped_column(Text)
    posts_total: Mapped[int] = mapped_column(Integer, default=0)


class Post(Base):
    """One collected message, stored once per source and external id."""

    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(1000))
    url: Mapped[str | None] = mapped_column(String(2000))
    author: Mapped[str | None] = mapped_column(String(300))
    # The account that wrote it (``threatwatch.persons``); NULL where the source names no author.
    author_id: Mapped[int | None] = mapped_column(ForeignKey("authors.id", ondelete="SET NULL"), index=True)
    published_at: Mapped[datetime | None]
    collected_at: Mapped[datetime] = mapped_column(default=utcnow)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(20))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    # A boost, repost or the same text from another account: linked to the first post, never re-queued.
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("posts.id", ondelete="SET NULL"), index=True
    )

    source: Mapped[Source] = relationship()
    mentions: Mapped[list[Mention]] = relationship(back_populates="post", cascade="all, delete-orphan")
    classifications: Mapped[list[Classification]] = relationship(
        back_populates="post", cascade="all, delete-orphan"
    )

    __table_args__ = (
        UniqueConstraint("source_id", "external_id", name="uq_posts_source_external"),
        Index("ix_posts_source_hash", "source_id", "content_hash"),
    )


class Mention(Base):
    """A post names a watched official; ``matched_on`` says which name form matched."""

    __tablename__ = "mentions"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    official_id: Mapped[int] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"), index=True)
    matched_on: Mapped[str] = mapped_column(String(300))

    post: Mapped[Post] = relationship(back_populates="mentions")
    official: Mapped[Official] = relationship()

    __table_args__ = (UniqueConstraint("post_id", "official_id", name="uq_mentions_post_official"),)
