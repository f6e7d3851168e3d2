"""Rendering pages: one Jinja2 environment (autoescaping on) and one ``render`` that fills the context.

Every template gets ``user``, ``t`` (the translator), ``lang``, ``csrf_token``, ``can`` (permission
check for showing or hiding links), ``flashes`` and ``P`` (the ``Permission`` enum); it extends
``base.html``, which other routers' templates may extend too (blocks ``title`` and ``content``; forms
need ``<input type="hidden" name="csrf_token" value="{{ csrf_token }}">``). Another area's templates
can live in their own folder: ``templates.env.loader`` is a ChoiceLoader, see ``add_template_dir``.
A page of another area joins the menu with ``add_nav_link`` and its texts with ``add_messages``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape
from starlette.responses import Response

from threatwatch.accounts.access import Permission, can
from threatwatch.db.models import User
from threatwatch.web.highlight import finalize, highlight
from threatwatch.web.i18n import LANG_COOKIE, LANG_PARAM, LANGUAGES, Translator, translator
from threatwatch.web.security import csrf_token
from threatwatch.web.translations import MESSAGES

TEMPLATE_DIR = Path(__file__).parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
templates.env.loader = ChoiceLoader([FileSystemLoader(str(TEMPLATE_DIR))])


@dataclass(frozen=True)
class NavLink:
    path: str
    key: str  # message key of the link text
    permission: Permission


NAV_LINKS: list[NavLink] = []


def add_nav_link(path: str, key: str, permission: Permission) -> None:
    """A menu entry after the built-in ones, shown to roles holding ``permission``."""
    if all(link.path != path for link in NAV_LINKS):
        NAV_LINKS.append(NavLink(path, key, permission))


def add_template_dir(path: Path) -> None:
    """Let ``render`` find another area's templates (they may extend ``base.html``)."""
    loader = templates.env.loader
    assert isinstance(loader, ChoiceLoader)
    if all(getattr(existing, "searchpath", None) != [str(path)] for existing in loader.loaders):
        loader.loaders = [*loader.loaders, FileSystemLoader(str(path))]


def add_messages(messages: dict[str, tuple[str, str]]) -> None:
    """Texts (Dutch, English) of another area; a key that exists already is a programming error."""
    clash = set(messages) & set(MESSAGES)
    if clash - {k for k in clash if MESSAGES[k] == messages[k]}:
        raise ValueError(f"message keys defined twice: {sorted(clash)}")
    MESSAGES.update(messages)


templates.env.filters["highlight"] = highlight
templates.env.finalize = finalize
templates.env.undefined = StrictUndefined  # a missing context value is a bug, not an empty string


def format_when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "–"


def label_badge(t: Translator, label: str) -> Markup:
    """A label as a coloured badge; a Python global, not a Jinja macro: the queue page shows 50 of
    them per view, and a macro call costs about ten times as much."""
    return Markup(f'<span class="label {escape(label)}">{escape(t(f"label.{label}"))}</span>')


def status_badge(t: Translator, status: str) -> Markup:
    return Markup(f'<span class="status {escape(status)}">{escape(t(f"status.{status}"))}</span>')


templates.env.filters["when"] = format_when
templates.env.globals["label_badge"] = label_badge
templates.env.globals["status_badge"] = status_badge


def flash(request: Request, kind: str, key: str, **values: Any) -> None:
    """A message for the next page this browser renders (kept in the signed session cookie)."""
    pending = list(request.session.get("flash", []))
    pending.append({"kind": kind, "key": key, "values": {k: str(v) for k, v in values.items()}})
    request.session["flash"] = pending[-5:]


def _with_lang(request: Request, code: str) -> str:
    url = request.url.include_query_params(**{LANG_PARAM: code})
    return f"{url.path}?{url.query}"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    user: User | None = None,
    status_code: int = 200,
) -> Response:
    t = translator(request)
    flashes = request.session.pop("flash", []) if "flash" in request.session else []
    role = user.role if user is not None else ""
    full = {
        "user": user,
        "t": t,
        "lang": t.lang,
        "languages": LANGUAGES,
        "csrf_token": csrf_token(request),
        "can": lambda permission: can(role, permission),
        "P": Permission,
        "flashes": flashes,
        "path": request.url.path,
        "nav_links": NAV_LINKS,
        "lang_urls": {code: _with_lang(request, code) for code in LANGUAGES},
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, full, status_code=status_code)
    chosen = request.query_params.get(LANG_PARAM)
    if chosen in LANGUAGES:
        secure = bool(getattr(request.app.state.settings, "cookie_secure", False))
        response.set_cookie(
            LANG_COOKIE, str(chosen), max_age=365 * 86400, httponly=True, samesite="lax", secure=secure
        )
    return response
