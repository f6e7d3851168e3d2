"""Bad input over HTTP gets a 4xx, never a 5xx: every route of the app, enumerated from the app itself,
is sent numbers beyond what the database holds, text that is not valid Unicode and oversized bodies, as
an admin (who passes every role check, so the input reaches the handler). Bodies over the cap are refused
before anything parses them, anonymous callers included, and errors never echo the input back."""

from __future__ import annotations

import json
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from threatwatch.domain import Role

from .seed import make_item, make_source
from .test_access import UNSAFE, ClientAs, route_table

HUGE = "9223372036854775808"  # 2**63: one past the largest BIGINT
HUGER = "99999999999999999999"
HOSTILE_IDS = [HUGE, HUGER, "-1", "0", "%ED%A0%80", "1e999"]
HOSTILE_QUERY = (
    f"?offset={HUGE}&limit={HUGER}&official_id={HUGE}&source_id={HUGER}&days={HUGE}"
    "&label=%ED%A0%80&status=%00&since=9999-99-99&next=%ED%A0%80"
)
INT_FIELDS = ("item_ids", "official_id", "official_ids", "days", "limit")
HOSTILE_JSON = [
    json.dumps({name: [int(HUGE)] if name.endswith("s") else int(HUGE) for name in INT_FIELDS}),
    '{"note": "\\ud800", "label": "threat", "urgency": "high", "name": "\\udfff x"}',
    '{"label": "threat", "note": "' + "x" * 20_000 + '"}',
    "[" * 5000 + "]" * 5000,
    '{"item_ids": [1e999]}',
]
HOSTILE_FORMS = [  # raw bodies: an honest client could not even encode some of these
    f"item_ids={HUGE}&official_id={HUGE}&official_ids={HUGER}&label=threat&note=x",
    "note=%ED%A0%80&label=%ED%B0%80&name=%00",
    "min_severity=nan&official_ids=1e999&name=x&channel=webhook&target=x",
    "note=" + "%FF" * 5000,
]


def _path(path: str, value: str) -> str:
    return re.sub(r"\{fmt\}", "json", re.sub(r"\{\w+_id\}", value, path))


def test_no_route_answers_bad_input_with_a_server_error(
    app: FastAPI, client_as: ClientAs, capsys: pytest.CaptureFixture[str]
) -> None:
    admin, csrf = client_as(Role.ADMIN)
    admin_tolerant = TestClient(app, raise_server_exceptions=False, cookies=admin.cookies)
    tried = 0
    server_errors: list[tuple[str, str, int]] = []
    for path, method, *_ in route_table(app):
        if path in ("/logout",):
            continue
        headers = {"X-CSRF-Token": csrf}
        requests: list[tuple[str, dict[str, object]]] = []
        ids = HOSTILE_IDS if "{" in path else ["1"]
        for value in ids:
            url = _path(path, value)
            requests.append((url, {}))
            requests.append((url + HOSTILE_QUERY, {}))
            if method in UNSAFE:
                for body in HOSTILE_JSON:
                    requests.append((url, {"content": body, "headers": {"Content-Type": "application/json"}}))
                for form in HOSTILE_FORMS:
                    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
                    requests.append((url, {"content": f"{form}&csrf_token={csrf}", "headers": form_type}))
        for url, extra in requests:
            extra_headers = {**headers, **extra.pop("headers", {})}  # type: ignore[dict-item]
            response = admin_tolerant.request(
                method,
                url,
                headers=extra_headers,
                follow_redirects=False,
                **extra,  # type: ignore[arg-type]
            )
            tried += 1
            if response.status_code >= 500:
                server_errors.append((method, url[:120], response.status_code))
    with capsys.disabled():
        print(f"\nbad-input requests tried: {tried}, 5xx seen: {len(server_errors)}")
    assert tried > 500
    assert server_errors == []


def test_ids_beyond_the_database_are_a_422_at_the_schema(client_as: ClientAs) -> None:
    admin, csrf = client_as(Role.ADMIN)
    for url in (
        f"/api/v1/items/{HUGE}",
        f"/api/v1/queue?offset={HUGE}",
        f"/api/v1/queue?official_id={HUGER}",
    ):
        response = admin.get(url)
        assert response.status_code == 422, (url, response.text)
        assert response.json()["detail"][0]["type"] == "less_than_equal"
    response = admin.post(
        "/api/v1/queue/bulk-dismiss", json={"item_ids": [int(HUGE)]}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 422
    assert admin.get(f"/items/{HUGE}").status_code == 422  # the page says so too, as an error page


def test_validation_errors_never_echo_the_input(session: object, client_as: ClientAs) -> None:
    admin, csrf = client_as(Role.ADMIN)
    marker = "ECHO-" + "x" * 9000
    response = admin.post(
        "/api/v1/items/1/decide", json={"label": "threat", "note": marker}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 422
    assert "ECHO-" not in response.text and len(response.content) < 2000


def test_a_lone_surrogate_is_refused_with_a_clear_400(client_as: ClientAs, session: object) -> None:
    admin, csrf = client_as(Role.ADMIN)
    response = admin.post(
        "/api/v1/items/1/decide",
        content='{"label": "none", "note": "\\ud800"}',
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "not valid Unicode" in response.json()["detail"]


def test_oversized_bodies_are_refused_unread_anonymous_or_not(app: FastAPI, client_as: ClientAs) -> None:
    anonymous = TestClient(app)
    big = b'{"note": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = anonymous.post(
        "/api/v1/items/1/decide", content=big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413  # before the 401: the body is not read, let alone parsed
    assert len(response.content) < 200
    admin, csrf = client_as(Role.ADMIN)

    def chunks() -> object:
        for _ in range(40):  # streamed without a Content-Length: counted as it arrives
            yield b"x" * 65536

    streamed = admin.post(
        "/api/v1/items/1/decide",
        content=chunks(),  # type: ignore[arg-type]
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413


def test_a_normal_request_still_gets_its_body(session: object, client_as: ClientAs) -> None:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    item = make_item(session, source=make_source(session), text="Je gaat eraan, wethouder.")
    session.commit()
    analyst, csrf = client_as(Role.ANALYST)
    claimed = analyst.post(f"/api/v1/items/{item.item_id}/claim", headers={"X-CSRF-Token": csrf})
    assert claimed.status_code == 200, claimed.text
    decided = analyst.post(
        f"/api/v1/items/{item.item_id}/decide",
        json={"label": "threat", "note": "echt"},
        headers={"X-CSRF-Token": csrf},
    )
    assert decided.status_code in (200, 201), decided.text
