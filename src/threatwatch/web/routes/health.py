"""Liveness, readiness and metrics: what an orchestrator and Prometheus poll, without a login.

``/healthz`` says the process answers; ``/readyz`` says it can work (database reachable, model
loaded) and answers 503 otherwise. ``/metrics`` is Prometheus text; the counts it shows are not
personal, but they are internal, so it is closed by default: with ``THREATWATCH_METRICS_TOKEN`` set it
needs ``Authorization: Bearer <token>`` (from any address); without one it answers loopback clients only
(a Prometheus or sidecar on the same host) and 403 to everyone else. The client address is the one
uvicorn reports, which behind a reverse proxy on the same host is the proxy's unless the proxy sends
``X-Forwarded-For`` (uvicorn trusts it from 127.0.0.1): such a proxy must send it, or set a token.
"""

from __future__ import annotations

import hmac
from ipaddress import IPv6Address, ip_address

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from threatwatch.ops.metrics import render_metrics
from threatwatch.ops.readiness import check_readiness
from threatwatch.web.deps import Public, SettingsDep
from threatwatch.web.security import bearer_token

# Public: answered without a login (orchestrators and Prometheus have none); /metrics guards itself.
router = APIRouter(tags=["operations"], dependencies=[Public])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(settings: SettingsDep) -> JSONResponse:
    readiness = await run_in_threadpool(check_readiness, settings)
    return JSONResponse(
        {"status": "ready" if readiness.ready else "not ready", "checks": readiness.checks},
        status_code=200 if readiness.ready else 503,
    )


def is_loopback_client(request: Request) -> bool:
    """True for a client on 127.0.0.0/8 or ::1 (also as ``::ffff:127.x``); False for anything else,
    including no address or a name (a Unix socket, a test client)."""
    if request.client is None:
        return False
    try:
        address = ip_address(request.client.host)
    except ValueError:
        return False
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


@router.get("/metrics")
def metrics(request: Request, settings: SettingsDep) -> Response:
    # Plain-text refusals (not the HTML error page): the caller is a scraper, not a browser.
    if settings.metrics_token:
        given = bearer_token(request) or ""
        if not hmac.compare_digest(given.encode(), settings.metrics_token.encode()):
            return PlainTextResponse(
                "bearer token required\n", status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
    elif not is_loopback_client(request):
        return PlainTextResponse(
            "/metrics answers loopback clients only; set THREATWATCH_METRICS_TOKEN for other hosts\n",
            status_code=403,
        )
    return Response(render_metrics(settings.database_url), media_type=CONTENT_TYPE_LATEST)
