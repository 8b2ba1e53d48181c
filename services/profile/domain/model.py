"""The profile domain: source records and their match features (the golden record: survivorship.py).

Pure Python: no database, no broker. The service layer loads and stores these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.profile.domain import normalize
from services.profile.domain.addresses import AddressReading
from services.profile.domain.companies import company_key
from services.profile.domain.features import address_form
from services.profile.domain.identifiers import SealedIdentifier, employee_key
from services.profile.domain.matching import MatchFeatures, blocking_keys
from services.profile.domain.names import match_form, match_tokens
from services.profile.domain.survivorship import (  # the golden record's names, importable from here too
    AGENT_SOURCE,
    DEFAULT_TRUST,
    GOLDEN_FIELDS,
    NAME_FIELDS,
    RULES,
    SEALED,
    Correction,
    FieldValue,
    StoredRecord,
    golden_record,
    golden_values,
)

__all__ = [
    "AGENT_SOURCE",
    "CLEARABLE",
    "DEFAULT_TRUST",
    "GOLDEN_FIELDS",
    "NAME_FIELDS",
    "PASSPORT_VARIANTS",
    "RULES",
    "SEALED",
    "SEALED_RECEIVED",
    "Correction",
    "FieldValue",
    "Identifier",
    "SourceRecord",
    "StoredRecord",
    "golden_record",
    "golden_values",
]


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
    # Parts of the record (`restating.PARTS`) the source states the traveller no longer has.
    cleared: frozenset[str] = frozenset()
    # When the source last stated each part it did not state at `seen_at` (kept from earlier statements).
    stated_at: Mapping[str, datetime] = field(default_factory=dict)
    company_id: str | None = None  # the company resolved for an earlier statement of the record
    address_country: normalize.Normalized = normalize.MISSING
    home_time_zone: normalize.Normalized = normalize.MISSING
    home_address: AddressReading | None = None
    business_address: AddressReading | None = None
    employee_number: str | None = None  # as the source wrote it
    gender: str | None = None  # as the traveller stated it
    secondary_emails: tuple[normalize.Normalized, ...] = ()
    secondary_phones: tuple[normalize.Normalized, ...] = ()
    # Sensitive numbers: their keyed hashes only (domain/identifiers.py), never the number.
    national_id: SealedIdentifier | None = None
    known_traveller: SealedIdentifier | None = None
    redress: SealedIdentifier | None = None
    # The passport number's deletion-variant hashes (`identifiers.passport_variants`): one typo apart
    # is "one edit", not "different". Stored under `PASSPORT_VARIANTS` in the normalized fields.
    passport_variants: frozenset[str] = frozenset()

    @property
    def key(self) -> tuple[str, str]:
        return (self.source_system, self.source_id)

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
        """Fields received but invalid: kept as received and flagged (the flagged form of a birth date, an email,
        a phone or a loyalty number is compared for equality; other invalid values take no part in matching)."""
        out = {}
        for name, value in (
            ("email", self.email),
            ("phone", self.phone),
            ("date_of_birth", self.date_of_birth),
            ("nationality", self.nationality),
            ("address_country", self.address_country),
            ("home_time_zone", self.home_time_zone),
        ):
            if value.raw is not None and not value.valid:
                out[name] = value.problem or "invalid"
        for n in self.loyalty:
            if not n.valid:
                out[f"loyalty:{n.raw}"] = n.problem or "invalid"
        for name, reading in (("home_address", self.home_address), ("business_address", self.business_address)):
            if reading is not None and reading.problems:
                out[name] = "; ".join(reading.problems)
        for name, sealed in self.sealed_identifiers().items():
            if sealed.problem:
                out[SEALED_RECEIVED[name]] = sealed.problem
        for kind, values in (("secondary_emails", self.secondary_emails), ("secondary_phones", self.secondary_phones)):
            for n in values:
                if not n.valid:
                    out[f"{kind}:{n.raw}"] = n.problem or "invalid"
        return out

    def sealed_identifiers(self) -> dict[str, SealedIdentifier]:
        """The sensitive numbers the record holds, by kind (`SEALED_RECEIVED`'s keys)."""
        found = {"national_id": self.national_id, "known_traveller": self.known_traveller, "redress": self.redress}
        return {k: v for k, v in found.items() if v is not None}

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
            "address_country": self.address_country.value,
            "home_time_zone": self.home_time_zone.value,
            **self._extended_fields(),
        }

    def _extended_fields(self) -> dict[str, Any]:
        """Addresses, HR data, secondary contacts and sealed numbers: present only when stated (a
        record without them is stored as before)."""
        out: dict[str, Any] = {}
        for name, reading in (("home_address", self.home_address), ("business_address", self.business_address)):
            if reading is not None and not reading.address.empty:
                out[name] = reading.address.to_json()
        if self.employee_number:
            out["employee_number"] = self.employee_number
        if self.gender:
            out["gender"] = self.gender
        for name, values in (("secondary_emails", self.secondary_emails), ("secondary_phones", self.secondary_phones)):
            valid = sorted({n.value for n in values if n.valid and n.value})
            if valid:
                out[name] = valid
        if self.passport_variants:
            out[PASSPORT_VARIANTS] = sorted(self.passport_variants)
        sealed = self.sealed_identifiers()
        if sealed:
            out[SEALED] = {
                k: {"hash": v.hash, "variants": sorted(v.variants), "problem": v.problem} for k, v in sealed.items()
            }
        return out

    def _flagged(self) -> tuple[str, ...]:
        """Invalid identifiers kept for equality (`MatchFeatures.flagged`)."""
        values = [(kind, n) for kind, n in (("email", self.email), ("phone", self.phone)) if not n.valid]
        values += [("loyalty", n) for n in self.loyalty if not n.valid]
        return tuple(sorted(f"{kind}:{n.flagged}" for kind, n in values if n.flagged))

    def features(self) -> MatchFeatures:
        """What matching compares: match forms of valid values (and the flagged forms of invalid birth
        dates, emails, phones and loyalty numbers, for equality)."""
        given_tokens = match_tokens(self.given_name or "")
        email = normalize.email_match_key(self.email.value) if self.email.value else ""
        phone = self.phone.value or ""
        return MatchFeatures(
            given="".join(given_tokens),
            given_first=given_tokens[0] if given_tokens else "",
            family=match_form(self.family_name or ""),
            dob=self.date_of_birth.value or "",
            dob_flagged=(self.date_of_birth.flagged or "") if not self.date_of_birth.value else "",
            email=email,
            phone=phone,
            loyalty=tuple(sorted(n.value for n in self.loyalty if n.valid and n.value)),
            flagged=self._flagged(),
            other_emails=_others({normalize.email_match_key(n.value) for n in self.secondary_emails if n.value}, email),
            other_phones=_others({n.value for n in self.secondary_phones if n.value}, phone),
            passport=self.passport_hash or "",
            passport_variants=self.passport_variants if self.passport_hash else frozenset(),
            nationality=self.nationality.value or "",
            company=company_key(self.company_name) if self.company_name else "",
            home=_address_form(self.home_address),
            business=_address_form(self.business_address),
            employee=employee_key(self.employee_number, company_key(self.company_name) if self.company_name else None),
            national_id=self.national_id.hash[:32] if self.national_id else "",
            national_id_variants=self.national_id.variants if self.national_id else frozenset(),
            known_traveller=self.known_traveller.hash[:32] if self.known_traveller else "",
            known_traveller_variants=self.known_traveller.variants if self.known_traveller else frozenset(),
        )

    def blocking_keys(self) -> list[str]:
        return blocking_keys(self.features())


def _others(values: set[str], primary: str) -> tuple[str, ...]:
    return tuple(sorted(values - {primary}))


def _address_form(reading: AddressReading | None) -> tuple[str, ...]:
    if reading is None:
        return ()
    return address_form(reading.postcode_key, reading.street_key, reading.number_key, reading.city_key)


# The contract's names of the parts a source may state as removed, as `restating.PARTS` names them.
CLEARABLE = {
    "loyalty_numbers": "loyalty",
    "passport_number": "passport",
    "national_id_number": "national_id",
    "known_traveller_number": "known_traveller",
    "redress_number": "redress",
}


# The normalized fields' key of the passport number's deletion-variant hashes (API responses and exports leave
# them out, like `SEALED`).
PASSPORT_VARIANTS = "passport_variants"


# The received key of each kind of sealed number (stored under `SEALED`: API responses and exports leave it out).
SEALED_RECEIVED = {
    "national_id": "national_id_number",
    "known_traveller": "known_traveller_number",
    "redress": "redress_number",
}
