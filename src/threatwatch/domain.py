"""Vocabulary shared by every layer: labels, statuses, roles."""

from __future__ import annotations

from enum import StrEnum


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


class Role(StrEnum):
    ANALYST = "analyst"
    SUPPORT = "support"
    ADMIN = "admin"


class Urgency(StrEnum):
    """How fast the support team of an official must act on an escalation."""

    LOW = "low"
    HIGH = "high"
    CRITICAL = "critical"
