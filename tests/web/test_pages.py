"""Server-rendered pages: login and sessions, the analyst flow through forms, escaping, languages,
security headers."""

from __future__ import annotations

import re
import stat
from collections.abc import Callable
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.config import Settings
from threatwatch.db.models import AuditEvent, Post, ReviewItem, User, UserSession
from threatwatch.domain import Role
from threatwatch.web import create_app
from threatwatch.web.security import SECRET_FILE, SESSION_COOKIE

from .seed import CSRF_INPUT, HOSTILE, PASSWORD, login, make_item, make_official, make_source

ClientAs = Callable[[Role], tuple[TestClient, str]]


def _login_form(client: TestClient, username: str, password: str, next_: str = "") -> object:
    match = CSRF_INPUT.search(client.get("/login").text)
    assert match
    data = {"username": username, "password": password, "csrf_token": match.group(1), "next": next_}
    return client.post("/login", data=data, follow_redirects=False)


def test_login_logout_and_audit(app: FastAPI, session: Session, users: dict[Role, User]) -> None:
    client = TestClient(app)
    assert client.get("/queue", follow_redirects=False).headers["location"] == "/login?next=/queue"
    bad = _login_form(client, "analyst1", "wrong password!")
    assert bad.status_code == 401  # type: ignore[attr-defined]
    assert "Onbekende gebruikersnaam of verkeerd wachtwoord." in bad.text  # type: ignore[attr-defined]
    unknown = _login_form(client, "nobody", PASSWORD)
    assert unknown.status_code == 401  # type: ignore[attr-defined]
    good = _login_form(client, "analyst1", PASSWORD, next_="//evil.example/steal")
    assert good.headers["location"] == "/queue"  # type: ignore[attr-defined]  # open redirect refused
    cookie = good.headers["set-cookie"]  # type: ignore[attr-defined]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "httponly" in cookie and "samesite=lax" in cookie
    assert client.get("/queue").status_code == 200
    session.expire_all()
    events = session.execute(select(AuditEvent.action, AuditEvent.actor).order_by(AuditEvent.id)).all()
    logins = [tuple(e) for e in events if e[0].startswith("login")]
    assert logins == [("login_failed", "analyst1"), ("login_failed", "nobody"), ("login", "analyst1")]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/queue").text)
    assert csrf
    assert (
        client.post("/logout", data={"csrf_token": csrf.group(1)}, follow_redirects=False).status_code == 303
    )
    assert client.get("/queue", follow_redirects=False).status_code == 303

    support = TestClient(app)
    response = _login_form(support, "support1", PASSWORD, next_="/officials")
    assert response.headers["location"] == "/officials"  # type: ignore[attr-defined]
    assert support.get("/", follow_redirects=False).headers["location"] == "/escalations"


def test_sessions_expire_and_end_when_the_user_is_deactivated(
    app: FastAPI, session: Session, users: dict[Role, User], settings: Settings
) -> None:
    client = TestClient(app)
    login(client, "analyst1")
    record = session.scalars(select(UserSession)).one()
    aged = timedelta(seconds=settings.session_max_age_s + 5)  # the login is older than a login lasts
    record.created_at, record.expires_at = record.created_at - aged, record.expires_at - aged
    session.commit()
    assert client.get("/queue", follow_redirects=False).status_code == 303
    login(client, "analyst1")
    users[Role.ANALYST].active = False
    session.commit()
    assert client.get("/api/v1/me").status_code == 401


def test_item_before_its_explanation_is_computed(session: Session, client_as: ClientAs) -> None:
    """Intake queues before the explain flow runs: the page says so, the queue row and the API cope."""
    item = make_item(session, source=make_source(session), text=HOSTILE, explained=False)
    session.commit()
    client, _csrf = client_as(Role.ANALYST)
    assert f'data-item-id="{item.item_id}"' in client.get("/queue").text
    page = client.get(f"/items/{item.item_id}")
    assert page.status_code == 200 and "worden nog berekend" in page.text and "<mark" not in page.text
    assert client.get(f"/api/v1/items/{item.item_id}").json()["explanation"] is None


