"""A traveller as a source sent it, read into a `SourceRecord`: normalised, sensitive numbers sealed.

Sensitive numbers (passport, national identity, known-traveller and redress numbers) are
sealed here, on receipt, with the passport pepper: the record keeps only their keyed hashes
(`domain/identifiers.py`), and its `raw` copy says "(hashed)" where the number was.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.profile.domain import normalize
from services.profile.domain.addresses import AddressReading, read_address
from services.profile.domain.identifiers import (
    SealedIdentifier,
    known_traveller_problem,
    national_id_problem,
    passport_variants,
    redress_problem,
    seal,
)
from services.profile.domain.model import CLEARABLE, SourceRecord

# Received keys of sensitive numbers: never kept as received.
SEALED_NUMBERS = ("passport_number", "national_id_number", "known_traveller_number", "redress_number")
ADDRESS_PARTS = ("line", "street", "house_number", "postcode", "city", "region", "country")


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
    raw = {k: v for k, v in traveller.items() if k not in (*SEALED_NUMBERS, "cleared") and v not in (None, (), [])}
    for key in SEALED_NUMBERS:
        if traveller.get(key):
            raw[key] = "(hashed)"
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
            normalize.loyalty_number(str(ln["programme"]), str(ln["number"]))
            for ln in traveller.get("loyalty_numbers") or ()
        ),
        passport_hash=normalize.passport_hash(
            traveller.get("passport_number"), traveller.get("passport_country"), pepper=passport_pepper
        ),
        passport_variants=passport_variants(traveller.get("passport_number"), pepper=passport_pepper),
        company_name=company_name,
        seen_at=seen_at,
        raw=raw,
        cleared=frozenset(CLEARABLE.get(name, name) for name in traveller.get("cleared") or ()),
        address_country=normalize.country(traveller.get("address_country")),
        home_time_zone=normalize.time_zone(traveller.get("home_time_zone")),
        home_address=_address(traveller.get("home_address")),
        business_address=_address(traveller.get("business_address")),
        employee_number=_text(traveller.get("employee_number")),
        national_id=_national_id(traveller, passport_pepper),
        known_traveller=_sealed(
            traveller.get("known_traveller_number"), "known_traveller", known_traveller_problem, passport_pepper
        ),
        redress=_sealed(traveller.get("redress_number"), "redress", redress_problem, passport_pepper),
        secondary_emails=tuple(normalize.email(str(e)) for e in traveller.get("secondary_emails") or () if e),
        secondary_phones=tuple(
            normalize.phone(str(p), region=region) for p in traveller.get("secondary_phones") or () if p
        ),
        gender=_text(traveller.get("gender")),
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return " ".join(str(value).split()) or None


def _address(value: Any) -> AddressReading | None:
    if not isinstance(value, Mapping):
        return None
    parts = {k: (str(value[k]) if value.get(k) not in (None, "") else None) for k in ADDRESS_PARTS}
    return read_address(**parts)


def _national_id(traveller: Mapping[str, Any], pepper: str) -> SealedIdentifier | None:
    number = traveller.get("national_id_number")
    found = normalize.country(traveller.get("national_id_country"))
    if traveller.get("national_id_country") and not found.valid:
        problem: str | None = "issuing country unknown"
    else:
        problem = national_id_problem(number, found.value)
    # Not qualified by the issuing country (like the passport hash): sources often leave it out.
    return seal(number, kind="national_id", pepper=pepper, problem=problem)


def _sealed(number: Any, kind: str, check: Any, pepper: str) -> SealedIdentifier | None:
    text = str(number) if number else None
    return seal(text, kind=kind, pepper=pepper, problem=check(text))
