"""`threatwatch users`: local accounts, their browser sessions and login throttle, and API tokens.

Changes made here are audited with the actor ``cli:<OS user>`` (as ``threatwatch models`` does).
"""

from __future__ import annotations

import getpass
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from threatwatch.cli._common import app, console, fail, open_session
from threatwatch.config import get_settings
from threatwatch.domain import Role

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from threatwatch.db.models import User

users_app = typer.Typer(help="Local accounts (argon2id passwords, roles) and API tokens.")
token_app = typer.Typer(help="API tokens for scripts.")
app.add_typer(users_app, name="users")
users_app.add_typer(token_app, name="token")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _existing(session: Session, username: str) -> User:
    from threatwatch.accounts import get_user

    user = get_user(session, username=username)
    if user is None:
        raise fail(f"no user {username!r}")
    return user


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[Role, typer.Option(help="analyst, support or admin.")] = Role.ANALYST,
    display_name: Annotated[str | None, typer.Option(help="Shown in the app; default: the username.")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add an account; the password is asked for (twice) unless given on stdin."""
    from threatwatch.accounts import AccountError, create_user

    password = _read_password(password_stdin)
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
    from threatwatch.accounts import set_active

    with open_session(get_settings()) as session, session.begin():
        ended = set_active(session, user=_existing(session, username), active=active, actor=_actor())
    ending = f"; {ended} session(s) ended" if not active else ""
    console.print(f"{username} {'activated' if active else 'deactivated'}{ending}")


@users_app.command("deactivate")
def users_deactivate(username: str) -> None:
    """Block logins and tokens and end every browser session; decisions and audit rows keep the name."""
    _set_active(username, False)


@users_app.command("activate")
def users_activate(username: str) -> None:
    _set_active(username, True)


@users_app.command("password")
def users_password(username: str, password_stdin: PasswordStdin = False) -> None:
    """Set a new password (asked twice unless given on stdin); every browser session of the user ends."""
    from threatwatch.accounts import AccountError, set_password

    password = _read_password(password_stdin)
    with open_session(get_settings()) as session:
        try:
            with session.begin():
                user = _existing(session, username)
                ended = set_password(session, user=user, password=password, actor=_actor())
        except AccountError as exc:
            raise fail(str(exc)) from exc
    console.print(f"password of {username} changed; {ended} session(s) ended")


@users_app.command("sign-out")
def users_sign_out(username: str) -> None:
    """End every browser session of the user at once, on every replica (API tokens stay: revoke those
    with `users token revoke`)."""
    from threatwatch.accounts import sign_out_everywhere

    with open_session(get_settings()) as session, session.begin():
        ended = sign_out_everywhere(session, user=_existing(session, username), actor=_actor())
    console.print(f"{username} signed out everywhere; {ended} session(s) ended")


@users_app.command("unlock")
def users_unlock(username: str) -> None:
    """Lift the failed-login throttle on the user's account: failures so far stop counting against it."""
    from threatwatch.accounts import unlock_login

    with open_session(get_settings()) as session, session.begin():
        unlock_login(session, user=_existing(session, username), actor=_actor())
    console.print(f"logins for {username} unlocked")


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
