"""HTTP shapes of the profile API: one model per role, apart from domain objects and wire contracts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Path as FastAPIPath
from pydantic import BaseModel, Field, JsonValue

from services.kit.contracts.bookings import CompanyV1, TravellerV1
from services.kit.isotime import IsoDateTime
from services.profile.service_layer import curation

T = TypeVar("T")


class FieldPublic(BaseModel):
    value: Any
    source_system: str
    source_id: str
    last_seen: datetime
    rule: str | None = None
    sources: int | None = None


class CustomerPublic(BaseModel):
    customer_id: str
    requested_id: str
    status: str
    version: int
    company_id: str | None
    company_name: str | None
    source_record_count: int
    fields: dict[str, FieldPublic]
    quality: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class CustomerSummary(BaseModel):
    customer_id: str
    display_name: str | None
    email: str | None
    phone: str | None
    company_name: str | None
    relevance: float | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    limit: int
    offset: int
    next_offset: int | None


class SourceRecordPublic(BaseModel):
    source_system: str
    source_id: str
    received: dict[str, Any]
    normalized: dict[str, Any]
    problems: dict[str, str]
    match_rule: str
    match_score: float | None
    first_seen: datetime
    last_seen: datetime


class CustomerView(BaseModel):
    customer: CustomerPublic
    preferences: dict[str, Any] | None
    preferences_as_of: datetime | None
    bookings: list[dict[str, Any]]


class Accepted(BaseModel):
    event_id: str
    topic: str


class SourceRecordIn(BaseModel):
    """One traveller record from a source system; re-sending the same (source_system, source_id) updates it."""

    source_system: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    source_id: str = Field(min_length=1, max_length=100)
    traveller: TravellerV1
    company: CompanyV1 | None = None
    seen_at: IsoDateTime | None = None


class ResolutionPublic(BaseModel):
    customer_id: str
    rule: str
    created: bool
    score: float | None
    review_candidate: str | None


class ExplainPublic(BaseModel):
    source_system: str
    source_id: str
    customer_id: str
    match_rule: str
    match_score: float | None
    matched_to: dict[str, Any] | None
    evidence: dict[str, Any] | None
    parameters_version: str | None = Field(
        default=None,
        description="The match model version whose weights and thresholds decided the link (null: decided"
        " before versions were recorded, or by the source link alone)",
    )


class PairExplainPublic(BaseModel):
    customer_a: str
    customer_b: str
    record_a: dict[str, str] | None
    record_b: dict[str, str] | None
    result: dict[str, Any] | None
    parameters_version: str = Field(description="The match model version the two were compared with")


class HistoryEntry(BaseModel):
    at: datetime
    change: str
    actor: str | None
    detail: dict[str, Any]


class ReviewPublic(BaseModel):
    review_id: str
    customer_id: str
    candidate_id: str
    source_system: str
    source_id: str
    score: float
    evidence: dict[str, Any]
    status: str
    decided_by: str | None
    decided_at: datetime | None
    merge_id: str | None
    created_at: datetime


class ReviewDecision(BaseModel):
    decision: Literal["accept", "reject"]


class MergeIn(BaseModel):
    survivor_id: str = Field(min_length=1, max_length=100)
    absorbed_id: str = Field(min_length=1, max_length=100)


class MergePublic(BaseModel):
    merge_id: str
    survivor_id: str
    absorbed_id: str
    status: str = "active"


class SplitIn(BaseModel):
    source_system: str = Field(min_length=1, max_length=50)
    source_id: str = Field(min_length=1, max_length=100)


class SplitPublic(BaseModel):
    customer_id: str
    new_customer_id: str


# A golden field an agent may correct, as the schema says (curation refuses any other with 422).
_CORRECTABLE: list[JsonValue] = [*sorted(curation.CORRECTABLE_FIELDS)]
CorrectableField = Annotated[str, FastAPIPath(json_schema_extra={"enum": _CORRECTABLE})]


class CorrectionIn(BaseModel):
    field: str = Field(min_length=1, max_length=50, json_schema_extra={"enum": _CORRECTABLE})
    value: str | None = Field(max_length=500)


class QualityTaskPublic(BaseModel):
    task_id: int
    customer_id: str
    kind: str
    detail: dict[str, Any]
    status: str
    created_at: datetime


class CompanyPublic(BaseModel):
    company_id: str
    name: str
    aliases: list[str]
    domains: list[str]
    customer_count: int


class ImportPublic(BaseModel):
    records: int
    customers_created: int
    linked: int
    reviews: int
    rejected: int
    errors: list[dict[str, Any]]
