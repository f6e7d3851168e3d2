"""Readiness: can this process do its work now (database reachable, model loaded)?

Liveness (``/healthz``) only says the process answers; readiness is what a load balancer or an
orchestrator waits for before sending traffic, and what it watches to take a replica out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import text

from threatwatch.config import Settings
from threatwatch.db.engine import engine_for
from threatwatch.registry import live_classifier

logger = logging.getLogger(__name__)


@dataclass
class Readiness:
    ready: bool
    checks: dict[str, str] = field(default_factory=dict)


def check_readiness(settings: Settings) -> Readiness:
    """Each check says "ok" or why not; ready only when all are ok."""
    checks: dict[str, str] = {}
    try:
        with engine_for(settings.database_url).connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        logger.warning("readiness: database unreachable: %s", exc)
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        checks["model"] = "ok" if live_classifier(settings).version else "no version"
    except Exception as exc:
        logger.warning("readiness: model not loaded: %s", exc)
        checks["model"] = f"not loaded: {type(exc).__name__}: {exc}"
    return Readiness(ready=all(v == "ok" for v in checks.values()), checks=checks)
