"""`threatwatch subscriptions` and `threatwatch alerts`: who is told what, and how delivery is going."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from threatwatch.cli._common import app, console, fail, open_session
from threatwatch.config import get_settings

subscriptions_app = typer.Typer(help="Subscriptions: support teams follow officials and get alerts.")
alerts_app = typer.Typer(help="The alert outbox: what was sent, what is failing, and the dispatcher.")
app.add_typer(subscriptions_app, name="subscriptions")
app.add_typer(alerts_app, name="alerts")

CLI_ACTOR = "cli"


def _quiet(value: str | None) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    start, sep, end = value.partition("-")
    if not sep:
        raise fail(f"--quiet takes START-END, e.g. 22:00-07:00; got {value!r}")
    return start.strip(), end.strip()


@subscriptions_app.command("add")
def subscriptions_add(
    name: Annotated[str, typer.Argument(help="A name people recognise, e.g. 'Steunpunt Noordwaarde'.")],
    team: Annotated[str | None, typer.Option(help="Subscriber: a team name.")] = None,
    user: Annotated[str | None, typer.Option(help="Subscriber: a username.")] = None,
    official: Annotated[list[int] | None, typer.Option(help="Official id to follow (repeatable).")] = None,
    organisation: Annotated[
        str | None, typer.Option(help="Follow every official of this organisation (resolved per event).")
    ] = None,
    person: Annotated[
        list[int] | None, typer.Option(help="Person id to follow (repeatable): their flags and signals.")
    ] = None,
    trigger: Annotated[str, typer.Option(help="flagged, escalated or both.")] = "both",
    min_severity: Annotated[
        float, typer.Option(help="Flagged posts only above this (label weight × score, 0-1).")
    ] = 0.0,
    label: Annotated[
        list[str] | None, typer.Option(help="Label of interest (repeatable); default all.")
    ] = None,
    email: Annotated[str | None, typer.Option(help="Channel: an e-mail address.")] = None,
    webhook: Annotated[str | None, typer.Option(help="Channel: a webhook URL (Standard Webhooks).")] = None,
    secret: Annotated[str | None, typer.Option(help="Webhook secret whsec_...; default: generated.")] = None,
    apprise_url: Annotated[
        str | None, typer.Option("--apprise", help="Channel: an Apprise URL (Teams, Slack, Matrix, ...).")
    ] = None,
    digest: Annotated[
        list[str] | None,
        typer.Option(help="Digest time HH:MM, Europe/Amsterdam (repeatable); default immediate."),
    ] = None,
    quiet: Annotated[
        str | None, typer.Option(help="Quiet hours START-END, e.g. 22:00-07:00 (not for threats).")
    ] = None,
) -> None:
    """Add a subscription; a webhook's secret is printed once."""
    from threatwatch.alerts import SubscriptionError, SubscriptionSpec, create_subscription

    channels = {k: v for k, v in {"email": email, "webhook": webhook, "apprise": apprise_url}.items() if v}
    if len(channels) != 1:
        raise fail("choose exactly one channel: --email, --webhook or --apprise")
    [(channel, target)] = channels.items()
    quiet_start, quiet_end = _quiet(quiet)
    spec = SubscriptionSpec(
        name=name,
        channel=channel,
        target=target,
        subscriber_user=user,
        subscriber_team=team,
        official_ids=list(official or []),
        organisation=organisation,
        person_ids=list(person or []),
        trigger=trigger,
        min_severity=min_severity,
        labels=list(label or []),
        webhook_secret=secret,
        mode="digest" if digest else "immediate",
        digest_times=list(digest or []),
        quiet_start=quiet_start,
        quiet_end=quiet_end,
    )
    settings = get_settings()
    with open_session(settings) as session, session.begin():
        try:
            subscription = create_subscription(
                session,
                spec=spec,
                actor=CLI_ACTOR,
                allow_private_targets=settings.alert_allow_private_targets,
            )
        except SubscriptionError as exc:
            raise fail(str(exc)) from None
        sub_id, sub_secret = subscription.id, subscription.webhook_secret
    console.print(f"subscription {sub_id} added")
    if channel == "webhook" and secret is None:
        console.print(f"webhook secret (shown once, give it to the receiver): {sub_secret}", highlight=False)


