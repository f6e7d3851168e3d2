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


def test_the_cli_applies_the_role_table_as_the_web_app_does(
    cli_db: str, session: Session, tmp_path: Path
) -> None:
    """Support may not review (its decisions would become training labels) and may export only what
    was escalated to it, from the command line as on the web."""
    source = make_source(session)
    mayor = make_official(session, "Anna de Vries")
    item = add_item(session, source=source, score=0.95, officials=(mayor,))
    accounts.create_user(session, username="sup", password="lang genoeg wachtwoord", role="support")
    accounts.create_user(session, username="ann", password="lang genoeg wachtwoord", role="analyst")
    session.commit()
    for command in (
        ["queue", "claim", "--user", "sup"],
        ["queue", "claim", str(item.id), "--user", "sup"],
        ["queue", "decide", str(item.id), "threat", "--user", "sup"],
        ["queue", "dismiss", str(item.id), "--user", "sup"],
    ):
        refused = runner.invoke(app, command)
        assert refused.exit_code == 1 and "may not review" in refused.output, (command, refused.output)
    assert session.scalars(select(Decision)).all() == []
    out = tmp_path / "evidence"
    export = ["queue", "export", "--item", str(item.id), "--out", str(out)]
    refused = runner.invoke(app, [*export, "--user", "sup"])
    assert refused.exit_code == 1 and "only escalated items" in refused.output, refused.output
    refused = runner.invoke(
        app, ["queue", "export", "--official", str(mayor.id), "--out", str(out), "--user", "sup"]
    )
    assert refused.exit_code == 1 and "no escalated items" in refused.output, refused.output
    assert not out.exists()

    assert runner.invoke(app, ["queue", "claim", str(item.id), "--user", "ann"]).exit_code == 0
    assert runner.invoke(app, ["queue", "decide", str(item.id), "threat", "--user", "ann"]).exit_code == 0
    assert runner.invoke(app, ["queue", "escalate", str(item.id), "--user", "ann"]).exit_code == 0
    allowed = runner.invoke(app, [*export, "--user", "sup"])  # escalated now: support may export it
    assert allowed.exit_code == 0, allowed.output
