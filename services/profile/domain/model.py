"""The profile domain: source records, their match features, and the golden record.

Pure Python: no database, no broker. The service layer loads and stores these.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from services.profile.domain import normalize
from services.profile.domain.companies import company_key
from services.profile.domain.matching import MatchFeatures, blocking_keys
from services.profile.domain.names import match_form, match_tokens


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
        """Fields received but invalid: kept as received and flagged (a birth date's flagged form is compared
        for equality; other invalid values take no part in matching)."""
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
            "address_country": self.address_country.value,
            "home_time_zone": self.home_time_zone.value,
        }

    def features(self) -> MatchFeatures:
        """What matching compares: match forms of valid values (and a flagged birth date, for equality)."""
        given_tokens = match_tokens(self.given_name or "")
        return MatchFeatures(
            given="".join(given_tokens),
            given_first=given_tokens[0] if given_tokens else "",
            family=match_form(self.family_name or ""),
            dob=self.date_of_birth.value or "",
            dob_flagged=(self.date_of_birth.flagged or "") if not self.date_of_birth.value else "",
            email=normalize.email_match_key(self.email.value) if self.email.value else "",
            phone=self.phone.value or "",
            loyalty=tuple(sorted(n.value for n in self.loyalty if n.valid and n.value)),
            passport=self.passport_hash or "",
            nationality=self.nationality.value or "",
            company=company_key(self.company_name) if self.company_name else "",
        )

    def blocking_keys(self) -> list[str]:
        return blocking_keys(self.features())


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
    raw = {k: v for k, v in traveller.items() if k not in ("passport_number", "cleared") and v not in (None, (), [])}
    if traveller.get("passport_number"):
        raw["passport_number"] = "(hashed)"
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
        company_name=company_name,
        seen_at=seen_at,
        raw=raw,
        cleared=frozenset(CLEARABLE.get(name, name) for name in traveller.get("cleared") or ()),
        address_country=normalize.country(traveller.get("address_country")),
        home_time_zone=normalize.time_zone(traveller.get("home_time_zone")),
    )


# The contract's names of the parts a source may state as removed, as `restating.PARTS` names them.
CLEARABLE = {"loyalty_numbers": "loyalty", "passport_number": "passport"}


# --- golden record and survivorship ---------------------------------------------------------

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
)
NAME_FIELDS = ("given_name", "family_name", "display_name")
# Which survivorship rule decides each field. Names come from one record, the most trusted.
RULES: dict[str, str] = {
    "email": "recency",
    "phone": "recency",
    "language": "recency",
    "company_name": "recency",
    "address_country": "recency",
    "home_time_zone": "recency",
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
    for name in GOLDEN_FIELDS:
        if name in NAME_FIELDS:
            continue
        having = [r for r in recs if _present(r.fields.get(name))]
        if not having:
            continue
        counts = Counter(r.fields[name] for r in having)
        rule = RULES.get(name, "recency")
        if rule == "frequency":
            chosen = max(
                having, key=lambda r: (counts[r.fields[name]], t(r), r.seen(name), r.source_system, r.source_id)
            )
        else:
            chosen = max(having, key=lambda r: (r.seen(name), t(r), r.source_system, r.source_id))
        value = chosen.fields[name]
        seen = max(r.seen(name) for r in having if r.fields[name] == value)
        golden[name] = FieldValue(value, chosen.source_system, chosen.source_id, seen, rule, counts[value])
    loyalty: set[str] = set()
    for r in recs:
        loyalty.update(r.fields.get("loyalty") or ())
    if loyalty:
        newest = max(recs, key=lambda r: (r.seen("loyalty"), r.source_system, r.source_id))
        golden["loyalty"] = FieldValue(
            sorted(loyalty), newest.source_system, newest.source_id, newest.seen("loyalty"), "union", len(recs)
        )
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
    return golden


def _golden_of_one(r: StoredRecord) -> dict[str, FieldValue]:
    """`golden_record` of a single record without corrections (a new customer): every present value, seen once."""
    golden: dict[str, FieldValue] = {}
    f = r.fields
    display = f.get("display_name")
    if _present(display) and display != "(unnamed)":
        for name in NAME_FIELDS:
            if _present(f.get(name)):
                golden[name] = FieldValue(f[name], r.source_system, r.source_id, r.seen("display_name"), "trust", 1)
    for name in GOLDEN_FIELDS:
        if name not in NAME_FIELDS and _present(f.get(name)):
            rule = RULES.get(name, "recency")
            golden[name] = FieldValue(f[name], r.source_system, r.source_id, r.seen(name), rule, 1)
    if f.get("loyalty"):
        golden["loyalty"] = FieldValue(
            sorted(set(f["loyalty"])), r.source_system, r.source_id, r.seen("loyalty"), "union", 1
        )
    return golden


def golden_values(golden: Mapping[str, FieldValue]) -> dict[str, Any]:
    return {k: v.value for k, v in golden.items()}
