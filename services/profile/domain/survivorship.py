"""The golden record: survivorship over a customer's stored records, with each field's provenance.

Pure Python: no database, no broker (`domain/golden.py` turns its result into rows and snapshots).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from services.profile.domain.names import match_form

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
    "address_country",
    "home_time_zone",  # as stated; derived when none is (domain/timezones.py)
    "employee_number",
    "gender",
)
# Whole addresses (`PostalAddress.to_json()`): one record's address, never mixed field by field.
# Not correctable by an agent as one text value (not in GOLDEN_FIELDS).
ADDRESS_FIELDS = ("home_address", "business_address")
# Unions: every valid value the sources gave beside the chosen one (`other_contacts`).
OTHER_EMAILS, OTHER_PHONES = "other_emails", "other_phones"
# Which sensitive numbers the records hold, by kind ("national_id"…): never a number or its hash.
IDENTITY_NUMBERS = "identity_numbers_on_file"
SEALED = "sealed"  # the stored records' key of their keyed hashes (SourceRecord.normalized_fields)
NAME_FIELDS = ("given_name", "family_name", "display_name")
# Which survivorship rule decides each field. Names come from one record, the most trusted.
RULES: dict[str, str] = {
    "email": "recency",
    "phone": "recency",
    "language": "recency",
    "company_name": "recency",
    "address_country": "recency",
    "home_time_zone": "recency",
    "employee_number": "recency",
    "gender": "recency",
    "home_address": "recency",
    "business_address": "recency",
    "date_of_birth": "frequency",
    "nationality": "frequency",
}
DEFAULT_TRUST = 50
AGENT_SOURCE = "agent"


class FieldValue(NamedTuple):
    """One golden field: its value, the record it came from, when it was last seen, by which rule.

    Immutable; a named tuple, several times cheaper to build than a frozen dataclass (a golden
    record builds one per field, for every customer a batch creates or touches)."""

    value: Any
    source_system: str
    source_id: str
    last_seen: datetime
    rule: str = "recency"
    sources: int = 1


@dataclass(frozen=True)
class StoredRecord:
    """A source record as the repository returns it: normalised fields and when it was last seen.

    `stated_at`: when the source last stated the fields it did not state when last seen (a
    record restated without them keeps them, with the time they were stated)."""

    source_system: str
    source_id: str
    fields: Mapping[str, Any]
    last_seen: datetime
    stated_at: Mapping[str, datetime] = field(default_factory=dict)

    def seen(self, name: str) -> datetime:
        """When the source last stated golden field `name`."""
        return self.stated_at.get(name, self.last_seen) if self.stated_at else self.last_seen


@dataclass(frozen=True)
class Correction:
    """An agent's correction of one golden field."""

    field: str
    value: Any
    actor: str
    at: datetime


def _present(value: Any) -> bool:
    return value not in (None, "", [], ())


def golden_record(
    records: Iterable[StoredRecord],
    *,
    trust: Mapping[str, int] | None = None,
    corrections: Iterable[Correction] = (),
    verified_trust: int = 80,
) -> dict[str, FieldValue]:
    """Survivorship: each field's value, the source it came from and when it was last seen.

    - names (given, family, display, from one record): highest source trust, then the most
      frequent spelling, then the most recent;
    - contact data, language, company: the most recently seen, trust breaking ties;
    - date of birth, nationality: the value most sources agree on, then trust, then recency;
    - loyalty memberships: the union over all sources.
    An agent's correction wins until a verified source (trust >= verified_trust) sends a
    different value for that field after the correction.
    """
    trust = trust or {}
    recs = sorted(records, key=lambda r: (r.source_system, r.source_id))
    corrections = tuple(corrections)
    if len(recs) == 1 and not corrections:
        return _golden_of_one(recs[0])
    return _golden_of_many(recs, trust, corrections, verified_trust)


