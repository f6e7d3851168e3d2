"""Collection tests run rounds through the collection flow, so they need the Prefect test server."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _prefect(prefect_harness: None) -> None:
    """Every test here may run a round of the flow (``helpers.run_round``)."""
