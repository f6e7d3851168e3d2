"""`threatwatch subscriptions` and `threatwatch alerts` through Typer's runner, on both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from threatwatch.cli import app
from threatwatch.config import get_settings
from threatwatch.db.models import Official, Subscription

from .conftest import flag
from .receivers import Behaviour, WebhookReceiver

runner = CliRunner()


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("THREATWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("THREATWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("THREATWATCH_ALERT_CHANNEL_TIMEOUT_S", "1")
    monkeypatch.setenv("THREATWATCH_ALERT_ALLOW_PRIVATE_TARGETS", "true")  # the webhook is on loopback
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


@pytest.mark.usefixtures("env")
def test_subscriptions_and_alerts_from_the_command_line(
    session: Session, officials: dict[str, Official], webhook: WebhookReceiver
) -> None:
    mp = officials["mp"]
    webhook.behaviour["/down"] = Behaviour(always_status=502)
    add = ["subscriptions", "add", "Kamerbeveiliging", "--team", "Beveiliging TK", "--official", str(mp.id)]
    result = runner.invoke(
        app, [*add, "--webhook", webhook.url("/ok"), "--label", "threat", "--quiet", "23:00-06:00"]
    )
    assert result.exit_code == 0, result.output
    assert "subscription 1 added" in result.output and "whsec_" in result.output
    result = runner.invoke(app, [*add, "--webhook", webhook.url("/down")])
    assert result.exit_code == 0, result.output

    listed = _lines(runner.invoke(app, ["subscriptions", "list", "--json"]).output)
    first = listed[0]
    assert (first["name"], first["subscriber"], first["labels"], first["quiet_hours"]) == (
        "Kamerbeveiliging",
        "team:Beveiliging TK",
        ["threat"],
        "23:00-06:00",
    )
    assert all("whsec_" not in json.dumps(r) for r in listed)  # secrets are shown once, never listed

    # Bad input: a clear one-line error, exit 1, nothing stored.
    for bad, message in [
        (["--email", "geen-adres"], "not an e-mail address"),
        (["--email", "a@b.nl", "--webhook", "https://x.nl"], "exactly one channel"),
        (["--email", "a@b.nl", "--quiet", "22:00"], "START-END"),
        (["--email", "a@b.nl", "--digest", "acht uur"], "not a time of day"),
    ]:
        result = runner.invoke(app, [*add, *bad])
        assert result.exit_code == 1 and message in result.output, result.output
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Subscription)) == 2

    flag(session, official_ids=[mp.id], label="threat")
    session.commit()
    result = runner.invoke(app, ["alerts", "dispatch"])
    assert result.exit_code == 0 and "1 sent, 1 failed attempts" in result.output, result.output
    assert len(webhook.accepted("/ok")) == 1

    alerts = _lines(runner.invoke(app, ["alerts", "list", "--json"]).output)
    assert sorted((a["subscription_id"], a["status"]) for a in alerts) == [(1, "sent"), (2, "pending")]
    assert runner.invoke(app, ["alerts", "failures"]).exit_code == 2  # scripts and monitoring can check
    failures = runner.invoke(app, ["alerts", "failures", "--json"])
    assert failures.exit_code == 2
    [failing] = _lines(failures.output)
    assert (failing["subscription_id"], failing["last_error"], failing["failing_alerts"]) == (
        2,
        "HTTP 502",
        1,
    )

    assert runner.invoke(app, ["subscriptions", "remove", "2"]).exit_code == 0
    result = runner.invoke(app, ["subscriptions", "remove", "2"])
    assert result.exit_code == 1 and "no subscription with id 2" in result.output
    result = runner.invoke(app, ["alerts", "failures"])
    assert result.exit_code == 0 and "no failing channels" in result.output
