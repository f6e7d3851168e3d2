"""Request and response bodies of the REST API (``/api/v1``), as Pydantic models for OpenAPI.

The review service's read models (``QueueEntry``, ``ItemDetail``, ``OfficialRef``, ``DayCount``: the
frozen dataclasses the pages render) are served as they are, since FastAPI validates and documents
dataclasses like models; one definition, so the API cannot drift from the pages. The models here are
request bodies and answers the service has no read model for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from threatwatch.review.detail import DayCount, OfficialRef
from threatwatch.review.queue import QueueEntry
from threatwatch.web.limits import MAX_DB_INT

#: A row id in a path, query or body: what the database can hold, so ``/items/9223372036854775808``
#: is a 422 at the schema, not an overflow in the driver.
DbId = Annotated[int, Field(ge=1, le=MAX_DB_INT)]
#: How many rows to skip in a listing.
Offset = Annotated[int, Field(ge=0, le=MAX_DB_INT)]


def db_id_or_none(value: str | None) -> int | None:
    """A form or query value that should name a row: the id, or None when blank, not a number, or
    beyond what any row can have."""
    if not value or not value.isdigit():
        return None
    number = int(value)
    return number if 1 <= number <= MAX_DB_INT else None


class QueueOut(BaseModel):
    items: list[QueueEntry]
    counts: dict[str, int]


class ClaimOut(BaseModel):
    id: int
    status: str
    assignee: str | None
    lease_expires_at: datetime | None


class DecideIn(BaseModel):
    label: str = Field(description="threat, coercion, doxxing, abuse or none")
    note: str | None = Field(default=None, max_length=4000)


class DecisionCreatedOut(BaseModel):
    id: int
    review_item_id: int
    label: str
    corrected: bool
    created_at: datetime


class CloseIn(BaseModel):
    note: str | None = Field(default=None, max_length=4000, description="what was done (kept in the audit)")


class EscalateIn(BaseModel):
    urgency: str = Field(description="low, high or critical")
    note: str | None = Field(default=None, max_length=4000)
    label: str | None = Field(
        default=None, description="decide the item with this label first (when it is not decided yet)"
    )


class EscalationCreatedOut(BaseModel):
    id: int
    review_item_id: int
    urgency: str
    created_at: datetime


class BulkDismissIn(BaseModel):
    item_ids: list[DbId] = Field(max_length=5000)
    note: str | None = Field(default=None, max_length=4000)


class BulkDismissOut(BaseModel):
    requested: int
    dismissed: int


class ClaimNextIn(BaseModel):
    official_id: DbId | None = None
    label: str | None = None


class TimelineOut(BaseModel):
    official: OfficialRef
    days: list[DayCount]


class SourceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    name: str
    url: str
    status: str
    poll_interval_s: int
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    items_last_run: int


class ModelVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    current: bool
    kind: str | None
    flagged_f1: float | None
    macro_f1: float | None
    flagged_recall: float | None
    thresholds: dict[str, float]
    stream_false_flags_per_1000: float | None
    stream_recall: float | None
    functional_at_floor: str | None
    verdict: str | None


class MeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: str
    permissions: list[str]
