"""A source record stated again: what the source did not send is "not stated", never "now empty".

Booking systems send the traveller with every event, often with less than they know: a
trip-started event may carry only a name and an email where the booking carried phone, date
of birth, nationality and language. Each later statement of a source record therefore
changes only the parts it states; the others keep their values (and the time they were
stated, which survivorship's recency uses). A part is emptied only on purpose: a source that
lists it in the traveller's `cleared` parts, or an agent's correction of the golden record.

Statements are applied in the order they happened: a part keeps a value stated later than
the new statement (events of one traveller may arrive out of order from two partitions).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from services.profile.domain import normalize
from services.profile.domain.addresses import AddressReading, reading_of
from services.profile.domain.identifiers import SealedIdentifier
from services.profile.domain.model import PASSPORT_VARIANTS, SEALED, SourceRecord

# Each part a source states as a whole: the record's attributes, the received keys, the golden fields.
_Part = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
PARTS: dict[str, _Part] = {
    "name": (
        ("given_name", "family_name", "display_name"),
        ("given_name", "family_name", "full_name", "title"),
        ("given_name", "family_name", "display_name"),
    ),
    "email": (("email",), ("email",), ("email",)),
    "phone": (("phone",), ("phone",), ("phone",)),
    "date_of_birth": (("date_of_birth",), ("date_of_birth",), ("date_of_birth",)),
    "nationality": (("nationality",), ("nationality",), ("nationality",)),
    "language": (("language",), ("language",), ("language",)),
    "loyalty": (("loyalty",), ("loyalty_numbers",), ("loyalty",)),
    "passport": (("passport_hash", "passport_variants"), ("passport_number", "passport_country"), ("passport",)),
    "address_country": (("address_country",), ("address_country",), ("address_country",)),
    "home_time_zone": (("home_time_zone",), ("home_time_zone",), ("home_time_zone",)),
    "home_address": (("home_address",), ("home_address",), ("home_address",)),
    "business_address": (("business_address",), ("business_address",), ("business_address",)),
    "employee_number": (("employee_number",), ("employee_number",), ("employee_number",)),
    "gender": (("gender",), ("gender",), ("gender",)),
    "secondary_emails": (("secondary_emails",), ("secondary_emails",), ("secondary_emails",)),
    "secondary_phones": (("secondary_phones",), ("secondary_phones",), ("secondary_phones",)),
    # Sensitive numbers: their keyed hashes (the stated time under the golden name `sealed.<kind>`).
    "national_id": (("national_id",), ("national_id_number", "national_id_country"), ("sealed.national_id",)),
    "known_traveller": (("known_traveller",), ("known_traveller_number",), ("sealed.known_traveller",)),
    "redress": (("redress",), ("redress_number",), ("sealed.redress",)),
    # The booking's company (not part of the traveller as received).
    "company": (("company_name", "company_id"), (), ("company_name",)),
}


def states(record: SourceRecord, part: str) -> bool:
    """Whether the record states `part` (a value, valid or not, was sent)."""
    if part == "name":
        return True  # every record names its traveller (the contract requires it)
    value = getattr(record, PARTS[part][0][0])
    if isinstance(value, normalize.Normalized):
        return value.raw is not None
    return value not in (None, "", (), [])


def restate(before: SourceRecord | None, after: SourceRecord) -> SourceRecord:
    """`after` as the source's latest statement of a record it stated as `before` (same source record).

    Parts `after` states or clears take its values if it is at least as recent as their last
    statement; every other part keeps `before`'s. Returns `after` itself when nothing is kept.
    """
    if before is None:
        return after
    seen_at = max(before.seen_at, after.seen_at)
    kept: dict[str, Any] = {}
    raw = dict(after.raw)
    stated_at: dict[str, datetime] = {}
    for part, (attributes, received, fields) in PARTS.items():
        earlier = _stated_at(before, part)
        if (states(after, part) or part in after.cleared) and after.seen_at >= earlier:
            if after.seen_at < seen_at or not states(after, part):  # a removal keeps its time
                stated_at.update(dict.fromkeys(fields, after.seen_at))
            continue
        kept.update({a: getattr(before, a) for a in attributes})
        for key in received:
            raw.pop(key, None)
            if key in before.raw:
                raw[key] = before.raw[key]
        if earlier < seen_at and earlier != _NEVER:
            stated_at.update(dict.fromkeys(fields, earlier))
    if not kept and not stated_at and seen_at == after.seen_at:
        return after
    return dataclasses.replace(after, **kept, raw=raw, seen_at=seen_at, stated_at=stated_at)


def restate_all(records: Sequence[SourceRecord], stored: Mapping[tuple[str, str], SourceRecord]) -> list[SourceRecord]:
    """Each record as the latest statement of its source record: restated over the stored record
    and over the records before it in `records` (several events of one traveller in a batch)."""
    latest = dict(stored)
    out = []
    for record in records:
        restated = restate(latest.get(record.key), record)
        latest[record.key] = restated
        out.append(restated)
    return out


_NEVER = datetime.min.replace(tzinfo=UTC)


def _stated_at(record: SourceRecord, part: str) -> datetime:
    """When the record's source last stated `part` (its value, or its removal); `_NEVER` if it never did."""
    at = record.stated_at.get(PARTS[part][2][0])
    if at is not None:
        return at
    return record.seen_at if states(record, part) else _NEVER


