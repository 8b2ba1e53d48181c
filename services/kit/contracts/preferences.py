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
    """Effective preferences of one customer; keyed by customer_id on a compacted topic.

    Sensitive preferences (dietary and accessibility needs, special meals) are never
    part of the snapshot: they are read through the preferences API, role-checked and audited.
    """

    event_type = "preferences.snapshot"
    schema_version = 1

    customer_id: str
    version: int = Field(ge=1)
    preferences: tuple[PreferenceV1, ...] = ()
    conflicts: tuple[PolicyConflictV1, ...] = ()
    updated_at: AwareDatetime
    company_id: str | None = Field(default=None, description="Company whose travel policy was applied")
    policy_version: int | None = Field(default=None, description="Version of that policy, if the company has one")
    last_event_at: AwareDatetime | None = Field(
        default=None, description="When the newest input reflected here happened (booking event or edit)"
    )


class PreferenceChangedV1(Payload):
    """A customer's preferences changed (keys listed)."""

    event_type = "preferences.changed"
    schema_version = 1

    customer_id: str
    version: int
    changed_keys: tuple[str, ...]


class PreferenceConfirmationRequestedV1(Payload):
    """We inferred a preference with low confidence: please ask the traveller whether it is right.

    The notifications service turns this into a message with a link to the preferences service's
    answer page, `/confirmations/{answer_token}`, where the traveller answers yes or no (a tool can
    `POST /v1/confirmations/{answer_token}`); agents answer through
    `POST /v1/customers/{customer_id}/preferences/confirmations/{request_id}`.
    """

    event_type = "preferences.confirmation_requested"
    schema_version = 1

    customer_id: str
    request_id: str
    key: str = Field(description="Dotted preference key, e.g. 'air.seat.short_haul'")
    value: JsonValue
    confidence: float = Field(ge=0, le=1)
    evidence_count: int = Field(ge=0)
    question: str = Field(
        description="The question in plain English, e.g. 'Do you prefer an aisle seat on short flights?'"
    )
    answer_token: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="Deprecated: the answer link's token in clear. It is a capability (whoever holds it may answer"
        " this one question, once, until expires_at), so producers now send `sealed_answer_token` instead;"
        " consumers still accept this from older producers. Never log it.",
    )
    sealed_answer_token: str | None = Field(
        default=None,
        max_length=400,
        description="The answer link's token for the preferences service's /confirmations/{token}, sealed with the"
        " shared link keys (AES-256-GCM, bound to purpose `answer-token` and the request id):"
        " `v1.<key id>.<base64url>`. The preferences service stores only the token's digest.",
    )
    expires_at: AwareDatetime | None = Field(default=None, description="After this the answer link no longer works")
    questions: dict[str, str] = Field(
        default_factory=dict,
        description="The question in each language it is written in, by ISO 639-1 code ({'en': ..., 'de': ...}); "
        "`question` is the English one. Empty from producers that write English only.",
    )
