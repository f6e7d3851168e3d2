"""Application factory; the settings travel on ``app.state`` so tests can build apps side by side."""

from __future__ import annotations

from fastapi import FastAPI

from threatwatch import __version__
from threatwatch.config import Settings, get_settings
from threatwatch.web.routes import api, pages


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="threatwatch", version=__version__, docs_url="/api/docs", openapi_url="/api/openapi.json"
    )
    app.state.settings = settings or get_settings()
    app.include_router(pages)
    app.include_router(api)
    return app