def _golden_of_many(
    recs: list[StoredRecord], trust: Mapping[str, int], corrections: Iterable[Correction], verified_trust: int
) -> dict[str, FieldValue]:
    """`golden_record` in general (records sorted by source)."""

    def t(r: StoredRecord) -> int:
        return trust.get(r.source_system, DEFAULT_TRUST)

    golden: dict[str, FieldValue] = {}
    # Names: pick one record so given and family names stay a pair.
    named = [r for r in recs if _present(r.fields.get("display_name")) and r.fields.get("display_name") != "(unnamed)"]
    if named:
        pair_count = Counter(
            (match_form(r.fields.get("given_name") or ""), match_form(r.fields.get("family_name") or "")) for r in named
        )

        def name_rank(r: StoredRecord) -> tuple[int, int, datetime, str, str]:
            pair = (match_form(r.fields.get("given_name") or ""), match_form(r.fields.get("family_name") or ""))
            return (t(r), pair_count[pair], r.seen("display_name"), r.source_system, r.source_id)

        best = max(named, key=name_rank)
        pair = (match_form(best.fields.get("given_name") or ""), match_form(best.fields.get("family_name") or ""))
        seen = max(
            r.seen("display_name")
            for r in named
            if (match_form(r.fields.get("given_name") or ""), match_form(r.fields.get("family_name") or "")) == pair
        )
        for name in NAME_FIELDS:
            if _present(best.fields.get(name)):
                golden[name] = FieldValue(
                    best.fields[name], best.source_system, best.source_id, seen, "trust", pair_count[pair]
                )
    for name in (*GOLDEN_FIELDS, *ADDRESS_FIELDS):
        if name in NAME_FIELDS:
            continue
        having = [r for r in recs if _present(r.fields.get(name))]
        if not having:
            continue
        canon = _canonical if name in ADDRESS_FIELDS else None  # dicts: counted by a canonical key
        counts = Counter(r.fields[name] if canon is None else canon(r.fields[name]) for r in having)
        rule = RULES.get(name, "recency")
        if rule == "frequency":
            chosen = max(
                having, key=lambda r: (counts[r.fields[name]], t(r), r.seen(name), r.source_system, r.source_id)
            )
        else:
            chosen = max(having, key=lambda r: (r.seen(name), t(r), r.source_system, r.source_id))
        value = chosen.fields[name]
        seen = max(r.seen(name) for r in having if r.fields[name] == value)
        count = counts[value if canon is None else canon(value)]
        golden[name] = FieldValue(value, chosen.source_system, chosen.source_id, seen, rule, count)
    loyalty: set[str] = set()
    for r in recs:
        loyalty.update(r.fields.get("loyalty") or ())
    if loyalty:
        newest = max(recs, key=lambda r: (r.seen("loyalty"), r.source_system, r.source_id))
        golden["loyalty"] = FieldValue(
            sorted(loyalty), newest.source_system, newest.source_id, newest.seen("loyalty"), "union", len(recs)
        )
    golden.update(extended_unions(recs))
    for c in sorted(corrections, key=lambda c: c.at):
        newer_verified = [
            r
            for r in recs
            if r.seen(c.field) > c.at
            and t(r) >= verified_trust
            and _present(r.fields.get(c.field))
            and r.fields.get(c.field) != c.value
        ]
        if newer_verified:
            continue
        golden[c.field] = FieldValue(c.value, AGENT_SOURCE, c.actor, c.at, "agent-correction", 1)
    return with_other_contacts(golden, recs)


def _golden_of_one(r: StoredRecord) -> dict[str, FieldValue]:
    """`golden_record` of a single record without corrections (a new customer): every present value, seen once."""
    golden: dict[str, FieldValue] = {}
    f = r.fields
    display = f.get("display_name")
    if _present(display) and display != "(unnamed)":
        for name in NAME_FIELDS:
            if _present(f.get(name)):
                golden[name] = FieldValue(f[name], r.source_system, r.source_id, r.seen("display_name"), "trust", 1)
    for name in (*GOLDEN_FIELDS, *ADDRESS_FIELDS):
        if name not in NAME_FIELDS and _present(f.get(name)):
            rule = RULES.get(name, "recency")
            golden[name] = FieldValue(f[name], r.source_system, r.source_id, r.seen(name), rule, 1)
    if f.get("loyalty"):
        golden["loyalty"] = FieldValue(
            sorted(set(f["loyalty"])), r.source_system, r.source_id, r.seen("loyalty"), "union", 1
        )
    if f.get(SEALED) or f.get("secondary_emails") or f.get("secondary_phones"):  # one record's only unions
        golden.update(extended_unions([r]))
        return with_other_contacts(golden, [r])
    return golden


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def extended_unions(recs: list[StoredRecord]) -> dict[str, FieldValue]:
    """Which kinds of sensitive number the records hold (never a number or its hash), newest first."""
    holding = [r for r in recs if r.fields.get(SEALED)]
    if not holding:
        return {}
    kinds = sorted({k for r in holding for k in r.fields[SEALED]})
    newest = max(holding, key=lambda r: (r.seen(SEALED), r.source_system, r.source_id))
    return {
        IDENTITY_NUMBERS: FieldValue(
            kinds, newest.source_system, newest.source_id, newest.seen(SEALED), "union", len(holding)
        )
    }


def with_other_contacts(golden: Mapping[str, FieldValue], recs: Iterable[StoredRecord]) -> dict[str, FieldValue]:
    """`golden` with `other_emails` / `other_phones`: the union of every valid secondary value and
    every primary value not chosen (like loyalty memberships), from the newest record giving one.
    Called again when the chosen email changes (domain/contacts.py)."""
    out = dict(golden)
    records = list(recs)
    pairs = ((OTHER_EMAILS, "email", "secondary_emails"), (OTHER_PHONES, "phone", "secondary_phones"))
    for union, primary, secondary in pairs:
        chosen = out[primary].value if primary in out else None
        giving: list[StoredRecord] = []
        values: set[str] = set()
        for r in records:
            found = {v for v in (r.fields.get(primary), *(r.fields.get(secondary) or ())) if v and v != chosen}
            if found:
                values |= found
                giving.append(r)
        if not values:
            out.pop(union, None)
            continue
        newest = max(giving, key=lambda r: (r.seen(secondary), r.source_system, r.source_id))
        out[union] = FieldValue(
            sorted(values), newest.source_system, newest.source_id, newest.seen(secondary), "union", len(giving)
        )
    return out


def golden_values(golden: Mapping[str, FieldValue]) -> dict[str, Any]:
    return {k: v.value for k, v in golden.items()}
