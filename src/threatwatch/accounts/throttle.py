"""Failed-login throttling: too many failures for one username or from one address within a window.

Counted in the database, from the ``login_failed`` events the audit log already holds for every failed
attempt (attempted username as ``actor``, client address in ``details.remote``): no new table, and
every web replica and restart sees the same count, where an in-process counter would give each replica
its own allowance and forget everything on restart. Two keys, because they stop different attacks:
per username stops guessing one account's password from many addresses; per address stops one address
trying a password on many usernames (its limit is higher, since colleagues behind one NAT share it).

While throttled, the password is not checked at all (not even a right one is let in, or the answer
would tell a guesser when it was right), and the refusal is audited as ``login_throttled``, which is not
a failure: retrying while blocked does not extend the block, which lifts once enough failures have
left the sliding window. The count is read before the attempt is written, so concurrent attempts may
overshoot the limit by the number racing; that is fine for a brute-force brake.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from threatwatch import audit
from threatwatch.config import Settings
from threatwatch.db.models import AuditEvent
from threatwatch.db.types import utcnow


@dataclass(frozen=True)
class Throttled:
    """Refuse this attempt; try again after ``retry_after_s`` seconds."""

    retry_after_s: int
    by: Literal["username", "address"]


def login_name(username: str) -> str:
    """The account name an attempt is counted under: as ``get_user`` looks it up, as audited."""
    return username.strip().lower()[:100]


def _wait_s(
    session: Session, *, key: ColumnElement[bool], limit: int, since: datetime, window_s: int, now: datetime
) -> int | None:
    """Seconds until fewer than ``limit`` failures matching ``key`` remain in the window, or None now."""
    recent = list(
        session.scalars(
            select(AuditEvent.at)
            .where(AuditEvent.action == "login_failed", AuditEvent.at > since, key)
            .order_by(AuditEvent.at.desc())
            .limit(limit)
        )
    )
    if len(recent) < limit:
        return None
    # The limit-th most recent failure leaving the window brings the count below the limit.
    return max(1, math.ceil((recent[-1] + timedelta(seconds=window_s) - now).total_seconds()))


def login_throttle(
    session: Session, *, username: str, remote: str | None, settings: Settings, now: datetime | None = None
) -> Throttled | None:
    """Whether an attempt to log in as ``username`` from ``remote`` must be refused now, and for how long."""
    now = now or utcnow()
    window_s = settings.login_failure_window_s
    since = now - timedelta(seconds=window_s)
    waits: list[Throttled] = []
    by_user = _wait_s(
        session,
        key=AuditEvent.actor == (login_name(username) or "anonymous"),
        limit=settings.login_max_failures_per_user,
        since=since,
        window_s=window_s,
        now=now,
    )
    if by_user is not None:
        waits.append(Throttled(by_user, "username"))
    if remote:
        by_address = _wait_s(
            session,
            key=AuditEvent.details["remote"].as_string() == remote,
            limit=settings.login_max_failures_per_address,
            since=since,
            window_s=window_s,
            now=now,
        )
        if by_address is not None:
            waits.append(Throttled(by_address, "address"))
    return max(waits, key=lambda w: w.retry_after_s) if waits else None


def record_throttled(session: Session, *, username: str, remote: str | None, throttled: Throttled) -> None:
    """Audit a refused attempt (``login_throttled``; never counted as a failure)."""
    audit.record(
        session,
        actor=login_name(username) or "anonymous",
        action="login_throttled",
        object_type="user",
        details={"remote": remote, "by": throttled.by, "retry_after_s": throttled.retry_after_s},
    )
