"""Vocabulary shared by every layer: labels, statuses, roles."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit


class Label(StrEnum):
    THREAT = "threat"
    COERCION = "coercion"
    DOXXING = "doxxing"
    ABUSE = "abuse"
    NONE = "none"


LABELS: tuple[Label, ...] = tuple(Label)
FLAGGED_LABELS: frozenset[Label] = frozenset({Label.THREAT, Label.COERCION, Label.DOXXING})

# How much a label weighs in the queue order; threat first, abuse is reviewed but never urgent.
SEVERITY: dict[Label, float] = {
    Label.THREAT: 1.0,
    Label.COERCION: 0.8,
    Label.DOXXING: 0.8,
    Label.ABUSE: 0.3,
    Label.NONE: 0.0,
}


class SourceKind(StrEnum):
    """Each kind has one adapter in ``threatwatch.collect.adapters`` and its own poll schedule."""

    FEED = "feed"  # RSS or Atom over http(s) or file://
    MASTODON = "mastodon"  # account/tag RSS, or the REST tag timeline (JSON)
    BLUESKY = "bluesky"  # public AppView getAuthorFeed (JSON), or profile RSS
    REDDIT = "reddit"  # search and subreddit RSS
    GOOGLE_NEWS = "google_news"  # news search RSS
    YOUTUBE = "youtube"  # channel feeds
    MUNICIPAL = "municipal"  # a municipality's own news feed


class SourceStatus(StrEnum):
    ACTIVE = "active"
    FAILING = "failing"
    PAUSED = "paused"


class ReviewStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    DECIDED = "decided"
    ESCALATED = "escalated"
    DISMISSED = "dismissed"
    CLOSED = "closed"  # an escalation the support team has finished (retention may erase it later)


class AlertStatus(StrEnum):
    """An alert in the outbox: waiting (``pending``), held by a dispatcher (``sending``), delivered
    (``sent``), or given up after its last attempt (``failed``, until someone retries it)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class ModelStatus(StrEnum):
    """A model version in the registry: evaluated (``candidate``), served (``live``), refused by the
    promotion rule or rolled back (``rejected``), or replaced (``retired``)."""

    CANDIDATE = "candidate"
    LIVE = "live"
    REJECTED = "rejected"
    RETIRED = "retired"


class PersonStatus(StrEnum):
    """An analyst's assessment of a person (``threatwatch.persons``); a person nobody assessed has none."""

    WATCHING = "watching"
    ESCALATED = "escalated"
    CLOSED = "closed"


class Role(StrEnum):
    ANALYST = "analyst"
    SUPPORT = "support"
    ADMIN = "admin"


class Urgency(StrEnum):
    """How fast the support team of an official must act on an escalation."""

    LOW = "low"
    HIGH = "high"
    CRITICAL = "critical"


# Platforms whose handles are accounts of the platform as a whole, whatever feed delivered them; any
# other source's author names are only unique within that site (its host).
_PLATFORM_KINDS = {SourceKind.MASTODON.value, SourceKind.BLUESKY.value, SourceKind.REDDIT.value}


@dataclass(frozen=True, order=True)
class AuthorKey:
    platform: str
    handle: str


def author_key(*, source_kind: str, source_url: str, author: str) -> AuthorKey | None:
    """The account behind ``author`` as a source of ``source_kind`` at ``source_url`` names it.

    Handles on Mastodon, Bluesky and Reddit are case-insensitive and the same account wherever it is
    seen; a Mastodon account of the source's own instance (``@name``) gets that instance. Elsewhere the
    author is a byline, unique only on its site.
    """
    handle = author.strip()
    if not handle:
        return None
    host = (urlsplit(source_url).hostname or "").lower()
    if source_kind in _PLATFORM_KINDS:
        handle = handle.lower().lstrip("@").removeprefix("u/")
        if source_kind == SourceKind.MASTODON.value and "@" not in handle and host:
            handle = f"{handle}@{host}"
        return AuthorKey(source_kind, ("@" if source_kind != SourceKind.REDDIT.value else "u/") + handle)
    return AuthorKey(host or source_kind, handle)
