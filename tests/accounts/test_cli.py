"""`threatwatch users sign-out / unlock / password / deactivate` against a migrated database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from threatwatch import accounts
from threatwatch.cli import app
from threatwatch.config import Settings, get_settings
from threatwatch.db.models import AuditEvent
from threatwatch.domain import Role

runner = CliRunner()
PASSWORD = "correct horse battery"


@pytest.fixture
def cli_db(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("THREATWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("THREATWATCH_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def _actions(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_sign_out_ends_every_session_of_the_user(cli_db: str, session: Session) -> None:
    ann = accounts.create_user(session, username="ann", password=PASSWORD, role=Role.ANALYST)
    sids = [accounts.start_session(session, user=ann, max_age_s=3600) for _ in range(2)]
    session.commit()
    result = runner.invoke(app, ["users", "sign-out", "ann"])
    assert result.exit_code == 0, result.output
    assert "ann signed out everywhere; 2 session(s) ended" in result.output
    session.expire_all()
    assert all(accounts.user_for_session(session, session_id=sid) is None for sid in sids)
    [event] = _actions(session, "sign_out_user")
    assert event.actor.startswith("cli:") and event.details == {"username": "ann", "sessions_ended": 2}
    missing = runner.invoke(app, ["users", "sign-out", "nobody"])
    assert missing.exit_code == 1 and "no user 'nobody'" in missing.output


def test_deactivate_and_password_end_sessions(cli_db: str, session: Session) -> None:
    ann = accounts.create_user(session, username="ann", password=PASSWORD, role=Role.ANALYST)
    sid = accounts.start_session(session, user=ann, max_age_s=3600)
    session.commit()
    weak = runner.invoke(app, ["users", "password", "ann", "--password-stdin"], input="welkom01!!\n")
    assert weak.exit_code == 1 and "too common" in weak.output and "welkom" in weak.output
    session.expire_all()
    assert accounts.user_for_session(session, session_id=sid) is ann  # a refused change ends nothing
    session.commit()

    changed = runner.invoke(
        app, ["users", "password", "ann", "--password-stdin"], input="nieuw en lang genoeg\n"
    )
    assert changed.exit_code == 0, changed.output
    assert "password of ann changed; 1 session(s) ended" in changed.output
    session.expire_all()
    assert accounts.user_for_session(session, session_id=sid) is None
    assert accounts.authenticate(session, username="ann", password="nieuw en lang genoeg") is not None
    sid = accounts.start_session(session, user=ann, max_age_s=3600)
    session.commit()

    off = runner.invoke(app, ["users", "deactivate", "ann"])
    assert off.exit_code == 0 and "ann deactivated; 1 session(s) ended" in off.output
    assert runner.invoke(app, ["users", "activate", "ann"]).exit_code == 0
    session.expire_all()
    assert accounts.user_for_session(session, session_id=sid) is None
    assert [e.details["sessions_ended"] for e in _actions(session, "deactivate_user")] == [1]


def test_unlock_lifts_the_login_throttle(cli_db: str, session: Session, settings: Settings) -> None:
    ann = accounts.create_user(session, username="ann", password=PASSWORD, role=Role.ANALYST)
    for _ in range(settings.login_max_failures_per_user):
        accounts.record_login(session, user=None, success=False, remote="10.1.1.1", username="ann")
    session.commit()
    throttled = accounts.login_throttle(session, username="ann", remote="10.1.1.1", settings=settings)
    assert throttled is not None and throttled.by == "account_address"

    result = runner.invoke(app, ["users", "unlock", "ann"])
    assert result.exit_code == 0 and "logins for ann unlocked" in result.output
    session.expire_all()
    assert accounts.login_throttle(session, username="ann", remote="10.1.1.1", settings=settings) is None
    [event] = _actions(session, "unlock_login")
    assert event.actor.startswith("cli:") and event.object_id == str(ann.id)
