"""`threatwatch users`: local accounts and API tokens."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from threatwatch.cli._common import app, console, fail, open_session
from threatwatch.config import get_settings
from threatwatch.domain import Role

users_app = typer.Typer(help="Local accounts (argon2id passwords, roles) and API tokens.")
token_app = typer.Typer(help="API tokens for scripts.")
app.add_typer(users_app, name="users")
users_app.add_typer(token_app, name="token")


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[Role, typer.Option(help="analyst, support or admin.")] = Role.ANALYST,
    display_name: Annotated[str | None, typer.Option(help="Shown in the app; default: the username.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
) -> None:
    """Add an account; the password is asked for (twice) unless given on stdin."""
    from threatwatch.accounts import AccountError, create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with open_session(get_settings()) as session:
        try:
            with session.begin():
                user = create_user(
                    session, username=username, password=password, role=role, display_name=display_name
                )
        except AccountError as exc:
            raise fail(str(exc)) from exc
    console.print(f"added {user.username} ({user.role})")


@users_app.command("list")
def users_list() -> None:
    """Every account with its role and state."""
    from threatwatch.accounts import list_users

    with open_session(get_settings()) as session:
        users = list_users(session)
    table = Table("username", "name", "role", "active", "last login")
    for u in users:
        last = f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else "-"
        table.add_row(u.username, u.display_name, u.role, "yes" if u.active else "no", last)
    console.print(table)


def _set_active(username: str, active: bool) -> None:
    from threatwatch.accounts import get_user, set_active

    with open_session(get_settings()) as session, session.begin():
        user = get_user(session, username=username)
        if user is None:
            raise fail(f"no user {username!r}")
        set_active(session, user=user, active=active)
    console.print(f"{username} {'activated' if active else 'deactivated'}")


@users_app.command("deactivate")
def users_deactivate(username: str) -> None:
    """Block logins and tokens; decisions and audit rows keep the person's name."""
    _set_active(username, False)


@users_app.command("activate")
def users_activate(username: str) -> None:
    _set_active(username, True)


@token_app.command("create")
def token_create(
    username: str, name: Annotated[str, typer.Option(help="What the token is for.")] = "script"
) -> None:
    """Print a new API token once (send it as 'Authorization: Bearer <token>'); only a hash is kept."""
    from threatwatch.accounts import AccountError, create_api_token, get_user

    with open_session(get_settings()) as session:
        try:
            with session.begin():
                user = get_user(session, username=username)
                if user is None:
                    raise AccountError(f"no user {username!r}")
                token = create_api_token(session, user=user, name=name)
        except AccountError as exc:
            raise fail(str(exc)) from exc
    sys.stdout.write(token + "\n")


@token_app.command("list")
def token_list(username: Annotated[str | None, typer.Argument()] = None) -> None:
    from threatwatch.accounts import get_user, list_api_tokens

    with open_session(get_settings()) as session:
        user = get_user(session, username=username) if username else None
        if username and user is None:
            raise fail(f"no user {username!r}")
        tokens = list_api_tokens(session, user=user)
        rows = [
            (str(t.id), t.user.username, t.name, f"{t.created_at:%Y-%m-%d}", t.revoked_at) for t in tokens
        ]
    table = Table("id", "user", "name", "created", "revoked")
    for token_id, owner, name, created, revoked in rows:
        table.add_row(token_id, owner, name, created, f"{revoked:%Y-%m-%d %H:%M}" if revoked else "-")
    console.print(table)


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    from threatwatch.accounts import AccountError, revoke_api_token

    with open_session(get_settings()) as session:
        try:
            with session.begin():
                revoke_api_token(session, token_id=token_id)
        except AccountError as exc:
            raise fail(str(exc)) from exc
    console.print(f"token {token_id} revoked")
