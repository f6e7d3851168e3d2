"""Authors (one per platform account) and the persons analysts judge them to be.

Every author belongs to exactly one person: a new account starts as a person of its own, and linking
moves an account into another person. The person row carries what the persons-of-concern list sorts and
filters on (``concern``, counts, the raised signals), recomputed by ``threatwatch.persons.profile``
whenever the person's posts, labels or accounts change, so the list reads one index instead of
aggregating every post.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from threatwatch.db.models.base import Base
from threatwatch.db.types import StrEnumColumn, utcnow
from threatwatch.domain import PersonStatus


class Person(Base):
    """Whom one or more accounts belong to, with the analysts' status and the computed signals."""

    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(primary_key=True)
    # NULL until an analyst assesses the person.
    status: Mapped[PersonStatus | None] = mapped_column(StrEnumColumn(PersonStatus))
    concern: Mapped[float] = mapped_column(Float, default=0.0)
    # {signal name: {"value": float, "post_ids": [...], "detail": str}} for the signals raised now.
    signals: Mapped[dict[str, Any]] = mapped_column(default=dict)
    post_count: Mapped[int] = mapped_column(Integer, default=0)
    flagged_count: Mapped[int] = mapped_column(Integer, default=0)
    first_post_at: Mapped[datetime | None]
    last_post_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    authors: Mapped[list[Author]] = relationship(back_populates="person", order_by="Author.id")

    __table_args__ = (Index("ix_persons_concern", "concern", "id"),)


class Author(Base):
    """One account on one platform (``platform`` is ``mastodon``, ``bluesky``, ``reddit`` or a feed's
    host); ``handle`` is the account as that platform names it."""

    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    platform: Mapped[str] = mapped_column(String(100))
    handle: Mapped[str] = mapped_column(String(300))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(back_populates="authors")
    names: Mapped[list[AuthorName]] = relationship(
        back_populates="author", cascade="all, delete-orphan", order_by="AuthorName.first_seen_at"
    )

    __table_args__ = (UniqueConstraint("platform", "handle", name="uq_authors_platform_handle"),)


class AuthorName(Base):
    """A display name an account used, with when it was first and last seen."""

    __tablename__ = "author_names"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(300))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    author: Mapped[Author] = relationship(back_populates="names")

    __table_args__ = (UniqueConstraint("author_id", "name", name="uq_author_names_author_name"),)


class PersonOfficial(Base):
    """How often a person wrote about one official: the list's filter by official and its counts."""

    __tablename__ = "person_officials"

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True)
    official_id: Mapped[int] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"), primary_key=True)
    posts: Mapped[int] = mapped_column(Integer, default=0)
    flagged: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_person_officials_official", "official_id", "person_id"),)


class PersonNote(Base):
    """An analyst's note on a person (link and unlink notes land here too)."""

    __tablename__ = "person_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_label: Mapped[str] = mapped_column(String(100))  # who wrote it, kept if the user is deleted
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
