"""The ``threatwatch`` command line: every operation an operator or analyst runs by hand.

One module per command group; each registers its commands on the root app in ``_common``.
"""

from __future__ import annotations

import os

from threatwatch.cli import accounts, alerts, classifier, db, models, ops, persons, review, serve, watch
from threatwatch.cli._common import app

__all__ = ["app", "main"]
_COMMAND_MODULES = (accounts, alerts, classifier, db, models, ops, persons, review, serve, watch)


def main() -> None:
    # No telemetry from the embedded Prefect server: this runs on closed networks with personal data.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # The embedded Prefect server needs longer than its default 90 s to start on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    app()
