"""The profile domain: source records, their strong identifiers, and the golden record.

Pure Python: no database, no broker. The service layer loads and stores these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.profile.domain import normalize


@dataclass(frozen=True)
class Identifier:
    """A strong identifier: two records sharing one are the same traveller."""

    kind: str  # email | phone | loyalty | passport
    value: str


@dataclass(frozen=True)
class SourceRecord:
    """One traveller as one source system knows them, normalised, with problems flagged."""

    source_system: str
    source_id: str
    given_name: str | None
    family_name: str | None
    display_name: str
    email: normalize.Normalized
    phone: normalize.Normalized
    date_of_birth: normalize.Normalized
    nationality: normalize.Normalized
    language: str | None
    loyalty: tuple[normalize.Normalized, ...]
    passport_hash: str | None
    company_name: str | None
    seen_at: datetime
    raw: Mapping[str, Any] = field(default_factory=dict)

    def identifiers(self) -> list[Identifier]:
        """Valid strong identifiers, used for deterministic matching."""
        out = []
        if self.email.valid and self.email.value:
            out.append(Identifier("email", self.email.value))
        if self.phone.valid and self.phone.value:
            out.append(Identifier("phone", self.phone.value))
        out.extend(Identifier("loyalty", n.value) for n in self.loyalty if n.valid and n.value)
        if self.passport_hash:
            out.append(Identifier("passport", self.passport_hash))
        return out

    def problems(self) -> dict[str, str]:
        """Fields received but invalid: kept as received, flagged, never used for matching."""
        out = {}
        for name, value in (
            ("email", self.email),
            ("phone", self.phone),
            ("date_of_birth", self.date_of_birth),
            ("nationality", self.nationality),
        ):
            if value.raw is not None and not value.valid:
                out[name] = value.problem or "invalid"
        for n in self.loyalty:
            if not n.valid:
                out[f"loyalty:{n.raw}"] = n.problem or "invalid"
        return out

    def normalized_fields(self) -> dict[str, Any]:
        """The record's usable values by golden-record field name."""
        return {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "display_name": self.display_name,
            "email": self.email.value,
            "phone": self.phone.value,
            "date_of_birth": self.date_of_birth.value,
            "nationality": self.nationality.value,
            "language": self.language,
            "company_name": self.company_name,
            "loyalty": sorted(n.value for n in self.loyalty if n.valid and n.value),
        }


def source_record_from_traveller(
    *,
    source_system: str,
    source_id: str,
    traveller: Mapping[str, Any],
    company_name: str | None,
    seen_at: datetime,
    phone_region: str | None,
    passport_pepper: str,
) -> SourceRecord:
    """Normalise a traveller as a source sent it (a TravellerV1 dumped to a dict)."""
    name = normalize.person_name(
        given=traveller.get("given_name"), family=traveller.get("family_name"), full=traveller.get("full_name")
    )
    nationality = normalize.country(traveller.get("nationality"))
    region = nationality.value or phone_region
    raw = {k: v for k, v in traveller.items() if k not in ("passport_number",) and v not in (None, (), [])}
    return SourceRecord(
        source_system=source_system,
        source_id=source_id,
        given_name=name.given,
        family_name=name.family,
        display_name=name.display,
        email=normalize.email(traveller.get("email")),
        phone=normalize.phone(traveller.get("phone"), region=region),
        date_of_birth=normalize.birth_date(traveller.get("date_of_birth")),
        nationality=nationality,
        language=(traveller.get("language") or None),
        loyalty=tuple(
            normalize.loyalty_number(str(ln["programme"]), str(ln["number"])) for ln in traveller.get("loyalty_numbers") or ()
        ),
        passport_hash=normalize.passport_hash(
            traveller.get("passport_number"), traveller.get("passport_country"), pepper=passport_pepper
        ),
        company_name=company_name,
        seen_at=seen_at,
        raw=raw,
    )


GOLDEN_FIELDS = (
    "given_name",
    "family_name",
    "display_name",
    "email",
    "phone",
    "date_of_birth",
    "nationality",
    "language",
    "company_name",
)


@dataclass(frozen=True)
class FieldValue:
    value: Any
    source_system: str
    source_id: str
    last_seen: datetime


@dataclass(frozen=True)
class StoredRecord:
    """A source record as the repository returns it: normalised fields and when it was last seen."""

    source_system: str
    source_id: str
    fields: Mapping[str, Any]
    last_seen: datetime


def golden_record(records: Iterable[StoredRecord]) -> dict[str, FieldValue]:
    """Survivorship: each field takes the most recently seen non-empty value, with its source.

    Loyalty memberships are the union across sources.
    """
    ordered = sorted(records, key=lambda r: (r.last_seen, r.source_system, r.source_id), reverse=True)
    golden: dict[str, FieldValue] = {}
    for name in GOLDEN_FIELDS:
        for r in ordered:
            value = r.fields.get(name)
            if value not in (None, ""):
                golden[name] = FieldValue(value, r.source_system, r.source_id, r.last_seen)
                break
    loyalty: set[str] = set()
    for r in ordered:
        loyalty.update(r.fields.get("loyalty") or ())
    if loyalty and ordered:
        golden["loyalty"] = FieldValue(sorted(loyalty), ordered[0].source_system, ordered[0].source_id, ordered[0].last_seen)
    return golden


def golden_values(golden: Mapping[str, FieldValue]) -> dict[str, Any]:
    return {k: v.value for k, v in golden.items()}
