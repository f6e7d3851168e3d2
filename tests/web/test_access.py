"""Every route of the app refuses anonymous users and users of the wrong role; CSRF guards every form.

The routes are enumerated from the app itself, so a route added later is covered without touching this
file: it must either depend on a role alias from ``web.deps`` or be marked ``Public``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.accounts.access import ROLE_PERMISSIONS, Permission
from threatwatch.db.models import AuditEvent, ReviewItem, User
from threatwatch.domain import Role
from threatwatch.web.deps import allow_anonymous, current_user

from ..conftest import SHIPPED_MODELS
from .seed import CSRF_INPUT, make_item, make_official, make_source

# Routes that are not FastAPI endpoints: the OpenAPI document, our static files and Swagger UI's.
NON_API_ROUTES = {"/api/openapi.json", "/static", "/api/docs/assets"}
# Path parameters other than ``..._id`` (those get 1): a value each route can take.
PATH_VALUES = {
    "fmt": "json",
    "name": (SHIPPED_MODELS / "CURRENT").read_text().strip(),  # a model version (its card's figures)
    "figure": "pr_curves",
}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
ClientAs = Callable[[Role], tuple[TestClient, str]]


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def route_table(app: FastAPI) -> list[tuple[str, str, set[Permission], bool, bool]]:
    """(path, method, permissions required, public?, login required?) for every endpoint."""
    table = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        calls = list(_calls(route.dependant))
        permissions = {c.permission for c in calls if hasattr(c, "permission")}
        for method in sorted(route.methods):
            table.append(
                (str(context.path), method, permissions, allow_anonymous in calls, current_user in calls)
            )
    return table


def concrete(path: str) -> str:
    path = re.sub(r"\{(\w+_id)\}", "1", path)
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)


def _send(client: TestClient, method: str, path: str, csrf: str | None) -> Any:
    headers = {"X-CSRF-Token": csrf} if csrf and method in UNSAFE else {}
    return client.request(method, concrete(path), headers=headers, follow_redirects=False)


def test_every_route_is_public_or_needs_login(app: FastAPI) -> None:
    table = route_table(app)
    assert len(table) > 30
    unguarded = [(path, method) for path, method, _, public, login in table if not public and not login]
    assert unguarded == []
    public = {path for path, _, _, is_public, _ in table if is_public}
    # Health checks (web/routes/health.py) answer orchestrators; /metrics checks its own token.
    assert public == {"/", "/login", "/logout", "/api/docs", "/healthz", "/readyz", "/metrics"}
    others = {
        str(c.path) for c in iter_route_contexts(app.routes) if not isinstance(c.original_route, APIRoute)
    }
    assert others == NON_API_ROUTES


def test_anonymous_is_refused_everywhere(app: FastAPI, users: dict[Role, User]) -> None:
    client = TestClient(app)
    login_page = client.get("/login")
    match = CSRF_INPUT.search(login_page.text)
    assert match
    csrf = match.group(1)  # a valid token of this anonymous session: CSRF is not what refuses them
    checked = 0
    for path, method, _, public, _ in route_table(app):
        if public:
            continue
        response = _send(client, method, path, csrf)
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.headers["www-authenticate"] == "Bearer"
        else:
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login?next="), (method, path)
        checked += 1
    assert checked > 30


def test_wrong_roles_are_refused_everywhere(app: FastAPI, client_as: ClientAs) -> None:
    clients = {role: client_as(role) for role in Role}
    refused = 0
    for path, method, permissions, _, _ in route_table(app):
        for role, (client, csrf) in clients.items():
            if all(p in ROLE_PERMISSIONS[role] for p in permissions):
                continue
            response = _send(client, method, path, csrf)
            assert response.status_code == 403, (role, method, path, response.status_code)
            refused += 1
    assert refused >= 25  # support and analyst are each refused on many routes


def test_every_unsafe_route_needs_the_csrf_token(app: FastAPI, client_as: ClientAs) -> None:
    client, csrf = client_as(Role.ADMIN)
    unsafe = [(path, method) for path, method, *_ in route_table(app) if method in UNSAFE]
    assert len(unsafe) > 10
    for path, method in unsafe:
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            response = client.request(method, concrete(path), headers=headers, follow_redirects=False)
            assert response.status_code == 403, (method, path, headers)
            assert "CSRF" in response.text
    # The token as a form field passes (no item 1: a message on the page, not a CSRF refusal).
    assert client.post("/items/1/claim", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303


def test_a_forged_form_post_changes_nothing(session: Session, client_as: ClientAs) -> None:
    item = make_item(session, source=make_source(session), text="Je gaat eraan, wethouder.")
    session.commit()
    client, _ = client_as(Role.ANALYST)
    response = client.post(f"/items/{item.item_id}/claim", data={"csrf_token": "x"}, follow_redirects=False)
    assert response.status_code == 403
    session.expire_all()
    assert session.get(ReviewItem, item.item_id).status == "open"  # type: ignore[union-attr]


def test_support_sees_only_escalated_items(session: Session, client_as: ClientAs) -> None:
    official = make_official(session)
    item = make_item(
        session, source=make_source(session), text="We weten waar je woont.", officials=(official,)
    )
    session.commit()
    support, _ = client_as(Role.SUPPORT)
    assert support.get(f"/api/v1/items/{item.item_id}").status_code == 403
    assert support.get(f"/items/{item.item_id}").status_code == 403
    assert support.get(f"/api/v1/items/{item.item_id}/evidence").status_code == 403
    refused_views = session.scalars(select(AuditEvent).where(AuditEvent.action == "view_post")).all()
    assert refused_views == []  # a refused look is not recorded as a view

    analyst, csrf = client_as(Role.ANALYST)
    escalated = analyst.post(
        f"/api/v1/items/{item.item_id}/escalate",
        json={"urgency": "high", "label": "doxxing"},
        headers={"X-CSRF-Token": csrf},
    )
    assert escalated.status_code == 201, escalated.text
    assert support.get(f"/api/v1/items/{item.item_id}").json()["status"] == "escalated"
    assert support.get(f"/api/v1/items/{item.item_id}/evidence").status_code == 200
    assert str(item.item_id) in support.get("/escalations").text
    # Whole-official evidence for support holds only the escalated items.
    other = make_item(session, source=make_source(session, "forum"), text="Nog een", officials=(official,))
    session.commit()
    pack = support.get(f"/api/v1/officials/{official.id}/evidence").json()
    assert [i["review_item_id"] for i in pack["items"]] == [item.item_id] != [other.item_id]
    # Nor does the item's API view leak the other, non-escalated post as "related".
    assert support.get(f"/api/v1/items/{item.item_id}").json()["related"] == []
    assert analyst.get(f"/api/v1/items/{item.item_id}").json()["related"] != []


def test_support_closes_an_escalation_it_has_handled(session: Session, client_as: ClientAs) -> None:
    item = make_item(session, source=make_source(session), text="We weten waar je woont.")
    other = make_item(session, source=make_source(session, "forum"), text="Jij bent de volgende.")
    session.commit()
    analyst, analyst_csrf = client_as(Role.ANALYST)
    for escalated in (item, other):
        response = analyst.post(
            f"/api/v1/items/{escalated.item_id}/escalate",
            json={"urgency": "high", "label": "threat"},
            headers={"X-CSRF-Token": analyst_csrf},
        )
        assert response.status_code == 201, response.text
    support, csrf = client_as(Role.SUPPORT)
    page = support.get(f"/items/{item.item_id}")
    assert 'id="close-form"' in page.text and 'id="decide-form"' not in page.text
    assert 'id="close-form"' not in analyst.get(f"/items/{item.item_id}").text  # analysts do not close

    closed = support.post(
        f"/items/{item.item_id}/close",
        data={"csrf_token": csrf, "note": "burgemeester gebeld"},
        follow_redirects=True,
    )
    assert f"Item {item.item_id} afgesloten." in closed.text and 'id="close-form"' not in closed.text
    assert f'data-item-id="{item.item_id}"' not in support.get("/escalations").text
    api = support.post(f"/api/v1/items/{other.item_id}/close", json={}, headers={"X-CSRF-Token": csrf})
    assert api.status_code == 204, api.text
    assert (
        support.get(f"/api/v1/items/{other.item_id}").json()["status"] == "closed"
    )  # still visible to support
    again = support.post(f"/api/v1/items/{other.item_id}/close", headers={"X-CSRF-Token": csrf})
    assert again.status_code == 422 and "is closed" in again.text


def test_api_tokens_authenticate_scripts(app: FastAPI, session: Session, client_as: ClientAs) -> None:
    browser, csrf = client_as(Role.ANALYST)
    page = browser.post("/account/tokens", data={"name": "nightly script", "csrf_token": csrf})
    token = re.search(r'id="new-token">([^<]+)<', page.text)
    assert token, page.text
    script = TestClient(app)
    bearer = {"Authorization": f"Bearer {token.group(1)}"}
    assert script.get("/api/v1/me", headers=bearer).json()["username"] == "analyst1"
    # No CSRF token needed: a bearer header cannot be sent cross-site by a browser.
    assert script.post("/api/v1/queue/claim-next", headers=bearer).status_code == 200
    assert script.get("/api/v1/users", headers=bearer).status_code == 404
    assert script.get("/api/v1/sources", headers=bearer).status_code == 403  # analyst: admin only
    wrong = {"Authorization": "Bearer tw_not-a-token"}
    assert script.get("/api/v1/me", headers=wrong).status_code == 401
    # A bad bearer token is refused even beside a valid session cookie.
    assert browser.get("/api/v1/me", headers=wrong).status_code == 401
    token_id = re.search(r"/account/tokens/(\d+)/revoke", page.text)
    assert token_id
    revoke = browser.post(f"/account/tokens/{token_id.group(1)}/revoke", data={"csrf_token": csrf})
    assert revoke.status_code == 200
    assert script.get("/api/v1/me", headers=bearer).status_code == 401
