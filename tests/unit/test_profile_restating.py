"""A partial record never wipes what its source stated before: properties of restating and of
survivorship over restated records, and merge then unmerge as the identity on golden records."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.profile.domain.merging import CustomerState, MergeRecord, merge, unmerge
from services.profile.domain.model import (
    SourceRecord,
    StoredRecord,
    golden_record,
    golden_values,
)
from services.profile.domain.reading import source_record_from_traveller
from services.profile.domain.restating import PARTS, restate, restate_all, states, stored_record

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
FULL = {
    "given_name": "Ann",
    "family_name": "Lübs",
    "email": "ann.luebs@globex.example",
    "phone": "+49 30 1234567",
    "date_of_birth": "1985-04-12",
    "nationality": "DE",
    "language": "de",
    "passport_number": "C01X00T47",
    "loyalty_numbers": [{"programme": "LH", "number": "992001234567890"}],
}
OPTIONAL = ("email", "phone", "date_of_birth", "nationality", "language", "passport_number", "loyalty_numbers")
# Values of each optional field: valid, invalid (kept and flagged), or another valid one.
VARIANTS: dict[str, list[Any]] = {
    "email": ["ann.luebs@globex.example", "not-an-address", "ann@private.example"],
    "phone": ["+49 30 1234567", "12", "+44 20 7946 0958"],
    "date_of_birth": ["1985-04-12", "31/02/1985", "1985-04-21"],
    "nationality": ["DE", "Narnia", "Austria"],
    "language": ["de", "en"],
    "passport_number": ["C01X00T47", "X9"],
    "loyalty_numbers": [
        [{"programme": "LH", "number": "992001234567890"}],
        [{"programme": "BA", "number": "x"}],
        [{"programme": "BAEC", "number": "87654321"}],
    ],
}
COMPANY = {"name": "Globex GmbH"}


def record(traveller: dict[str, Any], *, at: datetime, company: dict[str, str] | None = None) -> SourceRecord:
    return source_record_from_traveller(
        source_system="gds",
        source_id="T-1",
        traveller=traveller,
        company_name=company["name"] if company else None,
        seen_at=at,
        phone_region="DE",
        passport_pepper="pepper",
    )


def present(r: SourceRecord) -> dict[str, Any]:
    """The record's usable values (what survivorship and the view see)."""
    return {k: v for k, v in r.normalized_fields().items() if v not in (None, "", [])}


def as_stored(r: SourceRecord) -> SourceRecord:
    """The record after a trip through the database (the form a later statement is restated over)."""
    normalized = {**r.normalized_fields(), "company_id": r.company_id}
    return stored_record(
        source_system=r.source_system,
        source_id=r.source_id,
        raw=r.raw,
        normalized=normalized,
        problems=r.problems(),
        passport_hash=r.passport_hash,
        stated_at=r.stated_at,
        seen_at=r.seen_at,
    )


travellers = st.fixed_dictionaries(
    {"given_name": st.sampled_from(["Ann", "ANN", "Anna"]), "family_name": st.sampled_from(["Lübs", "Luebs"])},
    optional={name: st.sampled_from(values) for name, values in VARIANTS.items()},
)


def test_the_issue_s_case_booking_then_trip_started_keeps_every_field() -> None:
    booked = record(FULL, at=T0, company=COMPANY)
    started = record({"given_name": "Ann", "family_name": "Lübs", "email": FULL["email"]}, at=T0 + timedelta(days=9))
    now = restate(as_stored(booked), started)
    assert present(now) == present(booked)
    assert now.features() == booked.features()  # matching keeps the evidence
    assert now.seen_at == started.seen_at
    assert now.stated_at["phone"] == T0  # and survivorship knows when each field was stated
    assert "email" not in now.stated_at


@settings(max_examples=300, deadline=None)
@given(first=travellers, later=travellers, gap=st.integers(0, 30), stored=st.booleans())
def test_a_record_that_states_fewer_fields_never_removes_a_field(
    first: dict[str, Any], later: dict[str, Any], gap: int, stored: bool
) -> None:
    before = record(first, at=T0, company=COMPANY)
    after = record(later, at=T0 + timedelta(days=gap))
    now = restate(as_stored(before) if stored else before, after)
    for name, value in present(before).items():
        if not states(after, part_of(name)):
            assert present(now).get(name) == value, name  # what the source does not state again stays
    for name, value in present(after).items():
        assert present(now)[name] == value  # and what it states now stands
    assert now.problems().items() >= after.problems().items()


def part_of(name: str) -> str:
    return next(part for part, (attributes, _, fields) in PARTS.items() if name in attributes or name in fields)