def stored_record(
    *,
    source_system: str,
    source_id: str,
    raw: Mapping[str, Any],
    normalized: Mapping[str, Any],
    problems: Mapping[str, str],
    passport_hash: str | None,
    stated_at: Mapping[str, datetime],
    seen_at: datetime,
) -> SourceRecord:
    """A stored source record as the `SourceRecord` its statements add up to (to restate it)."""

    def value(name: str) -> normalize.Normalized:
        received = raw.get(name)
        if received is None:
            return normalize.MISSING
        stored = normalized.get(name)
        problem = problems.get(name)
        if problem is not None and name == "date_of_birth":
            return normalize.birth_date(str(received))  # with its flagged form, compared for equality
        flagged = None
        if problem is not None and name in ("email", "phone"):  # the flagged form (region-free for phones)
            flagged = (normalize.email if name == "email" else normalize.phone)(str(received)).flagged
        return normalize.Normalized(
            raw=str(received),
            value=stored,
            valid=stored is not None and problem is None,
            problem=problem,
            flagged=flagged,
        )

    def listed(name: str) -> tuple[normalize.Normalized, ...]:
        """A list part: its valid values, and the invalid ones as their problems name them."""
        values = [normalize.Normalized(raw=v, value=v, valid=True) for v in normalized.get(name) or ()]
        values += [invalid(name, k.partition(":")[2], p) for k, p in problems.items() if k.startswith(f"{name}:")]
        return tuple(values)

    def invalid(name: str, received: str, problem: str) -> normalize.Normalized:
        if name == "loyalty":  # with its flagged form, compared for equality
            programme, _, number = received.partition(":")
            again = normalize.loyalty_number(programme, number)
            if not again.valid:
                return again
        return normalize.Normalized(raw=received, value=None, valid=False, problem=problem)

    def address(name: str) -> AddressReading | None:
        if name not in normalized and name not in problems:
            return None
        return reading_of(normalized.get(name), tuple(problems[name].split("; ")) if name in problems else ())

    sealed: Mapping[str, Mapping[str, Any]] = normalized.get(SEALED) or {}

    def identifier(kind: str) -> SealedIdentifier | None:
        found = sealed.get(kind)
        if found is None:
            return None
        return SealedIdentifier(str(found["hash"]), frozenset(found.get("variants") or ()), found.get("problem"))

    return SourceRecord(
        source_system=source_system,
        source_id=source_id,
        given_name=normalized.get("given_name"),
        family_name=normalized.get("family_name"),
        display_name=normalized.get("display_name") or "(unnamed)",
        email=value("email"),
        phone=value("phone"),
        date_of_birth=value("date_of_birth"),
        nationality=value("nationality"),
        language=normalized.get("language"),
        loyalty=listed("loyalty"),
        passport_hash=passport_hash,
        # Records stored before passports had variants have none until their source states the number again.
        passport_variants=frozenset(normalized.get(PASSPORT_VARIANTS) or ()) if passport_hash else frozenset(),
        company_name=normalized.get("company_name"),
        seen_at=seen_at,
        raw=dict(raw),
        stated_at=dict(stated_at),
        company_id=normalized.get("company_id"),
        address_country=value("address_country"),
        home_time_zone=value("home_time_zone"),
        home_address=address("home_address"),
        business_address=address("business_address"),
        employee_number=normalized.get("employee_number"),
        gender=normalized.get("gender"),
        secondary_emails=listed("secondary_emails"),
        secondary_phones=listed("secondary_phones"),
        national_id=identifier("national_id"),
        known_traveller=identifier("known_traveller"),
        redress=identifier("redress"),
    )