def test_analyst_flow_through_forms(session: Session, client_as: ClientAs) -> None:
    official = make_official(session)
    spans = [{"start": 0, "end": 13, "text": "Burgemeester,", "weight": 0.3}]
    item = make_item(
        session, source=make_source(session), text=HOSTILE, officials=(official,), explanation=spans
    )
    other = make_item(session, source=make_source(session, "forum"), text="Ook jij bent aan de beurt")
    session.commit()
    client, csrf = client_as(Role.ANALYST)

    queue = client.get("/queue")
    assert f'data-item-id="{item.item_id}"' in queue.text and "De wachtrij" not in queue.text
    claimed = client.post(f"/items/{item.item_id}/claim", data={"csrf_token": csrf}, follow_redirects=False)
    assert claimed.headers["location"] == f"/items/{item.item_id}"
    page = client.get(f"/items/{item.item_id}")
    assert f"Item {item.item_id} geclaimd." in page.text  # the flash message
    assert '<mark title="0.30">Burgemeester,</mark>' in page.text
    decided = client.post(
        f"/items/{item.item_id}/decide", data={"csrf_token": csrf, "label": "doxxing"}, follow_redirects=True
    )
    assert "beoordeeld als doxing" in decided.text
    escalated = client.post(
        f"/items/{item.item_id}/escalate", data={"csrf_token": csrf, "urgency": "high"}, follow_redirects=True
    )
    assert "geëscaleerd, urgentie hoog" in escalated.text
    # Another analyst's claim cannot be taken: the refusal is a message, nothing changes.
    client.post(f"/items/{other.item_id}/decide", data={"csrf_token": csrf, "label": "none"})
    refused = client.post(
        f"/items/{other.item_id}/escalate", data={"csrf_token": csrf, "urgency": "low"}, follow_redirects=True
    )
    assert "Niet gelukt:" in refused.text
    session.expire_all()
    assert session.get(ReviewItem, other.item_id).status == "dismissed"  # type: ignore[union-attr]
    views = session.scalars(select(AuditEvent.object_id).where(AuditEvent.action == "view_post")).all()
    assert str(item.item_id) in views
    download = client.get(f"/items/{item.item_id}/evidence.json")
    assert download.json()["items"][0]["escalations"][0]["urgency"] == "high"


def test_hostile_post_is_text_everywhere(session: Session, client_as: ClientAs) -> None:
    official = make_official(session)
    item = make_item(
        session, source=make_source(session), text=HOSTILE, url="javascript:alert(3)", officials=(official,)
    )
    safe = make_item(session, source=make_source(session, "x"), text="Doe voorzichtig", officials=(official,))
    session.commit()
    client, _ = client_as(Role.ADMIN)
    for path in ("/queue", f"/items/{item.item_id}", f"/items/{safe.item_id}", f"/officials/{official.id}"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, path
        assert 'href="javascript' not in page.text, path
        assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in page.text, path
        assert re.search(r"<script>", page.text) is None and " style=" not in page.text, path  # CSP-clean
    detail = client.get(f"/items/{item.item_id}").text
    assert '<code class="url">javascript:alert(3)</code>' in detail  # shown, never a link
    linked = client.get(f"/items/{safe.item_id}").text
    assert 'href="https://example.org/post/1" rel="noopener noreferrer nofollow"' in linked


def test_security_headers(app: FastAPI) -> None:
    client = TestClient(app)
    for path in ("/login", "/static/app.css", "/api/v1/queue", "/api/docs"):
        response = client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "no-referrer", path
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp, path
    assert "script-src 'self';" in client.get("/login").headers["content-security-policy"]
    docs = client.get("/api/docs")  # self-hosted Swagger UI under the same strict CSP
    assert 'src="/api/docs/assets/swagger-ui-bundle.js"' in docs.text and "cdn" not in docs.text
    assert client.get("/api/docs/assets/swagger-ui-bundle.js").status_code == 200


def test_languages(app: FastAPI, client_as: ClientAs) -> None:
    client, _ = client_as(Role.ANALYST)
    assert "<h1>Reviewwachtrij</h1>" in client.get("/queue").text
    english = client.get("/queue?lang=en")
    assert "<h1>Review queue</h1>" in english.text and '<html lang="en">' in english.text
    assert "<h1>Review queue</h1>" in client.get("/queue").text  # remembered in a cookie
    assert "<h1>Reviewwachtrij</h1>" in client.get("/queue?lang=nl").text
    fresh = TestClient(app)
    assert "<h1>Log in</h1>" in fresh.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).text
    assert "<h1>Inloggen</h1>" in fresh.get("/login", headers={"Accept-Language": "fr, de;q=0.5"}).text


