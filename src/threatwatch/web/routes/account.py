"""Logging in and out, one's own account and API tokens, and the users admin page.

Every login attempt, good or bad, is audited through ``accounts.record_login``; too many failures for a
username from one address, from one address for any usernames, or (for addresses that already failed on
it) for one username from everywhere get 429 with ``Retry-After`` (``accounts.throttle``), and that
refusal is audited too. Passwords are checked by the login form and by the password change on the
account page (which asks for the current one, counted and throttled like a login); API callers send
tokens (32 random bytes, nothing to guess), not passwords.

A login is a server-side session (``accounts.sessions``): logout ends it, a password change ends all of
the person's sessions (this browser gets a fresh one), and on the users page an admin can sign a person
out everywhere and lift a login throttle on their account.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from threatwatch import accounts, audit
from threatwatch.db.models import ApiToken, User
from threatwatch.domain import Role
from threatwatch.web.common import home_path, safe_next
from threatwatch.web.deps import (
    AccountUser,
    AdminUser,
    OptionalUser,
    Public,
    SessionDep,
    SettingsDep,
    end_login,
    start_login,
)
from threatwatch.web.rendering import flash, render
from threatwatch.web.schemas import DbId

router = APIRouter(include_in_schema=False)


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/", dependencies=[Public])
def home(user: OptionalUser) -> Response:
    return _see_other(home_path(user.role) if user is not None else "/login")


@router.get("/login", dependencies=[Public])
def login_page(request: Request, user: OptionalUser, next: Annotated[str | None, Query()] = None) -> Response:
    if user is not None:
        return _see_other(safe_next(next, home_path(user.role)))
    context: dict[str, Any] = {"next": safe_next(next, ""), "username": "", "error": None, "error_values": {}}
    return render(request, "login.html", context)


@router.post("/login", dependencies=[Public])
def login_action(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=2000)],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    remote = request.client.host if request.client else None
    context: dict[str, Any] = {"next": safe_next(next, ""), "username": username, "error_values": {}}
    throttled = accounts.login_throttle(session, username=username, remote=remote, settings=settings)
    if throttled is not None:
        accounts.record_throttled(session, username=username, remote=remote, throttled=throttled)
        minutes = math.ceil(throttled.retry_after_s / 60)
        context.update(error="login.throttled", error_values={"minutes": minutes})
        response = render(request, "login.html", context, status_code=status.HTTP_429_TOO_MANY_REQUESTS)
        response.headers["Retry-After"] = str(throttled.retry_after_s)
        return response
    user = accounts.authenticate(session, username=username, password=password)
    accounts.record_login(session, user=user, success=user is not None, remote=remote, username=username)
    if user is None:
        context["error"] = "login.failed"
        return render(request, "login.html", context, status_code=status.HTTP_401_UNAUTHORIZED)
    start_login(request, session, user, settings)
    return _see_other(safe_next(next, home_path(user.role)))


@router.post("/logout", dependencies=[Public])
def logout_action(request: Request, session: SessionDep) -> Response:
    end_login(request, session)
    flash(request, "ok", "login.logged_out")
    return _see_other("/login")


def _account_page(
    request: Request, session: SessionDep, user: User, new_token: str | None = None
) -> Response:
    tokens = accounts.list_api_tokens(session, user=user)
    context = {"tokens": tokens, "new_token": new_token, "min_password": accounts.MIN_PASSWORD_LENGTH}
    return render(request, "account.html", context, user=user)


@router.get("/account")
def account_page(request: Request, session: SessionDep, user: AccountUser) -> Response:
    return _account_page(request, session, user)


@router.post("/account/tokens")
def create_token_action(
    request: Request, session: SessionDep, user: AccountUser, name: Annotated[str, Form()]
) -> Response:
    """Rendered directly (not redirected): the plaintext token must never travel in a cookie."""
    token = accounts.create_api_token(session, user=user, name=name)
    audit.record(session, actor=user.username, action="create_api_token", details={"name": name})
    return _account_page(request, session, user, new_token=token)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token_action(request: Request, session: SessionDep, user: AccountUser, token_id: DbId) -> Response:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such token of yours")
    accounts.revoke_api_token(session, token_id=token_id)
    audit.record(
        session, actor=user.username, action="revoke_api_token", object_type="api_token", object_id=token_id
    )
    flash(request, "ok", "account.token_revoked")
    return _see_other("/account")


@router.post("/account/password")
def change_password_action(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: AccountUser,
    current_password: Annotated[str, Form(max_length=2000)],
    new_password: Annotated[str, Form(max_length=2000)],
) -> Response:
    """Change one's own password: the current one is asked again (a borrowed, unlocked screen is not
    enough) and counts as a login attempt, throttled and audited like one. Every session of the account
    ends, this one included; this browser then gets a fresh session, the others are signed out."""
    remote = request.client.host if request.client else None
    throttled = accounts.login_throttle(session, username=user.username, remote=remote, settings=settings)
    if throttled is not None:
        accounts.record_throttled(session, username=user.username, remote=remote, throttled=throttled)
        flash(request, "error", "login.throttled", minutes=math.ceil(throttled.retry_after_s / 60))
        return _see_other("/account")
    if not accounts.password_matches(user, current_password):
        # Not raised: the failure must be committed to count against guessing.
        accounts.record_login(session, user=user, success=False, remote=remote)
        flash(request, "error", "account.password_wrong")
        return _see_other("/account")
    ended = accounts.set_password(session, user=user, password=new_password, actor=user.username)
    start_login(request, session, user, settings)
    flash(request, "ok", "account.password_changed", count=max(ended - 1, 0))
    return _see_other("/account")


@router.get("/users")
def users_page(request: Request, session: SessionDep, user: AdminUser) -> Response:
    context = {
        "users": accounts.list_users(session),
        "live_sessions": accounts.live_session_counts(session),
        "roles": [r.value for r in Role],
        "min_password": accounts.MIN_PASSWORD_LENGTH,
    }
    return render(request, "users.html", context, user=user)


@router.post("/users")
def create_user_action(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    username: Annotated[str, Form()],
    role: Annotated[str, Form()],
    password: Annotated[str, Form()],
    display_name: Annotated[str | None, Form()] = None,
) -> Response:
    created = accounts.create_user(
        session, username=username, password=password, role=role, display_name=display_name or None
    )
    audit.record(
        session,
        actor=user.username,
        action="create_user",
        object_type="user",
        object_id=created.id,
        details={"username": created.username, "role": created.role},
    )
    flash(request, "ok", "users.added", name=created.username)
    return _see_other("/users")


def _target(session: Session, user_id: int) -> User:
    target = session.get(User, user_id)
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {user_id}")
    return target


@router.post("/users/{user_id}/active")
def set_active_action(
    request: Request, session: SessionDep, user: AdminUser, user_id: DbId, active: Annotated[str, Form()]
) -> Response:
    target = _target(session, user_id)
    if target.id == user.id:
        raise HTTPException(status.HTTP_409_CONFLICT, "you cannot deactivate yourself")
    accounts.set_active(session, user=target, active=active == "true", actor=user.username)
    flash(request, "ok", "users.changed", name=target.username)
    return _see_other("/users")


@router.post("/users/{user_id}/sign-out")
def sign_out_user_action(request: Request, session: SessionDep, user: AdminUser, user_id: DbId) -> Response:
    """End every browser session of a user at once (audited: who signed out whom). Signing oneself out
    everywhere is allowed (a lost laptop) and ends this session too."""
    target = _target(session, user_id)
    ended = accounts.sign_out_everywhere(session, user=target, actor=user.username)
    if target.id == user.id:
        request.session.clear()
        flash(request, "ok", "login.logged_out")
        return _see_other("/login")
    flash(request, "ok", "users.signed_out", name=target.username, count=ended)
    return _see_other("/users")


@router.post("/users/{user_id}/unlock")
def unlock_user_action(request: Request, session: SessionDep, user: AdminUser, user_id: DbId) -> Response:
    """Lift the login throttle on a user's account (audited)."""
    target = _target(session, user_id)
    accounts.unlock_login(session, user=target, actor=user.username)
    flash(request, "ok", "users.unlocked", name=target.username)
    return _see_other("/users")
