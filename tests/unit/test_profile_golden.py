"""Survivorship, agent corrections, data quality, and merge/unmerge as pure state transitions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.profile.domain.merging import CustomerState, MergeError, MergeRecord, merge, unmerge
from services.profile.domain.model import Correction, StoredRecord, golden_record
from services.profile.domain.quality import assess

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rec(system: str, sid: str, days: int, **fields: object) -> StoredRecord:
    return StoredRecord(system, sid, fields, T0 + timedelta(days=days))


def test_each_field_follows_its_rule_and_keeps_provenance() -> None:
    records = [
        rec(
            "gds",
            "1",
            0,
            given_name="Ann",
            family_name="Lee",
            display_name="Ann Lee",
            email="old@x.example",
            date_of_birth="1985-04-12",
        ),
        rec(
            "hotel",
            "7",
            5,
            given_name="ANN",
            family_name="LEE",
            display_name="ANN LEE",
            email="new@x.example",
            date_of_birth="1985-12-04",
        ),
        rec(
            "car",
            "3",
            2,
            given_name="Ann",
            family_name="Lee",
            display_name="Ann Lee",
            date_of_birth="1985-04-12",
            loyalty=["BAEC:12345678"],
        ),
    ]
    golden = golden_record(records, trust={"gds": 90, "hotel": 40})
    assert golden["display_name"].value == "Ann Lee"
    assert (golden["display_name"].source_system, golden["display_name"].rule) == ("gds", "trust")
    assert golden["email"].value == "new@x.example"  # recency
    assert golden["email"].last_seen == T0 + timedelta(days=5)
    assert golden["date_of_birth"].value == "1985-04-12"  # two sources against one
    assert golden["date_of_birth"].rule == "frequency"
    assert golden["date_of_birth"].sources == 2
    assert golden["date_of_birth"].last_seen == T0 + timedelta(days=2)
    assert golden["loyalty"].value == ["BAEC:12345678"]


def test_agent_correction_wins_until_newer_verified_data_arrives() -> None:
    correction = Correction("email", "fixed@x.example", "agent-7", T0 + timedelta(days=10))
    older = [rec("gds", "1", 1, email="typo@x.example")]
    assert golden_record(older, corrections=[correction])["email"].value == "fixed@x.example"
    newer_unverified = [*older, rec("web", "2", 20, email="other@x.example")]
    assert (
        golden_record(newer_unverified, corrections=[correction], trust={"web": 30})["email"].value == "fixed@x.example"
    )
    newer_verified = [*older, rec("hr-feed", "9", 20, email="moved@y.example")]
    golden = golden_record(newer_verified, corrections=[correction], trust={"hr-feed": 95})
    assert golden["email"].value == "moved@y.example"


def test_quality_scores_completeness_conflicts_staleness_and_bounces() -> None:
    records = [
        rec(
            "gds",
            "1",
            0,
            given_name="Ann",
            family_name="Lee",
            display_name="Ann Lee",
            email="a@x.example",
            date_of_birth="1985-04-12",
        ),
        rec("car", "2", 1, given_name="Ann", family_name="Lee", display_name="Ann Lee", date_of_birth="1986-04-12"),
    ]
    golden = golden_record(records)
    report = assess(golden, records, problems=1, email_deliverable=False, now=T0 + timedelta(days=1000))
    assert report.conflicts == {"date_of_birth": ["1985-04-12", "1986-04-12"]}
    assert report.stale == ["email"]
    assert not report.email_deliverable
    assert 0 < report.score < 0.6
    assert set(report.tasks()) == {"conflict:date_of_birth", "stale:email", "email-undeliverable", "invalid-values"}
    clean = assess(golden, records[:1], problems=0, email_deliverable=True, now=T0)
    assert clean.score > report.score


_keys = st.frozensets(
    st.tuples(st.sampled_from(["gds", "hotel", "car"]), st.text("abc123", min_size=1, max_size=3)), max_size=6
)


def _state(
    cid: str, records: frozenset[tuple[str, str]], bookings: frozenset[tuple[str, str]], version: int
) -> CustomerState:
    return CustomerState(
        customer_id=cid,
        status="active",
        merged_into=None,
        version=version,
        golden={"display_name": {"value": cid}},
        company_id=None,
        records=records,
        bookings=bookings,
        corrections=({"field": "email", "value": f"{cid}@x.example", "actor": "a", "at": T0.isoformat()},),
    )


@settings(max_examples=300, deadline=None)
@given(_keys, _keys, _keys, _keys, st.integers(1, 50), st.integers(1, 50))
def test_merge_then_unmerge_is_the_identity(
    rs: frozenset[tuple[str, str]],
    ra: frozenset[tuple[str, str]],
    bs: frozenset[tuple[str, str]],
    ba: frozenset[tuple[str, str]],
    vs: int,
    va: int,
) -> None:
    ra, ba = ra - rs, ba - bs  # a source record or booking belongs to one customer
    survivor, absorbed = _state("cus_s", rs, bs, vs), _state("cus_a", ra, ba, va)
    merged, gone, record = merge(survivor, absorbed)
    assert merged.records == rs | ra
    assert gone.status == "merged"
    assert gone.merged_into == "cus_s"
    stored = MergeRecord.from_json(record.to_json())  # the pre-state survives its trip through the database
    restored_s, restored_a = unmerge(merged, gone, stored)
    assert replace(restored_s, version=vs) == survivor
    assert replace(restored_a, version=va) == absorbed
    assert restored_s.version > merged.version
    assert restored_a.version > va


def test_unmerge_refuses_when_records_moved_on() -> None:
    survivor = _state("cus_s", frozenset({("gds", "1")}), frozenset(), 1)
    absorbed = _state("cus_a", frozenset({("gds", "2")}), frozenset(), 1)
    merged, gone, record = merge(survivor, absorbed)
    moved = replace(merged, records=frozenset({("gds", "1")}))
    with pytest.raises(MergeError):
        unmerge(moved, gone, record)
    with pytest.raises(MergeError):
        merge(survivor, survivor)


_value = st.one_of(st.none(), st.just(""), st.text(min_size=1, max_size=6))


@settings(max_examples=200, deadline=None)
@given(
    fields=st.fixed_dictionaries(
        {
            "given_name": _value,
            "family_name": _value,
            "display_name": st.one_of(_value, st.just("(unnamed)")),
            "email": _value,
            "phone": _value,
            "date_of_birth": _value,
            "nationality": _value,
            "language": _value,
            "company_name": _value,
            "loyalty": st.lists(st.text(min_size=1, max_size=4), max_size=3),
        }
    )
)
def test_golden_record_of_one_record_takes_the_general_rules(fields: dict[str, object]) -> None:
    """The single-record shortcut (every new customer) gives what the general survivorship gives."""
    from services.profile.domain.survivorship import _golden_of_many, _golden_of_one

    record = StoredRecord("crm", "1", fields, datetime(2025, 1, 2, tzinfo=UTC))
    assert _golden_of_one(record) == _golden_of_many([record], {}, (), 80)
