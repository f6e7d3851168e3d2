"""The REST API end to end on SQLite and PostgreSQL: the same service calls and roles as the pages."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.db.models import AuditEvent, Decision, ReviewItem
from threatwatch.domain import Role

from .seed import HOSTILE, login, make_item, make_official, make_source, make_user

ClientAs = Callable[[Role], tuple[TestClient, str]]


def _h(csrf: str) -> dict[str, str]:
    return {"X-CSRF-Token": csrf}


def test_queue_lists_filters_and_audits(session: Session, client_as: ClientAs) -> None:
    anna, piet = make_official(session), make_official(session, "Piet Jansen")
    feed, forum = make_source(session), make_source(session, "forum")
    a = make_item(session, source=feed, text="Je gaat eraan", officials=(anna,), score=0.95)
    b = make_item(session, source=forum, text="Ik weet waar je kinderen op school zitten", label="doxxing")
    c = make_item(
        session, source=feed, text="Trek het in of anders", label="coercion", officials=(piet,), score=0.8
    )
    session.commit()
    client, _ = client_as(Role.ANALYST)

    body = client.get("/api/v1/queue").json()
    assert [i["id"] for i in body["items"]] == [a.item_id, b.item_id, c.item_id]  # by priority
    assert body["counts"] == {"open": 3}
    assert [i["id"] for i in client.get("/api/v1/queue?label=doxxing").json()["items"]] == [b.item_id]
    assert [i["id"] for i in client.get(f"/api/v1/queue?official_id={piet.id}").json()["items"]] == [
        c.item_id
    ]
    by_source = client.get(f"/api/v1/queue?source_id={forum.id}").json()["items"]
    assert [i["id"] for i in by_source] == [b.item_id]
    assert client.get("/api/v1/queue?status=decided").json()["items"] == []
    assert client.get("/api/v1/queue?limit=1&offset=1").json()["items"][0]["id"] == b.item_id
    assert client.get("/api/v1/queue?limit=0").status_code == 422
    assert client.get("/api/v1/queue?status=bogus").status_code == 422
    session.expire_all()
    views = session.scalars(select(AuditEvent).where(AuditEvent.action == "view_queue")).all()
    assert views[0].actor == "analyst1" and views[0].details["items"] == [a.item_id, b.item_id, c.item_id]


def test_claims_conflict_release_and_claim_next(app: FastAPI, session: Session, client_as: ClientAs) -> None:
    source = make_source(session)
    low = make_item(session, source=source, text="Vuile landverrader", label="abuse", score=0.5)
    high = make_item(session, source=source, text="Ik maak je af", score=0.99)
    make_user(session, Role.ANALYST, "analyst2")
    session.commit()
    first, csrf1 = client_as(Role.ANALYST)
    second = TestClient(app)
    csrf2 = login(second, "analyst2")

    claimed = first.post(f"/api/v1/items/{high.item_id}/claim", headers=_h(csrf1))
    assert claimed.status_code == 200 and claimed.json()["assignee"] == "analyst1"
    conflict = second.post(f"/api/v1/items/{high.item_id}/claim", headers=_h(csrf2))
    assert conflict.status_code == 409 and "detail" in conflict.json()
    # claim-next skips the held item and hands out the next most urgent one
    assert second.post("/api/v1/queue/claim-next", headers=_h(csrf2)).json()["id"] == low.item_id
    assert second.post("/api/v1/queue/claim-next", headers=_h(csrf2)).json() is None
    assert first.post(f"/api/v1/items/{high.item_id}/release", headers=_h(csrf1)).status_code == 204
    assert second.post(f"/api/v1/items/{high.item_id}/claim", headers=_h(csrf2)).status_code == 200
    assert first.post("/api/v1/items/999999/claim", headers=_h(csrf1)).status_code == 404


def test_decide_undo_escalate_and_bulk_dismiss(session: Session, client_as: ClientAs) -> None:
    official = make_official(session)
    source = make_source(session)
    item = make_item(session, source=source, text="We komen je halen", officials=(official,))
    noise = [make_item(session, source=source, text=f"ruis {i}", label="abuse", score=0.4) for i in range(3)]
    session.commit()
    client, csrf = client_as(Role.ANALYST)

    bad = client.post(f"/api/v1/items/{item.item_id}/decide", json={"label": "maybe"}, headers=_h(csrf))
    assert bad.status_code == 422 and "unknown label" in bad.json()["detail"]
    decided = client.post(
        f"/api/v1/items/{item.item_id}/decide", json={"label": "coercion", "note": "dreigt"}, headers=_h(csrf)
    )
    assert decided.status_code == 201, decided.text
    assert decided.json()["corrected"] is True
    again = client.post(f"/api/v1/items/{item.item_id}/decide", json={"label": "threat"}, headers=_h(csrf))
    assert again.status_code == 409
    undo = client.post(f"/api/v1/decisions/{decided.json()['id']}/undo", headers=_h(csrf))
    assert undo.status_code == 204
    assert client.get(f"/api/v1/items/{item.item_id}").json()["status"] == "claimed"

    wrong = client.post(f"/api/v1/items/{item.item_id}/escalate", json={"urgency": "soon"}, headers=_h(csrf))
    assert wrong.status_code == 422
    escalated = client.post(
        f"/api/v1/items/{item.item_id}/escalate",
        json={"urgency": "critical", "label": "threat", "note": "adres genoemd"},
        headers=_h(csrf),
    )
    assert escalated.status_code == 201, escalated.text
    detail = client.get(f"/api/v1/items/{item.item_id}").json()
    assert detail["status"] == "escalated"
    assert [e["urgency"] for e in detail["escalations"]] == ["critical"]
    live = [(d["label"], d["undone_at"] is None) for d in detail["decisions"]]
    assert live == [("coercion", False), ("threat", True)]  # the undone one is kept, marked

    ids = [n.item_id for n in noise] + [item.item_id]
    dismissed = client.post("/api/v1/queue/bulk-dismiss", json={"item_ids": ids}, headers=_h(csrf))
    assert dismissed.json() == {"requested": 4, "dismissed": 3}  # the escalated item is left alone
    session.expire_all()
    labels = session.scalars(select(Decision.label).where(Decision.review_item_id.in_(ids[:3]))).all()
    assert labels == ["none", "none", "none"]
    assert session.get(ReviewItem, item.item_id).status == "escalated"  # type: ignore[union-attr]


def test_evidence_pack_json_and_html(session: Session, client_as: ClientAs) -> None:
    official = make_official(session)
    item = make_item(session, source=make_source(session), text=HOSTILE, officials=(official,))
    session.commit()
    client, _ = client_as(Role.ANALYST)

    pack = client.get(f"/api/v1/items/{item.item_id}/evidence")
    assert pack.status_code == 200
    disposition = pack.headers["content-disposition"]
    assert disposition.startswith(
        f'attachment; filename="bewijs-item-{item.item_id}'
    ) and disposition.endswith('.json"')
    [entry] = pack.json()["items"]
    assert entry["text"] == HOSTILE
    assert entry["text_sha256"] == hashlib.sha256(HOSTILE.encode()).hexdigest()

    html = client.get(f"/api/v1/items/{item.item_id}/evidence?format=html")
    assert html.headers["content-type"].startswith("text/html")
    assert "script-src" not in html.headers["content-security-policy"]
    assert "<script>alert" not in html.text and "&lt;script&gt;" in html.text
    by_official = client.get(f"/api/v1/officials/{official.id}/evidence?since=2000-01-01&until=2999-12-31")
    assert [i["review_item_id"] for i in by_official.json()["items"]] == [item.item_id]
    assert client.get(f"/api/v1/officials/{official.id}/evidence?since=gisteren").status_code == 422
    assert client.get("/api/v1/items/424242/evidence").status_code == 404
    session.expire_all()
    exports = session.scalars(select(AuditEvent.action).where(AuditEvent.actor == "analyst1")).all()
    assert "view_post" not in exports and any("export" in a for a in exports)


def test_reference_data_timeline_sources_models(session: Session, client_as: ClientAs) -> None:
    official = make_official(session)
    make_item(session, source=make_source(session), text="Pas maar op", officials=(official,))
    session.commit()
    admin, _ = client_as(Role.ADMIN)
    timeline = admin.get(f"/api/v1/officials/{official.id}/timeline?days=7").json()
    assert timeline["official"]["name"] == "Anna de Vries"
    assert len(timeline["days"]) == 7 and sum(d["flagged"] for d in timeline["days"]) == 1
    assert admin.get("/api/v1/officials/999/timeline").status_code == 404
    assert admin.get(f"/api/v1/officials/{official.id}/timeline?days=0").status_code == 422
    assert [o["id"] for o in admin.get("/api/v1/officials").json()] == [official.id]
    assert [s["name"] for s in admin.get("/api/v1/sources").json()] == ["regionieuws"]
    models = admin.get("/api/v1/models").json()
    assert models[0]["current"] is True and models[0]["flagged_f1"] > 0.5
    me = admin.get("/api/v1/me").json()
    assert me["role"] == "admin" and "manage_users" in me["permissions"]
    assert admin.get("/api/openapi.json").json()["paths"]["/api/v1/queue"]["get"]