@subscriptions_app.command("list")
def subscriptions_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Every subscription (webhook secrets are never shown)."""
    from threatwatch.alerts.status import redact_target
    from threatwatch.alerts.subscriptions import list_subscriptions, subscriber_name

    with open_session(get_settings()) as session:
        rows: list[dict[str, Any]] = [
            {
                "id": s.id,
                "name": s.name,
                "subscriber": subscriber_name(session, s),
                "officials": s.official_ids,
                "organisation": s.organisation,
                "persons": s.person_ids,
                "trigger": s.trigger,
                "min_severity": s.min_severity,
                "labels": s.labels,
                "channel": s.channel,
                "target": redact_target(s.channel, s.target),
                "mode": s.mode,
                "digest_times": s.digest_times,
                "quiet_hours": f"{s.quiet_start}-{s.quiet_end}" if s.quiet_start else None,
                "active": s.active,
            }
            for s in list_subscriptions(session)
        ]
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    table = Table("id", "name", "subscriber", "follows", "trigger", "labels", "channel", "mode")
    for r in rows:
        follows = ", ".join(
            [
                *(f"#{i}" for i in r["officials"]),
                *([r["organisation"]] if r["organisation"] else []),
                *(f"person {p}" for p in r["persons"] or []),
            ]
        )
        mode = r["mode"] + (f" {' '.join(r['digest_times'])}" if r["digest_times"] else "")
        if r["quiet_hours"]:
            mode += f", stil {r['quiet_hours']}"
        table.add_row(
            str(r["id"]),
            r["name"],
            r["subscriber"],
            follows,
            r["trigger"],
            ", ".join(r["labels"]) or "all",
            f"{r['channel']} {r['target']}",
            mode,
        )
    console.print(table)


@subscriptions_app.command("remove")
def subscriptions_remove(subscription_id: int) -> None:
    """Delete a subscription and its alerts."""
    from threatwatch.alerts import SubscriptionError, remove_subscription

    with open_session(get_settings()) as session, session.begin():
        try:
            remove_subscription(session, subscription_id=subscription_id, actor=CLI_ACTOR)
        except SubscriptionError as exc:
            raise fail(str(exc)) from None
    console.print(f"subscription {subscription_id} removed")


@alerts_app.command("list")
def alerts_list(
    status: Annotated[str | None, typer.Option(help="pending, sending, sent or failed.")] = None,
    limit: int = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Recent alerts, newest first."""
    from threatwatch.alerts.status import list_alerts

    with open_session(get_settings()) as session:
        rows = list_alerts(session, status=status, limit=limit)
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(asdict(row), default=str, ensure_ascii=False) + "\n")
        return
    table = Table("id", "subscription", "kind", "label", "posts", "status", "tries", "created", "error")
    for r in rows:
        table.add_row(
            str(r.id),
            r.subscription,
            r.kind,
            r.label,
            str(r.item_count),
            r.status,
            str(r.attempts),
            f"{r.created_at:%Y-%m-%d %H:%M}",
            (r.last_error or "")[:60],
        )
    console.print(table)


@alerts_app.command("failures")
def alerts_failures(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Channels that are failing: alerts retrying or given up, with the last error. Exit 2 if any."""
    from threatwatch.alerts.status import failing_channels

    with open_session(get_settings()) as session:
        rows = failing_channels(session)
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(asdict(row), default=str, ensure_ascii=False) + "\n")
    elif not rows:
        console.print("no failing channels")
    else:
        table = Table(
            "subscription", "channel", "failing", "given up", "last error", "last failure", "last ok"
        )
        for h in rows:
            table.add_row(
                f"{h.subscription_id} {h.subscription}",
                f"{h.channel} {h.target}",
                str(h.failing_alerts),
                str(h.gave_up),
                h.last_error or "",
                f"{h.last_failure_at:%Y-%m-%d %H:%M}" if h.last_failure_at else "",
                f"{h.last_success_at:%Y-%m-%d %H:%M}" if h.last_success_at else "never",
            )
        console.print(table)
    if rows:
        raise typer.Exit(2)


@alerts_app.command("retry")
def alerts_retry(
    subscription: Annotated[int | None, typer.Option(help="Only this subscription's alerts.")] = None,
) -> None:
    """Send alerts that were given up on again (after fixing their channel)."""
    from threatwatch import audit
    from threatwatch.alerts.status import retry_failed
    from threatwatch.db.types import utcnow

    with open_session(get_settings()) as session, session.begin():
        count = retry_failed(session, now=utcnow(), subscription_id=subscription)
        audit.record(session, actor=CLI_ACTOR, action="retry_alerts", details={"subscription": subscription})
    console.print(f"{count} failed alerts queued again")


@alerts_app.command("dispatch")
def alerts_dispatch(
    keep_polling: Annotated[
        float,
        typer.Option("--for", help="Keep polling the outbox this many seconds (0: deliver what is due)."),
    ] = 0.0,
) -> None:
    """Deliver due alerts now (the scheduled dispatch-alerts flow does the same)."""
    from threatwatch.alerts.dispatch import dispatch
    from threatwatch.db.engine import engine_for, session_factory

    settings = get_settings()
    report = dispatch(
        session_factory(engine_for(settings.database_url)), settings=settings, run_for_s=keep_polling
    )
    console.print(f"{report.sent} sent, {report.failed_attempts} failed attempts, {report.gave_up} given up")
