"""HTTP shapes of the preferences API: request bodies and public views of preferences, confirmations and policies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.preferences.domain.value_schemas import preference_values_schema


class PreferencePublic(BaseModel):
    key: str
    value: Any
    source: Literal["stated", "agent", "inferred", "policy"]
    confidence: float
    evidence_count: int
    first_seen: datetime
    last_seen: datetime
    sensitive: bool = False


class ConflictPublic(BaseModel):
    key: str
    preferred: Any
    allowed: Any
    message: str


class PreferencesPublic(BaseModel):
    customer_id: str
    requested_id: str
    company_id: str | None
    version: int
    preferences: list[PreferencePublic]
    redacted_keys: list[str] = Field(
        default_factory=list,
        description='Sensitive keys whose values are redacted in this response (`{"redacted": "special-category"}`;'
        " shown with include_sensitive to a supervisor)",
    )


class EffectivePublic(PreferencesPublic):
    policy_version: int | None
    conflicts: list[ConflictPublic]


class SetPreferences(BaseModel):
    """Explicit preferences to set: all are validated first, then set together (or none is)."""

    values: dict[str, Any] = Field(
        min_length=1, max_length=50, description="Preference key -> value", json_schema_extra=preference_values_schema()
    )
    source: Literal["stated", "agent"] = Field(
        default="agent",
        description="stated: the traveller said so (their tool, or an agent quoting them); agent: set by an agent",
    )


class EvidencePublic(BaseModel):
    booking: str
    observed: Any
    at: datetime
    detail: str
    supports: bool


class ExplanationPublic(BaseModel):
    key: str
    effective_source: str | None = Field(description="Where the value in use comes from (None: no value)")
    explicit: dict[str, Any] | None
    inferred_value: Any
    confidence: float | None
    share: float | None
    evidence_count: int
    observed_count: int
    alternatives: list[dict[str, Any]]
    declined: list[Any]
    evidence: list[EvidencePublic]
    note: str


class ExplainPublic(BaseModel):
    customer_id: str
    method: str
    explanations: list[ExplanationPublic]


class ConfirmationPublic(BaseModel):
    request_id: str
    key: str
    value: Any
    confidence: float
    status: str
    asked_at: datetime
    answered_at: datetime | None
    answered_by: str | None = None
    link_expires_at: datetime | None = Field(
        default=None, description="Until when the traveller's emailed answer link works (None: no link)"
    )


class ConfirmationAnswer(BaseModel):
    accepted: bool = Field(description="True: the inference is right (it becomes stated); false: it is not")


class ConfirmInference(BaseModel):
    """An inferred preference confirmed or rejected without a pending question (by an agent or the traveller's tool)."""

    accepted: bool = Field(description="True: the value becomes an explicit preference; false: it is declined")
    value: Any = Field(
        default=None,
        description="The inferred value meant (as shown to the caller); defaults to the current inferred value",
    )
    source: Literal["stated", "agent"] = Field(
        default="agent",
        description="Who confirms, as for PUT …/preferences: stated (the traveller, or an agent quoting them); "
        "agent (the agent's own judgement)",
    )


class KeySpecPublic(BaseModel):
    key: str
    description: str
    kind: str
    allowed: list[str]
    sensitive: bool
    minimum: int | None
    maximum: int | None
    code_table: str | None = Field(
        default=None, description="The table of GET /v1/preferences/codes that names this key's codes"
    )


class PolicyPublic(BaseModel):
    company_id: str
    version: int
    policy: dict[str, Any]
    updated_by: str
    updated_at: datetime
