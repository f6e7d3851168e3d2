"""Start-up wiring: who reacts to domain events. Every entry point (the CLI, the web app, the flows)
calls ``connect_subscribers`` before it does any work, so the bottom layer (``events``) never imports
the packages that react to it."""

from __future__ import annotations

from threatwatch import events


def connect_subscribers() -> None:
    """Register every subscriber of ``events`` (idempotent)."""
    from threatwatch.alerts.outbox import enqueue_alerts

    events.subscribe(enqueue_alerts)
