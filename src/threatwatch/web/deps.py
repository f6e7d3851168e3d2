"""FastAPI dependencies: settings and a database session per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from threatwatch.config import Settings
from threatwatch.db.engine import engine_for, session_factory


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    with session_factory(engine_for(settings.database_url))() as session, session.begin():
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
