"""Subscriptions and alert health in the web app and the API (support and admin roles).

The page lists subscriptions, the channels that are failing and recent alerts, and adds or removes
subscriptions; ``/api/v1/subscriptions`` and ``/api/v1/alerts`` do the same for scripts. Both go through
``threatwatch.alerts`` (validation, audit). A webhook's secret is shown once, in the answer that
creates it, and never listed.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from threatwatch import audit
from threatwatch.accounts.access import Permission, can
from threatwatch.alerts import SubscriptionError, SubscriptionSpec, create_subscription, remove_subscription
from threatwatch.alerts.status import failing_channels, list_alerts, redact_target
from threatwatch.alerts.subscriptions import (
    ALERT_LABELS,
    CHANNELS,
    TRIGGERS,
    list_subscriptions,
    subscriber_name,
)
from threatwatch.db.models import Official, Subscription
from threatwatch.web.deps import SessionDep, SettingsDep, SubscriberUser
from threatwatch.web.rendering import add_messages, add_nav_link, flash, render
from threatwatch.web.schemas import DbId, db_id_or_none

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["subscriptions"])

add_nav_link("/subscriptions", "nav.subscriptions", Permission.MANAGE_SUBSCRIPTIONS)
add_messages(
    {
        "nav.subscriptions": ("Abonnementen", "Subscriptions"),
        "subs.title": ("Abonnementen en meldingen", "Subscriptions and alerts"),
        "subs.empty": ("Nog geen abonnementen.", "No subscriptions yet."),
        "subs.failing": ("Kanalen die falen", "Failing channels"),
        "subs.failing_none": ("Alle kanalen werken.", "Every channel works."),
        "subs.recent": ("Recente meldingen", "Recent alerts"),
        "subs.add": ("Abonnement toevoegen", "Add a subscription"),
        "subs.added": ("Abonnement {name} toegevoegd.", "Subscription {name} added."),
        "subs.removed": ("Abonnement {id} verwijderd.", "Subscription {id} removed."),
        "subs.failed": ("Niet opgeslagen: {reason}", "Not saved: {reason}"),
        "subs.added_secret": (
            "Abonnement {name} toegevoegd. Webhook-geheim (wordt maar één keer getoond; geef het aan de"
            " ontvanger):",
            "Subscription {name} added. Webhook secret (shown once; give it to the receiver):",
        ),
        "subs.name": ("Naam", "Name"),
        "subs.subscriber": ("Abonnee", "Subscriber"),
        "subs.team": ("Team", "Team"),
        "subs.user": ("of gebruiker", "or user"),
        "subs.follows": ("Volgt", "Follows"),
        "subs.officials": ("Bestuurders", "Officials"),
        "subs.organisation": ("of organisatie (alle bestuurders)", "or organisation (all its officials)"),
        "subs.trigger": ("Wanneer", "When"),
        "subs.trigger.flagged": ("gemarkeerd door het model", "flagged by the model"),
        "subs.trigger.escalated": ("geëscaleerd door een analist", "escalated by an analyst"),
        "subs.trigger.both": ("beide", "both"),
        "subs.min_severity": ("Minimale ernst (0-1)", "Minimum severity (0-1)"),
        "subs.labels": ("Categorieën (leeg: alle)", "Labels (none: all)"),
        "subs.channel": ("Kanaal", "Channel"),
        "subs.channel.email": ("e-mail", "e-mail"),
        "subs.channel.webhook": ("webhook", "webhook"),
        "subs.channel.apprise": ("chat (Apprise-URL)", "chat (Apprise URL)"),
        "subs.target": ("Adres of URL", "Address or URL"),
        "subs.mode": ("Bezorging", "Delivery"),
        "subs.immediate": ("direct", "immediately"),
        "subs.digest_times": (
            "Overzicht om (UU:MM, komma's; leeg: direct)",
            "Digest at (HH:MM, commas; empty: immediately)",
        ),
        "subs.quiet": ("Stille uren (nooit voor bedreigingen)", "Quiet hours (never for threats)"),
        "subs.remove": ("Verwijderen", "Remove"),
        "subs.status": ("Status", "Status"),
        "subs.attempts": ("Pogingen", "Attempts"),
        "subs.last_error": ("Laatste fout", "Last error"),
        "subs.last_ok": ("Laatst gelukt", "Last success"),
        "subs.gave_up": ("opgegeven", "given up"),
        "subs.posts": ("Berichten", "Posts"),
        "subs.created": ("Aangemaakt", "Created"),
        "subs.persons": ("Personen (nummers, komma's)", "Persons (numbers, commas)"),
        "subs.person": ("persoon", "person"),
        "subs.never": ("nooit", "never"),
    }
)


class SubscriptionIn(BaseModel):
    """A new subscription; exactly one of ``subscriber_user`` / ``subscriber_team``."""

    name: str = Field(min_length=1, max_length=200)
    channel: str = Field(description="email, webhook or apprise")
    target: str = Field(max_length=2000, description="e-mail address, webhook URL or Apprise URL")
    subscriber_user: str | None = None
    subscriber_team: str | None = None
    official_ids: list[DbId] = Field(default_factory=list)
    person_ids: list[DbId] = Field(
        default_factory=list, description="persons of concern to follow (needs the view_persons permission)"
    )
    organisation: str | None = None
    trigger: str = Field(default="both", description="flagged, escalated or both")
    min_severity: float = 0.0
    labels: list[str] = Field(default_factory=list)
    webhook_secret: str | None = Field(default=None, description="whsec_...; default: generated")
    digest_times: list[str] = Field(
        default_factory=list, description="HH:MM, Europe/Amsterdam; empty: immediate"
    )
    quiet_start: str | None = None
    quiet_end: str | None = None


class SubscriptionOut(BaseModel):
    id: int
    name: str
    subscriber: str
    official_ids: list[int]
    person_ids: list[int]
    organisation: str | None
    trigger: str
    min_severity: float
    labels: list[str]
    channel: str
    target: str
    mode: str
    digest_times: list[str]
    quiet_start: str | None
    quiet_end: str | None
    active: bool
    created_at: datetime
    webhook_secret: str | None = Field(default=None, description="only in the answer that creates it")


def _out(session: Any, s: Subscription, *, secret: str | None = None) -> SubscriptionOut:
    return SubscriptionOut(
        id=s.id,
        name=s.name,
        subscriber=subscriber_name(session, s),
        official_ids=s.official_ids,
        person_ids=s.person_ids,
        organisation=s.organisation,
        trigger=s.trigger,
        min_severity=s.min_severity,
        labels=s.labels,
        channel=s.channel,
        target=redact_target(s.channel, s.target),
        mode=s.mode,
        digest_times=s.digest_times,
        quiet_start=s.quiet_start,
        quiet_end=s.quiet_end,
        active=s.active,
        created_at=s.created_at,
        webhook_secret=secret,
    )


# Following a person sends alerts about that person: only roles that may see persons may follow them
# (support sees persons only through escalated items, docs/data-protection.md).
FOLLOW_PERSONS_REFUSED = "following persons needs a role that may see persons (analyst or admin)"


# --- API ---


@api_router.get("/subscriptions")
def subscriptions_api(session: SessionDep, user: SubscriberUser) -> list[SubscriptionOut]:
    audit.record(session, actor=user.username, action="view_subscriptions")
    return [_out(session, s) for s in list_subscriptions(session)]


@api_router.post("/subscriptions", status_code=status.HTTP_201_CREATED)
def create_subscription_api(
    body: SubscriptionIn, session: SessionDep, settings: SettingsDep, user: SubscriberUser
) -> SubscriptionOut:
    if body.person_ids and not can(user.role, Permission.VIEW_PERSONS):
        raise HTTPException(status.HTTP_403_FORBIDDEN, FOLLOW_PERSONS_REFUSED)
    spec = SubscriptionSpec(**body.model_dump(), mode="digest" if body.digest_times else "immediate")
    try:
        created = create_subscription(
            session,
            spec=spec,
            actor=user.username,
            allow_private_targets=settings.alert_allow_private_targets,
        )
    except SubscriptionError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return _out(session, created, secret=created.webhook_secret)


@api_router.delete("/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_subscription_api(subscription_id: DbId, session: SessionDep, user: SubscriberUser) -> Response:
    try:
        remove_subscription(session, subscription_id=subscription_id, actor=user.username)
    except SubscriptionError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@api_router.get("/alerts")
def alerts_api(
    session: SessionDep,
    user: SubscriberUser,
    status_: Annotated[str | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    return [asdict(a) for a in list_alerts(session, status=status_, limit=limit)]


@api_router.get("/alerts/failures")
def alert_failures_api(session: SessionDep, user: SubscriberUser) -> list[dict[str, Any]]:
    return [asdict(h) for h in failing_channels(session)]


# --- page ---


def _page(request: Request, session: Any, user: Any, *, created: Subscription | None = None) -> Response:
    """The page; ``created`` shows that new webhook subscription's secret, once, in this answer alone."""
    audit.record(session, actor=user.username, action="view_subscriptions")
    officials = session.scalars(select(Official).order_by(Official.organisation, Official.name)).all()
    context = {
        "subscriptions": [_out(session, s) for s in list_subscriptions(session)],
        "official_names": {o.id: o.name for o in officials},
        "may_follow_persons": can(user.role, Permission.VIEW_PERSONS),
        "officials": officials,
        "organisations": sorted({o.organisation for o in officials}),
        "failing": failing_channels(session),
        "alerts": list_alerts(session, limit=30),
        "triggers": TRIGGERS,
        "channels": CHANNELS,
        "labels": ALERT_LABELS,
        "new_secret": (
            {"name": created.name, "secret": created.webhook_secret}
            if created is not None and created.webhook_secret
            else None
        ),
    }
    return render(request, "subscriptions.html", context, user=user)


