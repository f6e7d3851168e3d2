"""End to end through the real path: loopback feed → collect flow (shipped model) → flagged → outbox →
dispatch flow → the subscriber's webhook and SMTP inbox; and an analyst's escalation → alert."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from threatwatch.accounts import create_user
from threatwatch.collect.sources import add_source
from threatwatch.config import Settings
from threatwatch.db.models import Alert, Official, Post, ReviewItem
from threatwatch.flows.collect import collect_flow
from threatwatch.flows.dispatch import dispatch_flow
from threatwatch.review.decisions import decide_item, escalate_item
from threatwatch.watchlist import import_officials

from ..conftest import DEMO_DIR, flow_overrides
from ..loopback import LoopbackServer, Route
from .conftest import subscribe
from .receivers import SmtpServer, WebhookReceiver

pytestmark = pytest.mark.usefixtures("prefect_harness")

THREAT = "Marieke van der Linden, we weten waar je woont. Pas maar op, je bent je leven niet zeker."
FEED = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Forum Zuiderhaven</title><link>https://forum.example.org/</link>
<item><guid>forum-1</guid><title>Nieuwe speeltuin</title><link>https://forum.example.org/1</link>
<description>Mooie nieuwe speeltuin aan de Dorpsstraat, goed gedaan gemeente Zuiderhaven!</description></item>
<item><guid>forum-2</guid><title>Re: burgemeester</title><link>https://forum.example.org/2</link>
<description>{THREAT}</description></item>
</channel></rss>""".encode()


def test_threatening_post_in_a_feed_reaches_webhook_and_inbox(
    session: Session, database_url: str, tmp_path: Path, loopback: LoopbackServer, webhook: WebhookReceiver
) -> None:
    import_officials(session, path=DEMO_DIR / "watchlist.yaml")
    loopback.routes["/forum.xml"] = Route(body=FEED)
    add_source(session, url=loopback.url("/forum.xml"), poll_interval_s=60)
    mayor = session.scalars(select(Official).where(Official.name == "Marieke van der Linden")).one()
    hook = subscribe(
        session, name="hook", channel="webhook", target=webhook.url("/tw"), organisation=mayor.organisation
    )
    subscribe(
        session,
        name="mail",
        channel="email",
        target="veiligheid@zuiderhaven.example",
        official_ids=[mayor.id],
    )

    overrides = flow_overrides(
        database_url,
        tmp_path,
        http_timeout_s=2.0,
        public_url="https://tw.zuiderhaven.example",
        alert_allow_private_targets=True,  # webhook and SMTP receivers on loopback
    )
    summary = collect_flow(settings_overrides=overrides, force=True)
    assert summary.new_posts == 2 and summary.queued >= 1
    with SmtpServer() as smtp:
        report = dispatch_flow(
            settings_overrides={**overrides, "smtp_host": "127.0.0.1", "smtp_port": smtp.port}, run_for_s=0
        )
        assert report.sent == 2
        [(_, recipients, email)] = smtp.inbox.messages
    item = session.scalars(  # the threat (active learning may queue the other post as "uncertain")
        select(ReviewItem).join(Post, Post.id == ReviewItem.post_id).where(Post.external_id == "forum-2")
    ).one()
    assert recipients == ["veiligheid@zuiderhaven.example"]
    assert "bedreiging" in email["Subject"] and "Marieke van der Linden" in email["Subject"]
    assert f"https://tw.zuiderhaven.example/items/{item.id}" in email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "woont" not in email.as_string()

    [received] = webhook.accepted("/tw")
    assert hook.webhook_secret is not None
    payload = Webhook(hook.webhook_secret).verify(received.body, received.headers)
    assert payload["data"]["label"] == "threat"
    assert payload["data"]["officials"][0]["name"] == mayor.name

    # Running collection and dispatch again sends nothing new.
    collect_flow(settings_overrides=overrides, force=True)
    assert dispatch_flow(settings_overrides=overrides, run_for_s=0).attempts == 0
    assert len(webhook.accepted()) == 1


def test_escalation_by_an_analyst_alerts_escalation_subscribers(
    session: Session, database_url: str, tmp_path: Path, webhook: WebhookReceiver, settings: Settings
) -> None:
    from .conftest import make_item

    official = Official(name="Ahmed Yildiz", role="wethouder", organisation="Gemeente Noordwaarde")
    session.add(official)
    session.commit()
    subscribe(
        session,
        channel="webhook",
        target=webhook.url("/esc"),
        official_ids=[official.id],
        trigger="escalated",
    )
    analyst = create_user(session, username="analist", password="een-lang-wachtwoord", role="analyst")
    item = make_item(session, official_ids=[official.id], label="coercion")
    session.commit()
    now = datetime.now(UTC)
    decide_item(session, item_id=item.id, user=analyst, label="coercion", now=now)
    escalate_item(
        session,
        settings=settings,
        item_id=item.id,
        user=analyst,
        urgency="critical",
        note="Bel direct",
        now=now,
    )
    session.commit()
    alert = session.scalars(select(Alert)).one()
    assert (alert.kind, alert.next_attempt_at) == ("escalated", now)

    report = dispatch_flow(
        settings_overrides={
            "database_url": database_url,
            "data_dir": str(tmp_path),
            "alert_allow_private_targets": True,  # the webhook receiver is on loopback
        },
        run_for_s=0,
    )
    assert report.sent == 1
    body = json.loads(webhook.accepted("/esc")[0].body)
    assert body["type"] == "alert.escalated"
    assert body["data"]["items"][0]["urgency"] == "critical"
    assert "Bel direct" not in json.dumps(body)


def test_a_flow_run_queues_alerts_under_its_own_settings_not_the_environments(
    session: Session,
    database_url: str,
    tmp_path: Path,
    loopback: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The outbox once fell back to the environment's settings deep inside intake: a run with
    ``settings_overrides`` queued alerts in the environment's time zone. A digest due at 09:00 must be
    09:00 where the run's settings say, whatever the environment says."""
    monkeypatch.setenv("THREATWATCH_ALERT_TIMEZONE", "Asia/Tokyo")
    import_officials(session, path=DEMO_DIR / "watchlist.yaml")
    coercion = (
        "Als de raad de woonwijk doorzet, maken we het leven van burgemeester Van der Linden zuur "
        "tot ze aftreedt."
    )
    loopback.routes["/raad.xml"] = Route(
        body=f"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Raad</title>
<item><guid>raad-1</guid><title>Woonwijk</title><link>https://forum.example.org/r1</link>
<description>{coercion}</description></item></channel></rss>""".encode()
    )
    add_source(session, url=loopback.url("/raad.xml"), poll_interval_s=60)
    mayor = session.scalars(select(Official).where(Official.name == "Marieke van der Linden")).one()
    digest = subscribe(session, official_ids=[mayor.id], mode="digest", digest_times=["09:00"])
    overrides = flow_overrides(database_url, tmp_path, alert_timezone="America/New_York")
    assert collect_flow(settings_overrides=overrides, force=True).queued >= 1
    [alert] = session.scalars(select(Alert).where(Alert.subscription_id == digest.id)).all()
    assert (alert.kind, alert.label) == ("digest", "coercion")  # not urgent: held for the digest
    local = alert.not_before.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (9, 0)
