"""Erasure (GDPR art. 17) across the services: the request, what profile erased, each service's step.

None of these payloads carries personal data: only pseudonymous ids (customer ids, booking record
keys), the erasure's id, who asked and why (a reason code and an operator's note), and counts.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from services.kit.contracts.envelope import Payload

ErasureReasonV1 = Literal[
    "data-subject-request",
    "consent-withdrawn",
    "no-longer-necessary",
    "unlawful-processing",
    "legal-obligation",
    "other",
]
ERASURE_STEPS: tuple[str, ...] = ("profile", "preferences", "feedback", "notifications", "value", "trips")


class ErasureRequestedV1(Payload):
    """An administrator asked to erase a traveller; keyed by the erasure id on `privacy.erasures.v1`."""

    event_type = "privacy.erasure-requested"
    schema_version = 1

    erasure_id: str
    customer_id: str = Field(description="The traveller to erase, as the requester knew them (any of their ids)")
    reason: ErasureReasonV1
    requested_by: str
    requested_at: AwareDatetime


class CustomerErasedV1(Payload):
    """Profile erased a traveller: every id they had and the booking record keys of their bookings.

    Every other service removes what it holds under these ids. A traveller profile never knew still
    gets one (with only the requested id): others may hold data under it.
    """

    event_type = "profile.customer-erased"
    schema_version = 1

    erasure_id: str
    requested_id: str
    customer_ids: tuple[str, ...] = Field(description="The requested id, merged and absorbed ids, split-off parts")
    record_keys: tuple[str, ...] = Field(default=(), description="`<source_system>:<booking_id>` of their bookings")
    reason: ErasureReasonV1
    requested_by: str
    erased_at: AwareDatetime


class ErasureStepDoneV1(Payload):
    """A service finished its part of an erasure (idempotent: a redelivered request reports again)."""

    event_type = "privacy.erasure-step-done"
    schema_version = 1

    erasure_id: str
    service: str
    customer_ids: int = Field(ge=0, description="How many ids were erased here")
    rows: dict[str, int] = Field(default_factory=dict, description="Rows removed or anonymised, per table")
    completed_at: AwareDatetime