@settings(max_examples=200, deadline=None)
@given(first=travellers, later=travellers, gap=st.integers(1, 30))
def test_an_older_statement_arriving_late_changes_nothing_it_disagrees_with(
    first: dict[str, Any], later: dict[str, Any], gap: int
) -> None:
    newer = record(first, at=T0 + timedelta(days=gap))
    older = record(later, at=T0)
    now = restate(as_stored(newer), older)
    expected = {k: v for k, v in present(older).items() if not states(newer, part_of(k))} | present(newer)
    assert present(now) == expected
    assert now.seen_at == newer.seen_at


@settings(max_examples=100, deadline=None)
@given(cleared=st.sets(st.sampled_from(OPTIONAL), min_size=1))
def test_only_a_field_stated_as_removed_is_emptied(cleared: set[str]) -> None:
    before = record(FULL, at=T0)
    after = record({"given_name": "Ann", "family_name": "Lübs", "cleared": sorted(cleared)}, at=T0 + timedelta(1))
    now = restate(as_stored(before), after)
    renamed = {"loyalty_numbers": "loyalty", "passport_number": "passport_variants"}
    gone = {renamed.get(c, c) for c in cleared}
    assert set(present(before)) - set(present(now)) == gone
    assert ("passport_number" in cleared) == (now.passport_hash is None)
    assert not {k for k in now.raw if k in cleared}


def test_several_statements_in_one_batch_add_up_in_their_order() -> None:
    booked = record(FULL, at=T0, company=COMPANY)
    started = record({"given_name": "Ann", "family_name": "Lübs"}, at=T0 + timedelta(days=9))
    moved = record({"given_name": "Ann", "family_name": "Lübs", "phone": "+44 20 7946 0958"}, at=T0 + timedelta(10))
    *_, last = restate_all([booked, started, moved], {})
    assert present(last) == {**present(booked), "phone": "+442079460958"}
    assert last.company_name == "Globex GmbH"


def test_survivorship_compares_when_fields_were_stated_not_when_records_were_seen() -> None:
    # The gds record stated its phone on day 0 and was seen again (without a phone) on day 9;
    # the hotel stated another phone on day 5: the hotel's is the newer statement.
    booked = record(FULL, at=T0)
    started = record({"given_name": "Ann", "family_name": "Lübs"}, at=T0 + timedelta(days=9))
    gds = restate(as_stored(booked), started)
    hotel = StoredRecord("hotel", "H-1", {"phone": "+442079460958"}, T0 + timedelta(days=5))
    stored = StoredRecord("gds", "T-1", gds.normalized_fields(), gds.seen_at, gds.stated_at)
    golden = golden_record([stored, hotel])
    assert golden["phone"].value == "+442079460958"
    assert golden["date_of_birth"].last_seen == T0
    assert golden["given_name"].last_seen == T0 + timedelta(days=9)


_keys = st.frozensets(st.tuples(st.sampled_from(["gds", "crm", "web"]), st.sampled_from("12345")), max_size=4)


@settings(max_examples=200, deadline=None)
@given(ours=_keys, theirs=_keys, partial=st.sets(st.sampled_from(OPTIONAL)))
def test_merge_then_unmerge_is_the_identity_on_golden_records(
    ours: frozenset[tuple[str, str]], theirs: frozenset[tuple[str, str]], partial: set[str]
) -> None:
    """Both customers' golden records, partial statements included, are what they were before the merge."""
    theirs = theirs - ours
    statements: dict[tuple[str, str], StoredRecord] = {}
    for n, (system, sid) in enumerate(sorted(ours | theirs)):
        booked = replace(record(FULL, at=T0 + timedelta(n)), source_system=system, source_id=sid)
        later = {"given_name": "Ann", "family_name": "Lübs", **{k: v for k, v in FULL.items() if k in partial}}
        r = restate(as_stored(booked), replace(record(later, at=T0 + timedelta(n + 20)), source_system=system))
        statements[(system, sid)] = StoredRecord(system, sid, r.normalized_fields(), r.seen_at, r.stated_at)

    def golden_of(state: CustomerState) -> dict[str, Any]:
        return golden_values(golden_record([statements[k] for k in state.records]))

    survivor = CustomerState("cus_s", "active", None, 3, {}, None, ours, frozenset())
    survivor = replace(survivor, golden=golden_of(survivor))
    absorbed = CustomerState("cus_a", "active", None, 2, {}, None, theirs, frozenset())
    absorbed = replace(absorbed, golden=golden_of(absorbed))
    merged, gone, kept = merge(survivor, absorbed)
    assert golden_of(merged).keys() >= golden_of(survivor).keys() | golden_of(absorbed).keys()
    restored_s, restored_a = unmerge(merged, gone, MergeRecord.from_json(kept.to_json()))
    assert golden_of(restored_s) == golden_of(survivor)
    assert golden_of(restored_a) == golden_of(absorbed)
    assert restored_a.golden == golden_of(absorbed)