def test_reference_pages(session: Session, client_as: ClientAs) -> None:
    official = make_official(session)
    make_item(session, source=make_source(session), text="Pas op jij", officials=(official,))
    session.commit()
    admin, csrf = client_as(Role.ADMIN)
    page = admin.get(f"/officials/{official.id}?days=7")
    assert page.text.count('class="flagged"') == 7 and '<svg class="chart"' in page.text
    assert re.search(r'class="flagged"[^>]*data-count="1"', page.text)
    assert admin.get("/officials/999").status_code == 404
    seen = session.scalars(select(AuditEvent).where(AuditEvent.action == "view_official")).all()
    assert [(e.actor, e.object_id) for e in seen] == [("admin1", str(official.id))] and seen[0].details[
        "items"
    ]
    assert "regionieuws" in admin.get("/sources").text
    models = admin.get("/models").text
    assert "cascade-" in models and "actief" in models
    created = admin.post(
        "/users",
        data={"csrf_token": csrf, "username": "nieuw", "role": "support", "password": "kort"},
        follow_redirects=True,
    )
    assert "Niet gelukt: password must be at least" in created.text
    repeated = admin.post(
        "/users",
        data={"csrf_token": csrf, "username": "nieuw", "role": "support", "password": PASSWORD * 2},
        follow_redirects=True,
    )
    assert "Niet gelukt: password repeats the pattern" in repeated.text
    admin.post(
        "/users",
        data={
            "csrf_token": csrf,
            "username": "nieuw",
            "role": "support",
            "password": "een sterk ander wachtwoord",
        },
    )
    assert "nieuw" in admin.get("/users").text
    assert login(TestClient(admin.app), "nieuw", "een sterk ander wachtwoord")


def test_secret_key_is_generated_once_and_kept(settings: Settings, users: dict[Role, User]) -> None:
    first = TestClient(create_app(settings))
    login(first, "admin1")
    secret = settings.data_dir / SECRET_FILE
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    second = TestClient(create_app(settings))  # a restart: the same key, so the session survives
    second.cookies = first.cookies
    assert second.get("/api/v1/me").json()["username"] == "admin1"
    other = TestClient(create_app(settings.model_copy(update={"secret_key": "another-key-entirely"})))
    other.cookies = first.cookies
    assert other.get("/api/v1/me").status_code == 401


def test_queue_forms_and_thread_context(session: Session, client_as: ClientAs) -> None:
    source = make_source(session)
    top = make_item(session, source=source, text="Ik maak je af", score=0.99)
    noise = [make_item(session, source=source, text=f"Sukkel {n}", label="abuse", score=0.3) for n in (1, 2)]
    repost = Post(
        source_id=make_source(session, "mastodon").id,
        external_id="boost-1",
        url="https://social.example/@kopie/1",
        author="@kopie",
        text="Ik maak je af",
        content_hash="0" * 64,
        duplicate_of_id=top.post_id,
    )
    session.add(repost)
    session.commit()
    client, csrf = client_as(Role.ANALYST)

    page = client.get(f"/items/{top.item_id}").text
    assert "@kopie" in page and '<code class="url">https://social.example/@kopie/1</code>' in page
    nxt = client.post("/queue/claim-next", data={"csrf_token": csrf}, follow_redirects=False)
    assert nxt.headers["location"] == f"/items/{top.item_id}"  # the most urgent first
    form = {"csrf_token": csrf, "item_ids": [str(n.item_id) for n in noise], "note": "ruis"}
    dismissed = client.post("/queue/bulk-dismiss", data=form, follow_redirects=True)
    assert "2 item(s) afgewezen." in dismissed.text
    filtered = client.get("/queue?label=abuse&status=dismissed&official_id=&source_id=")
    assert filtered.text.count('class="entry"') == 2
    assert '<option value="abuse" selected>' in filtered.text


def test_bidi_controls_are_shown_not_obeyed(session: Session, client_as: ClientAs) -> None:
    """U+202E in a post would show "gpj.exe" as "exe.jpg": pages and the evidence document show the
    control itself, the stored text (evidence) keeps it."""
    text = "Zie bijlage \u202egpj.exe en \u2066kom\u2069 maar"
    item = make_item(session, source=make_source(session), text=text)
    session.commit()
    client, _ = client_as(Role.ADMIN)
    for page in (client.get(f"/items/{item.item_id}").text, client.get("/queue").text):
        assert "\u202e" not in page and "\u2066" not in page
        assert "[U+202E]gpj.exe" in page
    evidence = client.get(f"/items/{item.item_id}/evidence.html")
    assert evidence.status_code == 200, evidence.text[:300]
    assert "\u202e" not in evidence.text and "[U+202E]gpj.exe" in evidence.text
    session.expire_all()
    assert session.scalars(select(Post.text).where(Post.text.contains("gpj"))).one() == text


def test_the_language_cookie_follows_cookie_secure(settings: Settings) -> None:
    secure_app = create_app(settings.model_copy(update={"cookie_secure": True}))
    response = TestClient(secure_app, base_url="https://testserver").get("/login?lang=en")
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and "tw_lang" in v)
    assert "secure" in cookie.lower()
