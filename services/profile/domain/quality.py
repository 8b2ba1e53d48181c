"""Data-quality signals of one customer: completeness, conflicts, staleness, deliverability."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.profile.domain.model import FieldValue, StoredRecord
from services.profile.domain.names import match_form

COMPLETENESS_FIELDS = ("given_name", "family_name", "email", "phone", "date_of_birth", "nationality", "company_name")
# Fields where two sources disagreeing means one of them is wrong (people have several
# emails and phones, but one birth date).
CONFLICT_FIELDS = ("date_of_birth", "nationality", "family_name")
CONTACT_FIELDS = ("email", "phone")
STALE_AFTER = timedelta(days=730)


@dataclass(frozen=True)
class QualityReport:
    completeness: float
    conflicts: dict[str, list[str]]
    stale: list[str]
    email_deliverable: bool
    invalid_values: int
    score: float

    def to_json(self) -> dict[str, Any]:
        return {
            "completeness": round(self.completeness, 3),
            "conflicts": self.conflicts,
            "stale": self.stale,
            "email_deliverable": self.email_deliverable,
            "invalid_values": self.invalid_values,
            "score": round(self.score, 3),
        }

    def tasks(self) -> dict[str, dict[str, Any]]:
        """Open data-quality tasks for agents, by kind."""
        out: dict[str, dict[str, Any]] = {}
        for name, values in self.conflicts.items():
            out[f"conflict:{name}"] = {"field": name, "values": values}
        for name in self.stale:
            out[f"stale:{name}"] = {"field": name}
        if not self.email_deliverable:
            out["email-undeliverable"] = {}
        if self.invalid_values:
            out["invalid-values"] = {"count": self.invalid_values}
        return out


def assess(
    golden: Mapping[str, FieldValue],
    records: Iterable[StoredRecord],
    *,
    problems: int,
    email_deliverable: bool,
    now: datetime,
    stale_after: timedelta = STALE_AFTER,
) -> QualityReport:
    """Score a customer: 50% completeness, 20% agreement, 20% fresh contact data, 10% deliverable."""
    recs = list(records)
    present = sum(1 for f in COMPLETENESS_FIELDS if f in golden)
    completeness = present / len(COMPLETENESS_FIELDS)
    conflicts: dict[str, list[str]] = {}
    for name in CONFLICT_FIELDS if len(recs) > 1 else ():  # one record cannot disagree with itself
        values = {str(r.fields[name]) for r in recs if r.fields.get(name)}
        if name == "family_name":
            if len({match_form(v) for v in values}) <= 1:
                continue
        elif len(values) <= 1:
            continue
        conflicts[name] = sorted(values)
    stale = [f for f in CONTACT_FIELDS if f in golden and now - golden[f].last_seen > stale_after]
    agreement = 1 - len(conflicts) / len(CONFLICT_FIELDS)
    contact = [f for f in CONTACT_FIELDS if f in golden]
    freshness = (1 - len(stale) / len(contact)) if contact else 0.0
    deliverable = email_deliverable or "email" not in golden
    score = 0.5 * completeness + 0.2 * agreement + 0.2 * freshness + 0.1 * (1.0 if deliverable else 0.0)
    if problems:
        score *= 0.95
    return QualityReport(
        completeness=completeness,
        conflicts=conflicts,
        stale=stale,
        email_deliverable=deliverable,
        invalid_values=problems,
        score=max(0.0, min(1.0, score)),
    )
