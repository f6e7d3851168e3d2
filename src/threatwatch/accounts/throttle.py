"""Failed-login throttling that brakes guessing without letting anyone lock a real user out.

Counted in the database, from the ``login_failed`` events the audit log already holds for every failed
attempt (attempted username as ``actor``, client address in ``details.remote``): no table of its own,
and every web replica and restart sees the same counts, where an in-process counter would give each
replica its own allowance and forget everything on restart. Within a sliding window
(``login_failure_window_s``) three keys apply:

- **account and address** (``login_max_failures_per_user`` failures for one username from one address):
  the guesser at that address is stopped; the same account from any other address is not affected, so
  no one can keep an analyst out by typing wrong passwords for their name.
- **address** (``login_max_failures_per_address`` failures from one address, any usernames): stops one
  address trying a password on many accounts. Its limit is higher, since colleagues behind one NAT share
  it.
- **account** (``login_account_slowdown_after`` failures for one username from all addresses together),
  the gentle brake against guessing spread over many addresses: while it holds, an address that has
  already failed on this account in the window gets no further try at it, so each address gets one
  guess instead of several. It never refuses a clean address (no failure on this account in the window)
  nor an address the account has logged in from before (``KNOWN_ADDRESS_DAYS``: the owner's office or
  home, where a single typo must not cost them the window). The right password from a clean address
  always gets in. A delay per attempt was considered and left out: it would hold a worker thread per
  request (an attacker's parallel requests would starve the pool) and slows nobody who sends in parallel.

While throttled, the password is not checked at all (not even a right one is let in, or the answer would
tell a guesser when it was right), and the refusal is audited as ``login_throttled``, which is not a
failure: retrying while blocked does not extend the block, which lifts once enough failures have left
the window. The count is read before the attempt is written, so concurrent attempts may overshoot a
limit by the number racing; that is fine for a brute-force brake.

An admin can unlock an account (``unlock_login``, audited as ``unlock_login``): every failure counted
so far stops counting against attempts on that username, under all three keys (so a person stuck behind
an address that sprayed other accounts can get in; that address stays blocked for the others).
Without a client address (an ASGI server that reports none), all attempts count as from one unknown
address.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from threatwatch import audit
from threatwatch.config import Settings
from threatwatch.db.models import AuditEvent, User
from threatwatch.db.types import utcnow

KNOWN_ADDRESS_DAYS = 90
UNLOCK_ACTION = "unlock_login"


@dataclass(frozen=True)
class Throttled:
    """Refuse this attempt; try again after ``retry_after_s`` seconds."""

    retry_after_s: int
    by: Literal["account_address", "address", "account"]


def login_name(username: str) -> str:
    """The account name an attempt is counted under: as ``get_user`` looks it up, as audited."""
    return username.strip().lower()[:100]


def _remote_is(remote: str | None) -> ColumnElement[bool]:
    value: ColumnElement[str] = AuditEvent.details["remote"].as_string()
    return value.is_(None) if remote is None else value == remote


def _failures(session: Session, *, key: ColumnElement[bool], since: datetime, limit: int) -> list[datetime]:
    """When the most recent failures matching ``key`` since ``since`` happened, newest first (at most
    ``limit``)."""
    return list(
        session.scalars(
            select(AuditEvent.at)
            .where(AuditEvent.action == "login_failed", AuditEvent.at > since, key)
            .order_by(AuditEvent.at.desc())
            .limit(limit)
        )
    )


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def _over_limit(
    session: Session, *, key: ColumnElement[bool], limit: int, since: datetime, window_s: int, now: datetime
) -> int | None:
    """Seconds until fewer than ``limit`` failures matching ``key`` remain in the window, or None now."""
    recent = _failures(session, key=key, since=since, limit=limit)
    if len(recent) < limit:
        return None
    # The limit-th most recent failure leaving the window brings the count below the limit.
    return _seconds_until(recent[-1] + timedelta(seconds=window_s), now)


def last_unlock(session: Session, *, name: str) -> datetime | None:
    """When an admin last unlocked logins for the account ``name``, or None."""
    return session.scalar(
        select(func.max(AuditEvent.at)).where(
            AuditEvent.action == UNLOCK_ACTION, AuditEvent.details["username"].as_string() == name
        )
    )


def _known_address(session: Session, *, name: str, remote: str | None, now: datetime) -> bool:
    if remote is None:
        return False
    since = now - timedelta(days=KNOWN_ADDRESS_DAYS)
    found = session.scalar(
        select(AuditEvent.id)
        .where(
            AuditEvent.action == "login", AuditEvent.actor == name, AuditEvent.at > since, _remote_is(remote)
        )
        .limit(1)
    )
    return found is not None


def login_throttle(
    session: Session, *, username: str, remote: str | None, settings: Settings, now: datetime | None = None
) -> Throttled | None:
    """Whether an attempt to log in as ``username`` from ``remote`` must be refused now, and for how long."""
    now = now or utcnow()
    window_s = settings.login_failure_window_s
    name = login_name(username) or "anonymous"
    since = now - timedelta(seconds=window_s)
    unlocked = last_unlock(session, name=name)
    if unlocked is not None and unlocked > since:
        since = unlocked
    account = AuditEvent.actor == name
    waits: list[Throttled] = []
    if remote is not None:
        by_address = _over_limit(
            session,
            key=_remote_is(remote),
            limit=settings.login_max_failures_per_address,
            since=since,
            window_s=window_s,
            now=now,
        )
        if by_address is not None:
            waits.append(Throttled(by_address, "address"))
    by_pair = _over_limit(
        session,
        key=and_(account, _remote_is(remote)),
        limit=settings.login_max_failures_per_user,
        since=since,
        window_s=window_s,
        now=now,
    )
    if by_pair is not None:
        waits.append(Throttled(by_pair, "account_address"))
    by_account = _over_limit(
        session,
        key=account,
        limit=settings.login_account_slowdown_after,
        since=since,
        window_s=window_s,
        now=now,
    )
    if by_account is not None:
        latest_here = _failures(session, key=and_(account, _remote_is(remote)), since=since, limit=1)
        if latest_here and not _known_address(session, name=name, remote=remote, now=now):
            clean_in = _seconds_until(latest_here[0] + timedelta(seconds=window_s), now)
            waits.append(Throttled(min(by_account, clean_in), "account"))
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


def unlock_login(session: Session, *, user: User, actor: str) -> None:
    """Lift every login throttle on ``user``'s account now (failures so far stop counting against it);
    audited as ``unlock_login`` by ``actor``, which is also the record the throttle reads."""
    audit.record(
        session,
        actor=actor,
        action=UNLOCK_ACTION,
        object_type="user",
        object_id=user.id,
        details={"username": user.username},
    )
    session.flush()
