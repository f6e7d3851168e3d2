"""Liveness, readiness and metrics: what an orchestrator and Prometheus poll, without a login.

``/healthz`` says the process answers; ``/readyz`` says it can work (database reachable, model
loaded) and answers 503 otherwise; ``/metrics`` is Prometheus text, behind a bearer token when
``THREATWATCH_METRICS_TOKEN`` is set (the counts it shows are not personal, but they are internal).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from threatwatch.ops.metrics import render_metrics
from threatwatch.ops.readiness import check_readiness
from threatwatch.web.deps import Public, SettingsDep

# Public: answered without a login (orchestrators and Prometheus have none); /metrics checks its own token.
health = APIRouter(tags=["operations"], dependencies=[Public])


@health.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health.get("/readyz")
async def readyz(settings: SettingsDep) -> JSONResponse:
    readiness = await run_in_threadpool(check_readiness, settings)
    return JSONResponse(
        {"status": "ready" if readiness.ready else "not ready", "checks": readiness.checks},
        status_code=200 if readiness.ready else 503,
    )


@health.get("/metrics")
def metrics(settings: SettingsDep, authorization: Annotated[str | None, Header()] = None) -> Response:
    if settings.metrics_token:
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), settings.metrics_token.encode()):
            # A plain 401 (not the HTML error page): the caller is a scraper, not a browser.
            return PlainTextResponse(
                "bearer token required\n", status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
    return Response(render_metrics(settings.database_url), media_type=CONTENT_TYPE_LATEST)
