"""HTTP shapes of the privacy API (apart from domain objects and wire contracts)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.kit.contracts.privacy import ErasureReasonV1


class ErasureRequest(BaseModel):
    """Erase a traveller (every service, every id they had). The note must not hold personal data."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    reason: ErasureReasonV1 = Field(description="Why, as a code (GDPR art. 17(1) grounds, or other)")
    note: str | None = Field(
        default=None, min_length=1, max_length=500,
        description="Why, in words: a ticket number or the legal ground (no personal data; kept by law)",
    )  # fmt: skip


class StepPublic(BaseModel):
    service: str
    status: Literal["pending", "done"]
    customer_ids: int | None = None
    rows: dict[str, int] | None = None
    completed_at: AwareDatetime | None = None


class ErasurePublic(BaseModel):
    erasure_id: str
    reason: str
    note: str | None
    requested_by: str
    requested_at: AwareDatetime
    status: Literal["in_progress", "completed"]
    completed_at: AwareDatetime | None
    steps: list[StepPublic]


class ErasurePage(BaseModel):
    items: list[ErasurePublic]
    limit: int
    offset: int
