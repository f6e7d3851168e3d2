"""What every flow run does first: its settings, and its process wired for domain events.

A flow is an entry point (a worker may load its file on its own, without this package's ``__init__``),
so each flow calls ``start_run`` rather than relying on an import having wired the process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from threatwatch.config import Settings, get_settings
from threatwatch.wiring import connect_subscribers


def start_run(settings_overrides: Mapping[str, Any] | None) -> Settings:
    """The run's settings (the environment's, with ``settings_overrides`` on top), after connecting the
    subscribers of domain events in this process (idempotent)."""
    connect_subscribers()
    return Settings(**settings_overrides) if settings_overrides else get_settings()
