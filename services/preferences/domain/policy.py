"""Company travel policy and how a traveller's preferences resolve against it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.preferences.domain.model import Preference


@dataclass(frozen=True)
class Conflict:
    key: str
    preferred: Any
    allowed: Any
    message: str


@dataclass(frozen=True)
class TravelPolicy:
    company_id: str

    @classmethod
    def from_json(cls, company_id: str, data: Mapping[str, Any]) -> TravelPolicy:
        return cls(company_id)


def resolve(
    preferences: Mapping[str, Preference], policy: TravelPolicy | None, *, as_of: datetime | None = None
) -> tuple[dict[str, Preference], list[Conflict]]:
    """Effective preferences: the traveller's, limited by company policy, with the conflicts."""
    return dict(preferences), []
