"""`threatwatch users` and the scriptable `threatwatch queue` commands against a migrated database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from threatwatch import accounts
from threatwatch.cli import app
from threatwatch.config import get_settings
from threatwatch.db.models import ApiToken, Decision

from .conftest import add_item, make_official, make_source

runner = CliRunner()


@pytest.fixture
def cli_db(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("THREATWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("THREATWATCH_DATABASE_URL", database_url)
    monkeypatch.delenv("THREATWATCH_USER", raising=False)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def _json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def test_users_add_list_and_tokens(cli_db: str, session: Session) -> None:
    added = runner.invoke(
        app,
        ["users", "add", "ann", "--role", "support", "--password-stdin"],
        input="lang genoeg wachtwoord\n",
    )
    assert added.exit_code == 0, added.output
    assert "added ann (support)" in added.output
    again = runner.invoke(app, ["users", "add", "ann", "--password-stdin"], input="lang genoeg wachtwoord\n")
    assert again.exit_code == 1 and "already exists" in again.output
    weak = runner.invoke(app, ["users", "add", "bob", "--password-stdin"], input="kort\n")
    assert weak.exit_code == 1 and "at least 10" in weak.output
    assert accounts.authenticate(session, username="ann", password="lang genoeg wachtwoord") is not None
    listing = runner.invoke(app, ["users", "list"])
    assert "ann" in listing.output and "support" in listing.output and "bob" not in listing.output

    created = runner.invoke(app, ["users", "token", "create", "ann", "--name", "nacht"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert accounts.user_for_api_token(session, token=token) is not None
    token_id = session.scalars(select(ApiToken.id)).one()
    assert runner.invoke(app, ["users", "token", "revoke", str(token_id)]).exit_code == 0
    session.expire_all()
    assert accounts.user_for_api_token(session, token=token) is None
    assert runner.invoke(app, ["users", "token", "revoke", "999"]).exit_code == 1
    assert runner.invoke(app, ["users", "deactivate", "ann"]).exit_code == 0
    session.expire_all()
    assert accounts.authenticate(session, username="ann", password="lang genoeg wachtwoord") is None


def test_queue_commands_for_scripts(cli_db: str, session: Session, tmp_path: Path) -> None:
    source = make_source(session)
    mayor = make_official(session, "Anna de Vries")
    urgent = add_item(session, source=source, score=0.95, officials=(mayor,))
    noise = add_item(session, source=source, label="abuse", score=0.6)
    accounts.create_user(session, username="ann", password="lang genoeg wachtwoord", role="analyst")
    session.commit()

    claimed = runner.invoke(app, ["queue", "claim", "--user", "ann"])
    assert claimed.exit_code == 0, claimed.output
    assert _json(claimed.stdout)["id"] == urgent.id
    decided = runner.invoke(
        app, ["queue", "decide", str(urgent.id), "threat", "--user", "ann", "--note", "echt"]
    )
    assert _json(decided.stdout)["label"] == "threat"
    escalated = runner.invoke(
        app, ["queue", "escalate", str(urgent.id), "--urgency", "critical", "--user", "ann"]
    )
    assert escalated.exit_code == 0, escalated.output
    assert _json(escalated.stdout)["urgency"] == "critical"
    dismissed = runner.invoke(app, ["queue", "dismiss", str(noise.id), "--user", "ann"])
    assert _json(dismissed.stdout) == {"dismissed": 1, "requested": 1}
    assert _json(runner.invoke(app, ["queue", "claim", "--user", "ann"]).stdout) is None

    exported = runner.invoke(
        app,
        [
            "queue",
            "export",
            "--official",
            str(mayor.id),
            "--since",
            "2026-01-01",
            "--user",
            "ann",
            "--out",
            str(tmp_path),
        ],
    )
    assert exported.exit_code == 0, exported.output
    paths = _json(exported.stdout)
    assert paths["items"] == 1
    record = json.loads(Path(paths["json"]).read_text(encoding="utf-8"))
    assert record["items"][0]["decisions"][0]["note"] == "echt"
    assert "Bewijsoverzicht" in Path(paths["html"]).read_text(encoding="utf-8")
    assert [d.label for d in session.scalars(select(Decision).order_by(Decision.id))] == ["threat", "none"]

    # Errors are one line, exit code 1, and change nothing.
    for args, message in [
        (["queue", "decide", str(urgent.id), "none", "--user", "ann"], "already escalated"),
        (["queue", "decide", "999", "threat", "--user", "ann"], "no review item 999"),
        (["queue", "claim", "--user", "nobody"], "no active user"),
        (["queue", "export", "--user", "ann"], "either"),
        (["queue", "export", "--official", "1", "--since", "gisteren", "--user", "ann"], "not an ISO date"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and message in result.output, (args, result.output)
    assert len(session.scalars(select(Decision)).all()) == 2
