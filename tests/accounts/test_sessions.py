"""Server-side sessions as a service: start, look up, expire, end one, end all (password change,
deactivation, "sign out everywhere"), audited."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch import accounts
from threatwatch.accounts.sessions import KEEP_ENDED
from threatwatch.db.models import AuditEvent, User, UserSession
from threatwatch.domain import Role

PASSWORD = "correct horse battery"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HOUR = 3600


def test_a_session_lives_until_it_expires_and_stores_only_a_hash(session: Session) -> None:
    ann = accounts.create_user(session, username="ann", password=PASSWORD, role=Role.ANALYST)
    sid = accounts.start_session(session, user=ann, max_age_s=8 * HOUR, remote="10.0.0.1", now=T0)
    record = session.scalars(select(UserSession)).one()
    assert record.token_hash == hashlib.sha256(sid.encode()).hexdigest() and sid not in record.token_hash
    assert accounts.user_for_session(session, session_id=sid, now=T0 + timedelta(hours=7)) is ann
    assert record.last_seen_at == T0 + timedelta(hours=7)
    # last_seen_at is written at most once a minute.
    accounts.user_for_session(session, session_id=sid, now=T0 + timedelta(hours=7, seconds=30))
    assert record.last_seen_at == T0 + timedelta(hours=7)
    assert accounts.user_for_session(session, session_id=sid, now=T0 + timedelta(hours=8)) is None
    assert accounts.user_for_session(session, session_id=sid + "x", now=T0) is None
    assert accounts.user_for_session(session, session_id="", now=T0) is None


def test_logout_ends_one_session_and_is_audited(session: Session) -> None:
    ann = accounts.create_user(session, username="ann", password=PASSWORD, role=Role.ANALYST)
    here = accounts.start_session(session, user=ann, max_age_s=HOUR, now=T0)
    there = accounts.start_session(session, user=ann, max_age_s=HOUR, now=T0)
    assert accounts.end_session(session, session_id=here, now=T0) is ann
    assert accounts.end_session(session, session_id=here, now=T0) is None  # already ended
    assert accounts.user_for_session(session, session_id=here, now=T0) is None
    assert accounts.user_for_session(session, session_id=there, now=T0) is ann
    session.flush()
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "logout")).all()
    assert [(e.actor, e.object_id) for e in events] == [("ann", str(ann.id))]


def test_password_change_deactivation_and_sign_out_end_every_session(session: Session) -> None:
    ann = accounts.create_user(session, username="ann", password=PASSWORD, role=Role.ANALYST)
    bob = accounts.create_user(session, username="bob", password=PASSWORD, role=Role.ANALYST)
    now = datetime.now(UTC)

    def start(user: User) -> str:
        return accounts.start_session(session, user=user, max_age_s=HOUR)

    first, second, bobs = start(ann), start(ann), start(bob)
    assert accounts.set_password(session, user=ann, password="een nieuw wachtwoord", actor="ann") == 2
    assert accounts.user_for_session(session, session_id=first) is None
    assert accounts.user_for_session(session, session_id=second) is None
    assert accounts.user_for_session(session, session_id=bobs) is bob

    again = start(ann)
    assert accounts.set_active(session, user=ann, active=False, actor="admin") == 1
    assert accounts.set_active(session, user=ann, active=True, actor="admin") == 0
    assert accounts.user_for_session(session, session_id=again) is None  # not revived

    assert accounts.sign_out_everywhere(session, user=bob, actor="admin") == 1
    assert accounts.user_for_session(session, session_id=bobs) is None
    assert accounts.live_session_counts(session) == {}
    start(bob)
    assert accounts.live_session_counts(session) == {bob.id: 1}
    session.flush()
    events = session.scalars(select(AuditEvent).where(AuditEvent.at >= now).order_by(AuditEvent.id)).all()
    assert [(e.actor, e.action, e.details.get("sessions_ended")) for e in events] == [
        ("ann", "change_password", 2),
        ("admin", "deactivate_user", 1),
        ("admin", "activate_user", 0),
        ("admin", "sign_out_user", 1),
    ]
    reasons = session.scalars(select(UserSession.revoked_reason).order_by(UserSession.id)).all()
    assert reasons == ["password_changed", "password_changed", "signed_out", "deactivated", None]


def test_old_ended_sessions_are_removed_at_the_next_login(session: Session) -> None:
    ann = accounts.create_user(session, username="ann", password=PASSWORD, role=Role.ANALYST)
    bob = accounts.create_user(session, username="bob", password=PASSWORD, role=Role.ANALYST)
    accounts.start_session(session, user=ann, max_age_s=HOUR, now=T0)
    accounts.start_session(session, user=ann, max_age_s=HOUR, now=T0 + KEEP_ENDED)
    assert len(session.scalars(select(UserSession)).all()) == 2  # expired, kept a while
    accounts.start_session(session, user=bob, max_age_s=HOUR, now=T0 + KEEP_ENDED + timedelta(hours=2))
    assert [r.created_at for r in session.scalars(select(UserSession).order_by(UserSession.id))] == [
        T0 + KEEP_ENDED,
        T0 + KEEP_ENDED + timedelta(hours=2),
    ]
