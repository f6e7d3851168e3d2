"""Web fixtures: an app on the test database and signed-in clients per role."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from threatwatch.accounts import users as users_module
from threatwatch.config import Settings
from threatwatch.db.models import User
from threatwatch.domain import Role
from threatwatch.web import create_app

from .seed import login, make_user


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with its smallest cost: these tests log in dozens of times on two shared cores; the
    production parameters are the accounts tests' business."""
    monkeypatch.setattr(users_module, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def users(session: Session) -> dict[Role, User]:
    made = {role: make_user(session, role) for role in Role}
    session.commit()
    return made


@pytest.fixture
def client_as(app: FastAPI, users: dict[Role, User]) -> Iterator[Callable[[Role], tuple[TestClient, str]]]:
    """A logged-in client for a role and its CSRF token."""
    clients: list[TestClient] = []

    def make(role: Role) -> tuple[TestClient, str]:
        client = TestClient(app)
        clients.append(client)
        return client, login(client, users[role].username)

    yield make
    for client in clients:
        client.close()
