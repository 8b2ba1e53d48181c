"""What the preferences service publishes: effective travel preferences per customer."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from services.kit.contracts.envelope import Payload

PreferenceSource = Literal["stated", "agent", "inferred", "policy"]


class PreferenceV1(BaseModel):
    """One preference with its provenance."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    key: str = Field(description="Dotted preference key, e.g. 'air.cabin.short_haul'")
    value: JsonValue
    source: PreferenceSource
    confidence: float = Field(ge=0, le=1)
    evidence_count: int = Field(default=0, ge=0)
    first_seen: AwareDatetime
    last_seen: AwareDatetime


class PolicyConflictV1(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    key: str
    preferred: JsonValue
    allowed: JsonValue
    message: str


class PreferenceSnapshotV1(Payload):
    """Effective preferences of one customer; keyed by customer_id on a compacted topic."""

    event_type = "preferences.snapshot"
    schema_version = 1

    customer_id: str
    version: int = Field(ge=1)
    preferences: tuple[PreferenceV1, ...] = ()
    conflicts: tuple[PolicyConflictV1, ...] = ()
    updated_at: AwareDatetime


class PreferenceChangedV1(Payload):
    """A customer's preferences changed (keys listed)."""

    event_type = "preferences.changed"
    schema_version = 1

    customer_id: str
    version: int
    changed_keys: tuple[str, ...]
