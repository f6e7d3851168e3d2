"""Persons of concern in the web app and the API on SQLite and PostgreSQL: every route by role, the list
and the person page, casework through forms and the API with its audit rows, and bad input."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.db.models import AuditEvent, Author, Person, PersonNote
from threatwatch.domain import Role
from threatwatch.web.charts import labels_per_week_svg

from .seed import CSRF_INPUT, HOSTILE, make_official, make_source
from .seed_persons import Authored, authored_item

ClientAs = Callable[[Role], tuple[TestClient, str]]


def _h(csrf: str) -> dict[str, str]:
    return {"X-CSRF-Token": csrf}


def _audit(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
    )


def _two_accounts(session: Session) -> tuple[Authored, Authored]:
    """Two accounts (two persons) writing about one official: ``boos`` on Mastodon, ``b00s`` on Bluesky."""
    anna = make_official(session)
    feed = make_source(session)
    first = authored_item(
        session,
        source=feed,
        handle="@boos@social.example",
        name="Boze Burger",
        text="Je gaat eraan, Anna",
        officials=(anna,),
        days_ago=3,
    )
    second = authored_item(
        session,
        source=make_source(session, "bsky"),
        handle="@b00s.bsky.social",
        platform="bluesky",
        text="Anna, ik weet waar je woont",
        label="doxxing",
        officials=(anna,),
        days_ago=1,
    )
    session.commit()
    return first, second


def _routes(person_id: int, account_id: int, other_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    """Every persons route with valid input for an analyst or admin; link then unlink ``other_id``."""
    note = {"note": "zelfde schrijfstijl en tijdstippen"}
    return [
        ("GET", "/persons", {}),
        ("GET", f"/persons/{person_id}", {}),
        ("POST", f"/persons/{person_id}/status", {"data": {"status": "watching"}}),
        ("POST", f"/persons/{person_id}/notes", {"data": {"text": "Eerste indruk"}}),
        ("POST", f"/persons/{person_id}/link", {"data": {"account": str(other_id), **note}}),
        ("POST", f"/persons/{person_id}/accounts/{other_id}/unlink", {"data": note}),
        ("GET", f"/persons/{person_id}/evidence?format=html", {}),
        ("GET", f"/persons/{person_id}/evidence?format=json", {}),
        ("GET", "/api/v1/persons", {}),
        ("GET", f"/api/v1/persons/{person_id}", {}),
        ("POST", f"/api/v1/persons/{person_id}/status", {"json": {"status": "escalated"}}),
        ("POST", f"/api/v1/persons/{person_id}/notes", {"json": {"text": "Via de API"}}),
        ("POST", f"/api/v1/persons/{person_id}/link", {"json": {"author_id": other_id, **note}}),
        ("POST", f"/api/v1/persons/{person_id}/unlink", {"json": {"author_id": other_id, **note}}),
        ("GET", f"/api/v1/persons/{person_id}/evidence", {}),
    ]


def _template(path: str) -> str:
    path = path.split("?")[0]
    return re.sub(r"/\d+", lambda m: "/{id}", path)


def test_every_persons_route_by_role(app: FastAPI, session: Session, client_as: ClientAs) -> None:
    first, second = _two_accounts(session)
    routes = _routes(first.person_id, first.author_id, second.author_id)
    # The table covers every persons route of the app: a new one must be added here.
    declared = {
        (re.sub(r"\{\w+\}", "{id}", str(c.path)), m)
        for c in iter_route_contexts(app.routes)
        if isinstance(c.original_route, APIRoute) and "/persons" in str(c.path)
        for m in c.original_route.methods
    }
    assert declared == {(_template(path), method) for method, path, _ in routes}

    anonymous = TestClient(app)
    token = CSRF_INPUT.search(anonymous.get("/login").text)
    assert token  # a valid token of this anonymous session: CSRF is not what refuses them
    for method, path, body in routes:
        response = anonymous.request(method, path, headers=_h(token.group(1)), follow_redirects=False, **body)
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path)
        else:
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/login?next="), path

    support, support_csrf = client_as(Role.SUPPORT)
    for method, path, body in routes:
        response = support.request(method, path, headers=_h(support_csrf), follow_redirects=False, **body)
        assert response.status_code == 403, (method, path, response.status_code)
    assert 'href="/persons"' not in support.get("/escalations").text  # no menu entry either

    for role in (Role.ANALYST, Role.ADMIN):
        client, csrf = client_as(role)
        assert 'href="/persons"' in client.get("/queue").text
        for method, path, body in routes:
            response = client.request(method, path, headers=_h(csrf), follow_redirects=False, **body)
            if not path.startswith("/api/"):
                expected = 303 if method == "POST" else 200
            else:
                expected = 201 if path.endswith("/notes") else 200
            assert response.status_code == expected, (
                role,
                method,
                path,
                response.status_code,
                response.text[:300],
            )
            if response.status_code == 303:
                assert response.headers["location"] == f"/persons/{first.person_id}"
                flashed = client.get(response.headers["location"]).text
                assert "Niet gelukt" not in flashed, (role, path)
    session.expire_all()
    # Each role linked and unlinked the Bluesky account twice (web, API): four of each, all audited.
    assert len(_audit(session, "person.link")) == 4 and len(_audit(session, "person.unlink")) == 4
    assert {e.actor for e in _audit(session, "person.view")} == {"analyst1", "admin1"}
    assert len(_audit(session, "evidence.person_export")) == 6


def test_the_person_page_and_the_item_link(session: Session, client_as: ClientAs) -> None:
    anna, piet = make_official(session), make_official(session, "Piet Jansen")
    feed = make_source(session)
    posts = [
        authored_item(
            session,
            source=feed,
            handle="@boos@social.example",
            name=name,
            text=text,
            label=label,
            officials=officials,
            days_ago=days,
        )
        for name, text, label, officials, days in (
            ("Boze Burger", "Anna is een sukkel", "abuse", (anna,), 20),
            ("Boze Burger", "Anna, wij weten je te vinden", "threat", (anna,), 9),
            ("B. Burger", HOSTILE, "threat", (anna, piet), 2),
        )
    ]
    session.commit()
    person_id = posts[0].person_id
    analyst, csrf = client_as(Role.ANALYST)

    page = analyst.get(f"/persons/{person_id}")
    assert page.status_code == 200
    text = page.text
    assert "@boos@social.example" in text and "Boze Burger" in text and "B. Burger" in text
    # The timeline is newest first, each post linked to its review item.
    order = [int(m) for m in re.findall(r'class="post-entry" data-post-id="(\d+)"', text)]
    assert order == [p.post_id for p in reversed(posts)]
    for p in posts:
        assert f'href="/items/{p.item_id}"' in text
    # Signals with the posts that raised them: three posts, all about Anna (fixation).
    assert 'data-signal="fixation"' in text
    fixation = re.search(r'data-signal="fixation">(.*?)</li>', text, re.S)
    assert fixation and all(f"#post-{p.post_id}" in fixation.group(1) for p in posts)
    # Counts per label and per official, and the chart of labels per week.
    assert re.search(r'bedreiging</span></th><td class="num">2<', text)
    assert re.search(r'Anna de Vries</a></td><td class="num">3</td><td class="num">2<', text)
    assert text.count('class="week ') == 3 and 'data-label="threat"' in text
    assert f'href="/persons/{person_id}/evidence?format=html"' in text
    # Hostile text stays text, and the page holds no inline style (CSP).
    assert "<script>alert" not in text and "&lt;script&gt;" in text and " style=" not in text
    assert [e.object_id for e in _audit(session, "person.view")] == [str(person_id)]

    english = analyst.get(f"/persons/{person_id}?lang=en").text
    assert "Posts per week, by label" in english and "fixation" in english

    # From the item to its author's person.
    item = analyst.get(f"/items/{posts[0].item_id}").text
    assert f'<a href="/persons/{person_id}" id="person-link">' in item
    api = analyst.get(f"/api/v1/persons/{person_id}").json()
    assert [a["handle"] for a in api["accounts"]] == ["@boos@social.example"]
    assert [n["name"] for n in api["accounts"][0]["names"]] == ["Boze Burger", "B. Burger"]
    assert [e["post_id"] for e in api["timeline"]] == order
    assert api["label_counts"]["threat"] == 2 and api["officials"][0]["posts"] == 3
    assert sum(sum(w["counts"].values()) for w in api["weeks"]) == 3
    assert {s["name"] for s in api["signals"]} >= {"fixation"}

    # Support reaches the author only through an escalated item, and gets no link to the person.
    escalated = analyst.post(
        f"/api/v1/items/{posts[1].item_id}/escalate",
        json={"urgency": "high", "label": "threat"},
        headers=_h(csrf),
    )
    assert escalated.status_code == 201, escalated.text
    support, _ = client_as(Role.SUPPORT)
    seen = support.get(f"/items/{posts[1].item_id}")
    assert seen.status_code == 200
    assert 'id="person-link"' not in seen.text and "/persons/" not in seen.text


def test_the_list_sorts_filters_and_pages(session: Session, client_as: ClientAs) -> None:
    anna, piet = make_official(session), make_official(session, "Piet Jansen")
    feed = make_source(session)
    fixated = [
        authored_item(
            session,
            source=feed,
            handle="@vast@x.example",
            text=f"Anna {i} je bent gewaarschuwd",
            officials=(anna,),
            days_ago=10 - i,
        )
        for i in range(3)
    ]
    recent = authored_item(
        session, source=feed, handle="@nieuw@x.example", text="Piet pas op", officials=(piet,)
    )
    calm = authored_item(
        session,
        source=feed,
        handle="@rustig@x.example",
        text="Piet doet goed werk",
        label="none",
        officials=(piet,),
    )
    session.commit()
    analyst, csrf = client_as(Role.ANALYST)

    def listed(query: str) -> list[int]:
        return [int(m) for m in re.findall(r'data-person-id="(\d+)"', analyst.get(f"/persons{query}").text)]

    person, other, quiet = fixated[0].person_id, recent.person_id, calm.person_id
    assert listed("") == [person, other]  # highest concern first; without flagged posts: not listed
    assert listed("?sort=recent") == [other, person]
    assert listed("?sort=posts") == [person, other]
    assert listed(f"?official_id={piet.id}") == [other]
    assert listed(f"?official_id={piet.id}&everyone=1") == [other, quiet]
    assert listed("?signal=fixation") == [person]
    assert listed("?status=watching") == []
    analyst.post(f"/api/v1/persons/{person}/status", json={"status": "watching"}, headers=_h(csrf))
    assert listed("?status=watching") == [person]
    # Filters that do not parse are ignored, not errors.
    assert listed("?sort=x&signal=nope&status=bogus&official_id=abc") == [person, other]
    page = analyst.get("/persons").text
    assert "@vast@x.example (mastodon)" in page and "fixatie" in page and "in de gaten houden" in page

    api = analyst.get("/api/v1/persons?sort=recent&limit=1").json()
    assert api["total"] == 2 and [p["id"] for p in api["persons"]] == [other]
    assert [
        p["id"] for p in analyst.get("/api/v1/persons?limit=1&offset=1&sort=recent").json()["persons"]
    ] == [person]
    assert analyst.get("/api/v1/persons?everyone=true").json()["total"] == 3
    assert analyst.get("/api/v1/persons?signal=nope").status_code == 422
    assert analyst.get("/api/v1/persons?sort=nope").status_code == 422
    assert analyst.get("/api/v1/persons?status=nope").status_code == 422
    assert analyst.get("/api/v1/persons?limit=0").status_code == 422
    lists = _audit(session, "person.list")
    assert lists and lists[0].actor == "analyst1" and lists[0].details["shown"] == [person, other]


def test_linking_and_unlinking_through_forms_and_the_api(session: Session, client_as: ClientAs) -> None:
    first, second = _two_accounts(session)
    analyst, csrf = client_as(Role.ANALYST)
    page = f"/persons/{first.person_id}"

    # Link by platform and handle, as the other person's page shows them.
    linked = analyst.post(
        f"{page}/link",
        data={
            "csrf_token": csrf,
            "platform": "bluesky",
            "handle": "@b00s.bsky.social",
            "note": "zelfde foto",
        },
        follow_redirects=True,
    )
    assert "@b00s.bsky.social (bluesky) gekoppeld aan persoon" in linked.text
    assert f'data-post-id="{second.post_id}"' in linked.text  # the second account's posts show
    assert "zelfde foto" in linked.text  # the note, in the notes and the history
    session.expire_all()
    assert session.get(Person, second.person_id) is None  # merged: it had no other account
    link = _audit(session, "person.link")[-1]
    assert link.actor == "analyst1" and link.object_id == str(first.person_id)
    assert link.details["author_id"] == second.author_id and link.details["merged"] is True
    assert link.details["note"] == "zelfde foto" and link.details["from_person"] == second.person_id

    # Unlink through the form: the account becomes a person of its own again.
    unlinked = analyst.post(
        f"{page}/accounts/{second.author_id}/unlink",
        data={"csrf_token": csrf, "note": "toch iemand anders"},
        follow_redirects=True,
    )
    assert "ontkoppeld; het is nu persoon" in unlinked.text
    assert f'data-post-id="{second.post_id}"' not in unlinked.text
    session.expire_all()
    moved = session.get(Author, second.author_id)
    assert moved is not None and moved.person_id != first.person_id
    unlink = _audit(session, "person.unlink")[-1]
    assert unlink.details == {
        "author_id": second.author_id,
        "account": "@b00s.bsky.social (bluesky)",
        "to_person": moved.person_id,
        "note": "toch iemand anders",
    }

    # The same through the API, by account number.
    api_link = analyst.post(
        f"/api/v1/persons/{first.person_id}/link",
        json={"author_id": second.author_id, "note": "toch wel"},
        headers=_h(csrf),
    )
    assert api_link.status_code == 200, api_link.text
    assert api_link.json() == {
        "person_id": first.person_id,
        "author_id": second.author_id,
        "account": "@b00s.bsky.social (bluesky)",
        "from_person": moved.person_id,
        "merged": True,
    }
    body = analyst.get(f"/api/v1/persons/{first.person_id}").json()
    assert {a["id"] for a in body["accounts"]} == {first.author_id, second.author_id}
    assert [h["action"] for h in body["history"]][:3] == ["person.link", "person.unlink", "person.link"]
    api_unlink = analyst.post(
        f"/api/v1/persons/{first.person_id}/unlink",
        json={"author_id": second.author_id, "note": "definitief niet"},
        headers=_h(csrf),
    )
    assert api_unlink.status_code == 200, api_unlink.text
    assert api_unlink.json()["new_person_id"] != first.person_id
    assert len(_audit(session, "person.link")) == 2 and len(_audit(session, "person.unlink")) == 2

    # Status and notes, audited and shown in the history.
    analyst.post(f"{page}/status", data={"csrf_token": csrf, "status": "escalated"})
    analyst.post(f"{page}/notes", data={"csrf_token": csrf, "text": "Politie ingelicht"})
    shown = analyst.get(f"{page}?lang=en").text
    assert 'id="person-status">escalated' in shown and "Politie ingelicht" in shown
    assert "changed the status" in shown and "not assessed → escalated" in shown
    assert _audit(session, "person.status")[-1].details == {"from": None, "to": "escalated"}
    note = _audit(session, "person.note")[-1]
    assert note.actor == "analyst1" and note.object_id == str(first.person_id)
    cleared = analyst.post(
        f"/api/v1/persons/{first.person_id}/status", json={"status": None}, headers=_h(csrf)
    )
    assert cleared.json() == {"id": first.person_id, "status": None}
    created = analyst.post(f"/api/v1/persons/{first.person_id}/notes", json={"text": "x"}, headers=_h(csrf))
    assert created.status_code == 201 and created.json()["author"] == "analyst1"


def test_bad_input_is_refused_clearly(session: Session, client_as: ClientAs) -> None:
    first, second = _two_accounts(session)
    admin, csrf = client_as(Role.ADMIN)
    page = f"/persons/{first.person_id}"
    missing = 999_999

    assert admin.get(f"/persons/{missing}").status_code == 404
    assert admin.get(f"/api/v1/persons/{missing}").status_code == 404
    assert admin.get(f"/persons/{missing}/evidence").status_code == 404
    assert admin.get(f"/api/v1/persons/{missing}/evidence").status_code == 404
    assert admin.get("/persons/9223372036854775808").status_code == 422
    assert admin.get(f"{page}/evidence?format=pdf").status_code == 422

    def refused(path: str, data: dict[str, str]) -> str:
        response = admin.post(path, data={"csrf_token": csrf, **data}, follow_redirects=False)
        assert response.status_code == 303, (path, response.status_code)
        return admin.get(response.headers["location"]).text

    assert "Niet gelukt: unknown status" in refused(f"{page}/status", {"status": "dangerous"})
    assert "Niet gelukt: a note is required" in refused(f"{page}/notes", {"text": "   "})
    assert "Niet gelukt: a note is required" in refused(f"{page}/link", {"account": str(second.author_id)})
    assert "Niet gelukt: name the account" in refused(f"{page}/link", {"note": "waarom"})
    assert "Niet gelukt: no account 999999" in refused(f"{page}/link", {"account": "999999", "note": "x"})
    assert "Niet gelukt: not an account number" in refused(f"{page}/link", {"account": "abc", "note": "x"})
    assert "Niet gelukt: no account" in refused(
        f"{page}/link", {"platform": "bluesky", "handle": "@niemand", "note": "x"}
    )
    assert "belongs to person" in refused(f"{page}/link", {"account": str(first.author_id), "note": "x"})
    assert "only account" in refused(f"{page}/accounts/{first.author_id}/unlink", {"note": "x"})
    assert "is not one of person" in refused(f"{page}/accounts/{second.author_id}/unlink", {"note": "x"})
    unknown = admin.post(
        f"/persons/{missing}/notes", data={"csrf_token": csrf, "text": "x"}, follow_redirects=True
    )
    assert unknown.status_code == 404 and f"no person {missing}" in unknown.text

    api = f"/api/v1/persons/{first.person_id}"
    assert admin.post(f"{api}/status", json={"status": "dangerous"}, headers=_h(csrf)).status_code == 422
    assert admin.post(f"{api}/notes", json={"text": ""}, headers=_h(csrf)).status_code == 422
    assert admin.post(f"{api}/notes", json={"text": "  "}, headers=_h(csrf)).status_code == 422
    assert (
        admin.post(f"{api}/link", json={"author_id": second.author_id}, headers=_h(csrf)).status_code == 422
    )
    no_account = admin.post(f"{api}/link", json={"author_id": missing, "note": "x"}, headers=_h(csrf))
    assert no_account.status_code == 404
    only = admin.post(f"{api}/unlink", json={"author_id": first.author_id, "note": "x"}, headers=_h(csrf))
    assert only.status_code == 422 and "only account" in only.json()["detail"]
    assert (
        admin.post(f"/api/v1/persons/{missing}/status", json={"status": None}, headers=_h(csrf)).status_code
        == 404
    )
    # Nothing changed by any of it.
    session.expire_all()
    assert session.scalars(select(PersonNote)).all() == []
    assert _audit(session, "person.link") == [] and _audit(session, "person.status") == []
    assert session.get(Person, second.person_id) is not None


def test_the_weekly_chart_fills_empty_weeks_and_stacks_labels() -> None:
    monday = date(2026, 3, 2)
    weeks = [(monday, {"threat": 2, "abuse": 1}), (monday + timedelta(weeks=3), {"none": 1})]
    svg = str(
        labels_per_week_svg(weeks, title="<Berichten>", label_names={"threat": "bedreiging", "abuse": "a<b"})
    )
    assert svg.startswith('<svg class="chart weeks"') and "&lt;Berichten&gt;" in svg and "a&lt;b" in svg
    bars = re.findall(r'class="week (\w+)" x="([\d.]+)" y="([\d.]+)"', svg)
    assert [b[0] for b in bars] == ["threat", "abuse"]  # "none" is not among the labels drawn
    assert float(bars[0][2]) > float(bars[1][2])  # the first label at the bottom, the next above it
    assert svg.count("02-03-26") == 1 and "23-03-26" in svg  # four weeks on the axis: the gap is time
    assert labels_per_week_svg([], title="x", label_names={}).count("<rect") == 0