@router.get("/subscriptions")
def subscriptions_page(request: Request, session: SessionDep, user: SubscriberUser) -> Response:
    return _page(request, session, user)


def _times(value: str) -> list[str]:
    return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]


def _db_id(value: str) -> int:
    number = db_id_or_none(value)
    if number is None:
        raise ValueError(value)
    return number


@router.post("/subscriptions")
async def add_subscription_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: SubscriberUser
) -> Response:
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    try:
        severity = float(text("min_severity") or 0)
        official_ids = [_db_id(v) for v in form.getlist("official_ids") if isinstance(v, str) and v]
        person_ids = [_db_id(v) for v in _times(text("person_ids"))]
    except ValueError:
        flash(request, "error", "subs.failed", reason="min_severity, officials and persons must be numbers")
        return RedirectResponse("/subscriptions", status_code=303)
    if person_ids and not can(user.role, Permission.VIEW_PERSONS):
        flash(request, "error", "subs.failed", reason=FOLLOW_PERSONS_REFUSED)
        return RedirectResponse("/subscriptions", status_code=303)
    digest = _times(text("digest_times"))
    spec = SubscriptionSpec(
        name=text("name"),
        channel=text("channel"),
        target=text("target"),
        subscriber_team=text("subscriber_team") or None,
        subscriber_user=text("subscriber_user") or None,
        official_ids=official_ids,
        person_ids=person_ids,
        organisation=text("organisation") or None,
        trigger=text("trigger") or "both",
        min_severity=severity,
        labels=[v for v in form.getlist("labels") if isinstance(v, str)],
        webhook_secret=text("webhook_secret") or None,
        mode="digest" if digest else "immediate",
        digest_times=digest,
        quiet_start=text("quiet_start") or None,
        quiet_end=text("quiet_end") or None,
    )
    try:
        # In a worker thread: checking a webhook or Apprise host resolves it, which must not stall the loop.
        created = await run_in_threadpool(
            create_subscription,
            session,
            spec=spec,
            actor=user.username,
            allow_private_targets=settings.alert_allow_private_targets,
        )
    except SubscriptionError as exc:
        flash(request, "error", "subs.failed", reason=str(exc))
        return RedirectResponse("/subscriptions", status_code=303)
    if created.channel == "webhook" and spec.webhook_secret is None:
        # Rendered directly (not redirected), like a new API token: the session cookie is signed, not
        # encrypted, so a generated secret must never travel in it. Reloading asks to re-send the form.
        return _page(request, session, user, created=created)
    flash(request, "ok", "subs.added", name=created.name)
    return RedirectResponse("/subscriptions", status_code=303)


@router.post("/subscriptions/{subscription_id}/delete")
def remove_subscription_page(
    request: Request, subscription_id: DbId, session: SessionDep, user: SubscriberUser
) -> Response:
    try:
        remove_subscription(session, subscription_id=subscription_id, actor=user.username)
    except SubscriptionError as exc:
        flash(request, "error", "subs.failed", reason=str(exc))
    else:
        flash(request, "ok", "subs.removed", id=subscription_id)
    return RedirectResponse("/subscriptions", status_code=303)
