"""Request and response bodies of the REST API (``/api/v1``), as Pydantic models for OpenAPI."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Span(BaseModel):
    start: int
    end: int
    text: str
    weight: float = 0.0


class QueueItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    post_id: int
    status: str
    priority: float
    label: str
    scores: dict[str, float]
    explanation: list[dict[str, Any]]
    model_version: str
    text: str
    url: str | None
    author: str | None
    source: str
    source_id: int
    officials: list[str]
    official_ids: list[int]
    published_at: datetime | None
    collected_at: datetime
    created_at: datetime
    assignee: str | None
    lease_expires_at: datetime | None


class QueueOut(BaseModel):
    items: list[QueueItemOut]
    counts: dict[str, int]


class OfficialRefOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: str
    organisation: str


class DecisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    label: str
    model_label: str | None
    corrected: bool
    note: str | None
    user: str | None
    created_at: datetime
    undone_at: datetime | None


class EscalationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    urgency: str
    note: str | None
    user: str | None
    created_at: datetime


class RelatedPostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    post_id: int
    review_item_id: int | None
    status: str | None
    label: str | None
    text: str
    url: str | None
    published_at: datetime | None
    collected_at: datetime


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    post_id: int
    status: str
    priority: float
    text: str
    url: str | None
    author: str | None
    published_at: datetime | None
    collected_at: datetime
    source_id: int
    source: str
    source_url: str
    label: str
    scores: dict[str, float]
    explanation: list[dict[str, Any]]
    model_version: str
    assignee: str | None
    lease_expires_at: datetime | None
    created_at: datetime
    officials: list[OfficialRefOut]
    decisions: list[DecisionOut]
    escalations: list[EscalationOut]
    related: list[RelatedPostOut]


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
    item_ids: list[int] = Field(max_length=5000)
    note: str | None = Field(default=None, max_length=4000)


class BulkDismissOut(BaseModel):
    requested: int
    dismissed: int


class ClaimNextIn(BaseModel):
    official_id: int | None = None
    label: str | None = None


class DayCountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    day: date
    mentions: int
    flagged: int


class TimelineOut(BaseModel):
    official: OfficialRefOut
    days: list[DayCountOut]


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


class MeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: str
    permissions: list[str]
