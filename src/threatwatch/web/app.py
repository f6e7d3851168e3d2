"""Application factory; the settings travel on ``app.state`` so tests can build apps side by side.

Routers are registered in one place, ``ROUTERS`` in ``create_app``; a new resource adds its module
under ``routes/`` and its router there. Its routes get the same CSRF check, security headers and error
pages; they must depend on a role alias from ``deps`` or carry ``dependencies=[Public]``.
"""

from __future__ import annotations

import logging
from importlib.resources import files
from pathlib import Path
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from starlette.middleware.sessions import SessionMiddleware

from threatwatch import __version__
from threatwatch.accounts import AccountError
from threatwatch.config import Settings, get_settings
from threatwatch.evidence import PersonEvidenceError
from threatwatch.ops.logs import configure_logging
from threatwatch.persons.casework import PersonError, PersonNotFoundError
from threatwatch.review.errors import (
    ClaimConflict,
    DecisionError,
    ItemNotFound,
    NotAllowedError,
    ReviewError,
)
from threatwatch.review.queue import QueueCounts
from threatwatch.web.common import safe_next
from threatwatch.web.deps import NotAuthenticatedError, Public
from threatwatch.web.limits import RequestLimitsMiddleware
from threatwatch.web.rendering import flash, render, templates
from threatwatch.web.routes import (
    account,
    api,
    escalations,
    health,
    models,
    officials,
    persons,
    review,
    sources,
    subscriptions,
)
from threatwatch.web.security import (
    SESSION_COOKIE,
    SecurityHeadersMiddleware,
    secret_key,
    verify_csrf,
)
from threatwatch.wiring import connect_subscribers

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
# Swagger UI 5 as files from the fastapi-offline wheel: the docs page needs no CDN and no inline script.
SWAGGER_UI_DIR = Path(str(files("fastapi_offline") / "static"))
OPENAPI_URL = "/api/openapi.json"
ERROR_STATUS: dict[type[Exception], int] = {
    ItemNotFound: 404,
    NotAllowedError: 403,
    ClaimConflict: 409,
    DecisionError: 422,
    AccountError: 422,
    PersonNotFoundError: 404,  # before PersonError: the first kind that matches gives the status
    PersonError: 422,
    PersonEvidenceError: 422,
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    connect_subscribers()
    app = FastAPI(
        title="threatwatch",
        version=__version__,
        description="Review queue, evidence and reference data; see /api/v1 routes below.",
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI_URL,
        dependencies=[Depends(verify_csrf)],
    )
    app.state.settings = settings
    app.state.queue_counts = QueueCounts()
    configure_logging(log_format=settings.log_format)  # THREATWATCH_LOG_FORMAT=json: JSON lines
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key(settings),
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestLimitsMiddleware, max_bytes=settings.max_request_bytes)  # outermost
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/api/docs/assets", StaticFiles(directory=SWAGGER_UI_DIR), name="swagger-ui")

    ROUTERS = (  # noqa: N806
        account.router,
        review.router,
        escalations.router,
        officials.router,
        persons.router,
        persons.api_router,
        sources.router,
        models.router,
        api.router,
        subscriptions.router,
        subscriptions.api_router,
        health.router,
    )
    for router in ROUTERS:
        app.include_router(router)
    _core_routes(app)
    _error_handlers(app)
    return app


def _core_routes(app: FastAPI) -> None:
    """The API docs page, self-hosted (``/healthz``, ``/readyz``, ``/metrics``: ``routes/health.py``)."""

    @app.get("/api/docs", dependencies=[Public], include_in_schema=False)
    def docs() -> HTMLResponse:
        html = templates.env.get_template("docs.html").render(openapi_url=OPENAPI_URL)
        return HTMLResponse(html)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _back_to(request: Request) -> str:
    """Where a page form goes after a refused action: ``?next=``, else the page it belongs to."""
    explicit = request.query_params.get("next")
    if explicit:
        return safe_next(explicit, "/")
    parts = request.url.path.strip("/").split("/")
    if parts[0] in ("items", "persons") and len(parts) > 1:
        return f"/{parts[0]}/{parts[1]}"
    return f"/{parts[0]}" if parts[0] in ("users", "account", "queue", "subscriptions", "persons") else "/"


def _error_page(request: Request, code: int, detail: str) -> Response:
    key = f"error.{code}" if code in (400, 403, 404, 409, 422) else "error.other"
    return render(
        request, "error.html", {"status_code": code, "title_key": key, "detail": detail}, status_code=code
    )


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticatedError)
    async def not_authenticated(request: Request, exc: NotAuthenticatedError) -> Response:
        if _is_api(request):
            return JSONResponse(
                {"detail": "not authenticated"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = _back_to(request)
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)

    async def service_error(request: Request, exc: Exception) -> Response:
        code = next((c for kind, c in ERROR_STATUS.items() if isinstance(exc, kind)), 400)
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=code)
        if request.method == "GET":
            return _error_page(request, code, str(exc))
        flash(request, "error", "item.action_failed", reason=str(exc))
        return RedirectResponse(_back_to(request), status_code=303)

    app.add_exception_handler(ReviewError, service_error)
    app.add_exception_handler(AccountError, service_error)
    app.add_exception_handler(PersonError, service_error)
    app.add_exception_handler(PersonEvidenceError, service_error)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if _is_api(request) or exc.status_code < 400:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return _error_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": jsonable_errors(exc)}, status_code=422)
        fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors())
        return _error_page(request, 422, fields)

    async def out_of_range(request: Request, exc: Exception) -> Response:
        """The last line behind the bounds in the schemas: a value the database cannot hold is the
        caller's mistake (422), never a server error."""
        logger.warning("%s %s: value out of range: %s", request.method, request.url.path, type(exc).__name__)
        detail = "a number or value in the request is out of range"
        if _is_api(request):
            return JSONResponse({"detail": detail}, status_code=422)
        return _error_page(request, 422, detail)

    app.add_exception_handler(OverflowError, out_of_range)
    app.add_exception_handler(DataError, out_of_range)


def jsonable_errors(exc: RequestValidationError) -> list[dict[str, object]]:
    """Where and what, never the input itself: an error must not echo a 10 MB note back, nor text
    that cannot be encoded."""
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": error.get("type"),
        }
        for error in exc.errors()
    ]
