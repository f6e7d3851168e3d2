"""FastAPI dependencies: settings, a database session per request, the signed-in user and role checks.

For other routers (``web/routes/subscriptions.py``, ``web/routes/health.py``, ...) the names to reuse are:

- ``SettingsDep``, ``SessionDep``: the app's settings and a session whose transaction commits when the
  request succeeds and rolls back when it raises.
- ``CurrentUser``: any signed-in user (cookie session or ``Authorization: Bearer`` API token).
- ``AnalystUser`` (review work), ``ReaderUser`` (official pages), ``EvidenceUser``, ``EscalationsUser``,
  ``SubscriberUser`` (alert subscriptions: support, admin), ``PersonsUser`` / ``PersonsEditor`` (persons
  of concern: read; status, notes, linking: analyst, admin), ``ModelAdminUser`` (promote/roll back
  models: admin), ``AdminUser`` (users): users holding that permission; or
  ``Annotated[User, Depends(require(Permission.X))]`` with a permission from ``accounts.access``.
- ``Public``: put ``dependencies=[Public]`` on a route that must answer without login (health checks);
  the route-enumeration test refuses any other route that lets an anonymous user in.

Anonymous requests get 401 (API) or a 303 to ``/login`` (pages); a wrong role gets 403. CSRF is checked
app-wide in ``security.verify_csrf``; pages render through ``rendering.render``.

Dependencies that neither block nor touch the database are ``async def``: FastAPI runs a plain ``def``
dependency in its thread pool, and a thread hop per dependency is a measurable share of a short request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from threatwatch import accounts
from threatwatch.accounts.access import Permission, can
from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory
from threatwatch.db.models import User
from threatwatch.review.queue import QueueCounts
from threatwatch.web.security import bearer_token


class NotAuthenticatedError(Exception):
    """Raised by the user dependencies; the app turns it into 401 (API) or a redirect to login (pages)."""


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_queue_counts(request: Request) -> QueueCounts:
    counts: QueueCounts = request.app.state.queue_counts
    return counts


# The app's shared queue counts (review.QueueCounts): one per app, not per process.
QueueCountsDep = Annotated[QueueCounts, Depends(get_queue_counts)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    with session_factory(engine_for(settings.database_url))() as session, session.begin():
        yield session


# scope="function": the transaction commits when the endpoint returns, before the response leaves. With
# the default scope FastAPI would commit after sending it, and a browser following the redirect of a
# form could read the page before the change it just made.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


SESSION_KEY = "sid"  # the cookie's field holding the server-side session id (``accounts.sessions``)


def start_login(request: Request, session: Session, user: User, settings: Settings) -> None:
    """A fresh browser session for ``user``: a new server-side session row (the one this browser held
    before, if any, ends) and a cleared cookie (new CSRF token, no fixation) that names only its id."""
    previous = request.session.get(SESSION_KEY)
    session_id = accounts.start_session(
        session,
        user=user,
        max_age_s=settings.session_max_age_s,
        remote=request.client.host if request.client else None,
        replaces=previous if isinstance(previous, str) else None,
    )
    request.session.clear()
    request.session[SESSION_KEY] = session_id


def end_login(request: Request, session: Session) -> User | None:
    """Log this browser out: its server-side session ends (audited) and the cookie is emptied; returns
    whose session it was (None when it had none, or it had already ended)."""
    session_id = request.session.get(SESSION_KEY)
    user = accounts.end_session(session, session_id=session_id) if isinstance(session_id, str) else None
    request.session.clear()
    return user


# Declares the bearer scheme in OpenAPI (the docs page gets an "Authorize" button); checked below.
bearer_scheme = HTTPBearer(auto_error=False, description="An API token from the account page.")


def optional_user(
    request: Request,
    session: SessionDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> User | None:
    """The caller: by bearer token when one is sent (cookies then ignored), else by the session cookie,
    whose session must still be live in the database (``accounts.sessions``)."""
    token = bearer_token(request)
    if token is not None:
        user = accounts.user_for_api_token(session, token=token)
        return user if user is not None and user.active else None
    session_id = request.session.get(SESSION_KEY)
    if not isinstance(session_id, str):
        return None
    # Ended (logout, password change, deactivation, "sign out everywhere") or expired: the row says so.
    user = accounts.user_for_session(session, session_id=session_id)
    if user is None:
        request.session.clear()
    return user


OptionalUser = Annotated[User | None, Depends(optional_user)]


async def current_user(user: OptionalUser) -> User:
    if user is None:
        raise NotAuthenticatedError
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(permission: Permission) -> Callable[[User], Awaitable[User]]:
    """A dependency that lets through only users whose role holds ``permission`` (see ``access``)."""

    async def dependency(user: CurrentUser) -> User:
        if not can(user.role, permission):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"your role may not {permission.value}")
        return user

    dependency.permission = permission  # type: ignore[attr-defined]  # read by the route-access test
    dependency.__name__ = f"require_{permission.value}"
    return dependency


async def allow_anonymous() -> None:
    """Marks a route as deliberately open to anonymous callers."""


Public: Any = Depends(allow_anonymous)

QueueUser = Annotated[User, Depends(require(Permission.VIEW_QUEUE))]
AnalystUser = Annotated[User, Depends(require(Permission.REVIEW))]
ItemReader = Annotated[User, Depends(require(Permission.VIEW_ITEM))]
EscalationsUser = Annotated[User, Depends(require(Permission.VIEW_ESCALATIONS))]
CloserUser = Annotated[User, Depends(require(Permission.CLOSE_ESCALATIONS))]
EvidenceUser = Annotated[User, Depends(require(Permission.EXPORT_EVIDENCE))]
ReaderUser = Annotated[User, Depends(require(Permission.VIEW_OFFICIALS))]
SourcesUser = Annotated[User, Depends(require(Permission.VIEW_SOURCES))]
ModelsUser = Annotated[User, Depends(require(Permission.VIEW_MODELS))]
ModelAdminUser = Annotated[User, Depends(require(Permission.MANAGE_MODELS))]
PersonsUser = Annotated[User, Depends(require(Permission.VIEW_PERSONS))]
PersonsEditor = Annotated[User, Depends(require(Permission.MANAGE_PERSONS))]
SubscriberUser = Annotated[User, Depends(require(Permission.MANAGE_SUBSCRIPTIONS))]
AdminUser = Annotated[User, Depends(require(Permission.MANAGE_USERS))]
AccountUser = Annotated[User, Depends(require(Permission.OWN_ACCOUNT))]
