"""What real travel profiles and HR feeds carry: addresses, employee number, identity numbers
(sealed), secondary contacts and gender — read, restated, stored, survived and published."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.profile.domain.contacts import with_business_contacts
from services.profile.domain.golden import golden_to_json, snapshot_json
from services.profile.domain.model import SourceRecord, StoredRecord, golden_record, golden_values
from services.profile.domain.reading import source_record_from_traveller
from services.profile.domain.resolution import ProfileConfig
from services.profile.domain.restating import PARTS, restate, stored_record
from services.profile.service_layer import bulk

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NAME = {"given_name": "Ann", "family_name": "Lübs"}
NATIONAL_ID = "65929970489"  # a valid German tax identification number (IdNr)
KTN = "TT1234567"
REDRESS = "1234567"
EXTENDED: dict[str, Any] = {
    "home_address": {"line": "Hauptstr. 5, 10115 Berlin", "country": "DE"},
    "business_address": {
        "street": "1 Main Street",
        "city": "Springfield",
        "region": "IL",
        "postcode": "62704",
        "country": "US",
    },
    "employee_number": "E-01234",
    "national_id_number": NATIONAL_ID,
    "national_id_country": "DE",
    "known_traveller_number": KTN,
    "redress_number": REDRESS,
    "secondary_emails": ["ann@private.example", "not-an-address"],
    "secondary_phones": ["+44 20 7946 0958"],
    "gender": "female",
}
SECRETS = (NATIONAL_ID, KTN, REDRESS)
# Each new part, the traveller key a source states it by, and its contract name to clear it.
NEW_PARTS = {
    "home_address": "home_address",
    "business_address": "business_address",
    "employee_number": "employee_number",
    "gender": "gender",
    "secondary_emails": "secondary_emails",
    "secondary_phones": "secondary_phones",
    "national_id": "national_id_number",
    "known_traveller": "known_traveller_number",
    "redress": "redress_number",
}


def record(traveller: dict[str, Any], *, at: datetime = T0, source: tuple[str, str] = ("gds", "T-1")) -> SourceRecord:
    return source_record_from_traveller(
        source_system=source[0],
        source_id=source[1],
        traveller={**NAME, **traveller},
        company_name=None,
        seen_at=at,
        phone_region="DE",
        passport_pepper="pepper",
    )


def as_stored(r: SourceRecord) -> SourceRecord:
    return stored_record(
        source_system=r.source_system,
        source_id=r.source_id,
        raw=json.loads(json.dumps(r.raw)),
        normalized=json.loads(json.dumps({**r.normalized_fields(), "company_id": r.company_id})),
        problems=r.problems(),
        passport_hash=r.passport_hash,
        stated_at=r.stated_at,
        seen_at=r.seen_at,
    )


def stored(r: SourceRecord) -> StoredRecord:
    return StoredRecord(r.source_system, r.source_id, r.normalized_fields(), r.seen_at, r.stated_at)


def test_a_traveller_s_addresses_are_structured_and_checked() -> None:
    fields = record(EXTENDED).normalized_fields()
    assert fields["home_address"] == {
        "line": "Hauptstr. 5, 10115 Berlin",
        "street": "Hauptstr. 5",
        "house_number": "5",
        "postcode": "10115",
        "city": "Berlin",
        "country": "DE",
    }
    assert fields["business_address"]["region"] == "IL"
    assert fields["employee_number"] == "E-01234"
    assert fields["gender"] == "female"
    assert fields["secondary_emails"] == ["ann@private.example"]
    assert fields["secondary_phones"] == ["+442079460958"]


def test_sensitive_numbers_are_kept_only_as_keyed_hashes() -> None:
    r = record(EXTENDED)
    assert {r.raw[k] for k in ("national_id_number", "known_traveller_number", "redress_number")} == {"(hashed)"}
    kept = json.dumps([r.raw, r.normalized_fields(), r.problems()])
    assert not any(secret in kept for secret in SECRETS)
    assert set(r.normalized_fields()["sealed"]) == {"national_id", "known_traveller", "redress"}
    # the same number from another source seals alike (comparable without the number)
    other = record({"national_id_number": f" {NATIONAL_ID[:3]} {NATIONAL_ID[3:]} "}, source=("hr", "E1"))
    assert other.national_id is not None
    assert r.national_id is not None
    assert other.national_id.hash == r.national_id.hash


@pytest.mark.parametrize(
    ("traveller", "problem"),
    [
        ({"home_address": {"postcode": "1234", "city": "Berlin", "country": "DE"}}, "home_address"),
        ({"business_address": {"city": "Atlantis", "country": "Narnia"}}, "business_address"),
        ({"national_id_number": "65929970488", "national_id_country": "DE"}, "national_id_number"),
        ({"known_traveller_number": "12"}, "known_traveller_number"),
        ({"redress_number": "12"}, "redress_number"),
        ({"secondary_emails": ["not-an-address"]}, "secondary_emails:not-an-address"),
    ],
)
def test_invalid_values_are_flagged_not_dropped(traveller: dict[str, Any], problem: str) -> None:
    r = record(traveller)
    assert problem in r.problems()
    assert as_stored(r).problems() == r.problems()  # and they stay flagged after a trip through the database


def test_a_record_reloaded_from_the_database_is_the_record_stored() -> None:
    r = record(EXTENDED)
    again = as_stored(r)
    assert again.normalized_fields() == r.normalized_fields()
    assert again.problems() == r.problems()
    assert again.national_id == r.national_id


@settings(max_examples=60, deadline=None)
@given(parts=st.sets(st.sampled_from(sorted(NEW_PARTS))), gap=st.integers(0, 30))
def test_a_statement_without_the_new_parts_keeps_them_and_clearing_removes_only_those(
    parts: set[str], gap: int
) -> None:
    before = as_stored(record(EXTENDED))
    cleared = sorted(NEW_PARTS[p] for p in parts)
    after = record({"email": "ann@globex.example", "cleared": cleared}, at=T0 + timedelta(days=gap))
    now = restate(before, after)
    for part in NEW_PARTS:
        attribute = PARTS[part][0][0]
        assert (getattr(now, attribute) is None or getattr(now, attribute) == ()) == (part in parts), part
        if part not in parts:
            assert getattr(now, attribute) == getattr(before, attribute)
    assert not any(key in now.raw for key in cleared)


def test_addresses_survive_whole_by_recency() -> None:
    old = record({"home_address": {"street": "Alte Gasse 1", "postcode": "80331", "city": "München",
                                   "country": "DE"}}, at=T0)  # fmt: skip
    new = record({"home_address": {"line": "Hauptstr. 5, 10115 Berlin", "country": "DE"}},
                 at=T0 + timedelta(days=3), source=("hr", "E1"))  # fmt: skip
    partial = record({"home_address": {"city": "Hamburg"}}, at=T0 + timedelta(days=1), source=("crm", "C1"))
    golden = golden_record([stored(old), stored(new), stored(partial)])
    home = golden["home_address"]
    assert home.value == new.normalized_fields()["home_address"]  # never mixed field by field
    assert (home.source_system, home.rule) == ("hr", "recency")
    provenance = golden_to_json(golden)["home_address"]
    assert (provenance["source_system"], provenance["source_id"]) == ("hr", "E1")


def test_other_emails_and_phones_are_the_union_beside_the_chosen_ones() -> None:
    a = record({"email": "ann@globex.example", "phone": "+49 30 1234567"}, at=T0 + timedelta(days=2))
    b = record({"email": "ann@old.example", "secondary_emails": ["ann@private.example", "ann@globex.example"],
                "secondary_phones": ["+44 20 7946 0958"]}, at=T0, source=("hr", "E1"))  # fmt: skip
    golden = golden_record([stored(a), stored(b)])
    assert golden["email"].value == "ann@globex.example"
    assert golden["other_emails"].value == ["ann@old.example", "ann@private.example"]
    assert golden["other_phones"].value == ["+442079460958"]
    assert golden["other_emails"].rule == "union"
    # the company's address chosen instead: the one no longer chosen joins the others
    business = with_business_contacts(golden, [stored(a), stored(b)], company_domains=["old.example"])
    assert business["email"].value == "ann@old.example"
    assert business["other_emails"].value == ["ann@globex.example", "ann@private.example"]


def test_one_record_s_golden_record_is_the_general_case_s() -> None:
    from services.profile.domain.survivorship import _golden_of_many, _golden_of_one

    r = stored(record(EXTENDED))
    assert _golden_of_one(r) == _golden_of_many([r], {}, (), 80)


def test_the_snapshot_carries_the_new_fields_and_never_an_identity_number() -> None:
    r = record({**EXTENDED, "email": "ann@globex.example", "passport_number": "C01X00T47"})
    golden = golden_record([stored(r)])
    assert golden["identity_numbers_on_file"].value == ["known_traveller", "national_id", "redress"]
    snapshot = snapshot_json("cus_1", version=1, golden=golden_values(golden), company_id=None, company_name=None,
                             record_count=1, quality_score=None, email_deliverable=True, now=T0)  # fmt: skip
    assert snapshot["home_address"]["postcode"] == "10115"
    assert snapshot["business_address"]["house_number"] == "1"
    assert (snapshot["employee_number"], snapshot["gender"]) == ("E-01234", "female")
    assert snapshot["other_emails"] == ["ann@private.example"]
    text = json.dumps(snapshot, default=str)
    hashes = [s["hash"] for s in r.normalized_fields()["sealed"].values()]
    assert not any(secret in text for secret in (*SECRETS, *hashes, "C01X00T47", "on_file", "sealed"))


def test_a_bulk_row_carries_the_new_columns() -> None:
    row = {
        "source_system": "hr",
        "source_id": "E-1",
        **NAME,
        "home_address": "Hauptstr. 5, 10115 Berlin",
        "home_country": "DE",
        "business_street": "1 Main Street",
        "business_postcode": "62704",
        "business_city": "Springfield",
        "business_region": "IL",
        "business_country": "US",
        "employee_number": "E-01234",
        "national_id_number": NATIONAL_ID,
        "national_id_country": "DE",
        "known_traveller_number": KTN,
        "redress_number": REDRESS,
        "secondary_emails": "ann@private.example;ann@other.example",
        "secondary_phones": ["+44 20 7946 0958"],
        "gender": "female",
    }
    r = bulk.row_to_incoming(
        row, config=ProfileConfig(phone_region="DE", passport_pepper="pepper"), default_source=None, now=T0
    ).record
    fields = r.normalized_fields()
    assert fields["home_address"]["city"] == "Berlin"
    assert fields["business_address"]["street"] == "1 Main Street"
    assert fields["secondary_emails"] == ["ann@other.example", "ann@private.example"]
    assert fields["secondary_phones"] == ["+442079460958"]
    assert set(fields["sealed"]) == {"national_id", "known_traveller", "redress"}
    assert not any(secret in json.dumps([r.raw, fields]) for secret in SECRETS)
