"""Matching on addresses, employee numbers and sealed numbers; the blocking keys they and the names give."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.profile_blocking import import_row, measure
from services.profile.domain import comparisons as cmp
from services.profile.domain import features, resolution
from services.profile.domain.addresses import read_address
from services.profile.domain.matching import MatchFeatures, blocking_keys, quick_score, score_pair
from services.profile.domain.model_params import ModelParameters
from tests.builders import match_features

HOME = {"street": "Hauptstr. 5", "postcode": "10115", "city": "Berlin", "country": "DE"}


def feats(company: str | None = None, **traveller: Any) -> MatchFeatures:
    features: MatchFeatures = match_features(company, **traveller)
    return features


def evidence(a: MatchFeatures, b: MatchFeatures) -> dict[str, tuple[str, float]]:
    return {e.field: (e.level, e.weight) for e in score_pair(a, b).evidence}


def test_features_carry_the_new_fields_and_round_trip_compactly() -> None:
    f = feats(
        company="Acme GmbH",
        given_name="Anna",
        family_name="Meier",
        home_address=HOME,
        business_address={"line": "Friedrichstraße 10, 10117 Berlin", "country": "DE"},
        employee_number="E-0042",
        national_id_number="12345678901",
        known_traveller_number="KT1234567",
    )
    assert f.home == ("DE:10115", "hauptstrasse", "5", "berlin")
    assert f.business == ("DE:10117", "friedrichstrasse", "10", "berlin")
    assert f.employee.endswith(":E0042")
    assert len(f.national_id) == 32
    assert len(f.national_id_variants) == 12
    assert f.known_traveller_variants
    stored = f.to_json()
    assert stored["home"] == "DE:10115|hauptstrasse|5|berlin"
    assert isinstance(stored["national_id_variants"], str)  # one string of 16-digit hashes
    assert MatchFeatures.from_json(json.loads(json.dumps(stored))) == f
    assert MatchFeatures.from_json({"given": "anna"}).home == ()  # stored before the new fields
    assert MatchFeatures.from_json({"given": "anna", "later": 1}) == MatchFeatures(
        given="anna"
    )  # written by a later version


def test_a_line_sent_beside_a_postcode_gives_the_street() -> None:
    """FEBRL-style: the street's line, the postcode and the suburb in their own columns."""
    reading = read_address(line="12 miller place", postcode="2615", city="kaleen")
    assert reading is not None
    assert (reading.street_key, reading.number_key, reading.postcode_key) == ("miller place", "12", "2615")


@pytest.mark.parametrize(
    ("b", "level"),
    [
        (("DE:10115", "hauptstrasse", "5", "berlin"), "exact"),
        (("DE:10115", "hauptstrasse", "7", "berlin"), "same-street"),
        (("DE:10115", "gartenweg", "5", "berlin"), "same-postcode"),
        (("DE:10117", "gartenweg", "5", "berlin"), "same-city"),
        (("", "", "", "berlin"), "same-city"),
        (("10115", "hauptstrasse", "5", ""), "exact"),  # the country left out
        (("AT:10115", "hauptstrasse", "5", "wien"), "different"),
        (("DE:80331", "hauptstrasse", "5", "munchen"), "different"),
        (("DE:10115", "haupt strase", "5", "berlin"), "exact"),  # a space and a letter lost
        (("DE:10115", "hauptstrasse am park", "5", "berlin"), "exact"),  # a locality on the same line
        (("DE:10151", "hauptstrasse", "5", "berlin"), "same-street"),  # a typo in the postcode
        (("DE:10151", "hauptstrasse", "7", "berlin"), "same-city"),
    ],
)
def test_address_levels(b: tuple[str, ...], level: str) -> None:
    a = ("DE:10115", "hauptstrasse", "5", "berlin")
    assert cmp.address_level(a, b) == level == cmp.address_level(b, a)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("duffy ytreet arders ier", "duffy street ardersier", True),
        ("julia flynn avenue", "julia flynn avenue nazareth village", True),
        ("macfarlnd crescent", "macfarland crescent berkeley vlge", True),
        ("macrossan crescent newman medicajl centre", "macrossan crescent newman medixal centre", True),
        ("north street", "south street", False),
        ("mill road", "hill road", False),
        ("mill road", "mill lane", False),
        ("julia flynn avenue", "julia street", False),
    ],
)
def test_streets_agree_through_typos_spaces_and_a_locality(a: str, b: str, same: bool) -> None:
    assert cmp.streets_agree(a, b) is same
    assert cmp.streets_agree(b, a) is same


def test_sealed_and_employee_levels() -> None:
    assert cmp.sealed_level("h1", frozenset({"x"}), "h1", frozenset({"x"})) == "exact"
    assert cmp.sealed_level("h1", frozenset({"x", "y"}), "h2", frozenset({"y"})) == "one-edit"
    assert cmp.sealed_level("h1", frozenset({"x"}), "h2", frozenset({"y"})) == "different"
    assert cmp.employee_level("acme:E1", "acme:E1") == "exact"
    assert cmp.employee_level("acme:E1", "acme:E2") == "different"
    assert cmp.employee_level("acme:E1", "globex:E2") is None  # numbers of two companies say nothing


def test_national_id_decides_alone_and_one_edit_weighs() -> None:
    a = feats(given_name="Anna", family_name="Meier", national_id_number="12345678901")
    same = feats(given_name="Hanna", family_name="Maier", national_id_number="123-456-789 01")
    result = score_pair(a, same)
    assert result.decision == "match"
    assert result.rule == "deterministic:national_id"
    typo = feats(given_name="Anna", family_name="Meier", national_id_number="12345678910")
    assert evidence(a, typo)["national_id"][0] == "one-edit"
    assert evidence(a, typo)["national_id"][1] > 5
    other = feats(given_name="Anna", family_name="Meier", national_id_number="98765432100")
    assert evidence(a, other)["national_id"] == ("different", pytest.approx(-5.64, abs=0.01))


def test_differing_national_ids_keep_records_apart_in_clustering() -> None:
    a = feats(given_name="Anna", family_name="Meier", national_id_number="12345678901")
    b = feats(given_name="Anna", family_name="Meier", national_id_number="98765432100")
    typo = feats(given_name="Anna", family_name="Meier", national_id_number="12345678910")
    assert resolution.identifiers_conflict(a, b)
    assert not resolution.identifiers_conflict(a, typo)


def test_employee_and_known_traveller_weigh_strongly() -> None:
    a = feats(company="Acme", given_name="Anna", family_name="Meier", employee_number="0042")
    b = feats(company="Acme", given_name="A", family_name="Meier", employee_number="42")
    assert evidence(a, b)["employee"][0] == "exact"
    assert evidence(a, b)["employee"][1] > 12
    k1 = feats(given_name="Anna", family_name="Meier", known_traveller_number="KT1234567")
    k2 = feats(given_name="Anna", family_name="Meyer", known_traveller_number="kt 1234567")
    assert evidence(k1, k2)["known_traveller"][0] == "exact"
    assert score_pair(k1, k2).decision == "match"


def test_a_shared_home_links_a_thin_record_but_never_a_household_member() -> None:
    anna = feats(given_name="Anna", family_name="Meier", date_of_birth="1980-02-03", home_address=HOME)
    typo = feats(
        given_name="Ana",
        family_name="Meir",
        date_of_birth="1980-03-02",
        home_address={"line": "Hauptstraße 5, 10115 Berlin"},
    )
    assert score_pair(anna, typo).decision == "match"  # without the address a review
    thin = feats(given_name="Anna", family_name="Meier", home_address=HOME)  # no birth date: her son?
    assert evidence(anna, thin)["home_address"] == ("exact (household)", 0.0)
    twin = feats(given_name="Berta", family_name="Meier", date_of_birth="1980-02-03", home_address=HOME)
    daughter = feats(given_name="Anna", family_name="Meier", date_of_birth="2008-02-03", home_address=HOME)
    for other in (twin, daughter):
        result = score_pair(anna, other)
        assert result.decision != "match"
        assert evidence(anna, other)["home_address"] == ("exact (household)", 0.0)


def test_a_shared_home_counts_for_a_changed_family_name() -> None:
    """Same given name, same birth date, same home, another family name: a name changed on marriage, not
    another member of the household (twins and siblings have other given names, a parent another
    birth date); the twin's signature (same family name, another given name) still does not count."""
    anna = feats(given_name="Anna", family_name="Meier", date_of_birth="1980-02-03", home_address=HOME)
    married = feats(given_name="Anna", family_name="Schulz", date_of_birth="1980-02-03", home_address=HOME)
    assert evidence(anna, married)["home_address"][0] == "exact"
    assert evidence(anna, married)["home_address"][1] > 10
    assert score_pair(anna, married).decision == "match"
    twin = feats(given_name="Berta", family_name="Meier", date_of_birth="1980-02-03", home_address=HOME)
    assert evidence(anna, twin)["home_address"] == ("exact (household)", 0.0)


def test_quick_score_equals_score_pair_with_the_new_fields() -> None:
    records = [
        feats(given_name="Anna", family_name="Meier", home_address=HOME, national_id_number="12345678901"),
        feats(given_name="Anna", family_name="Meier", date_of_birth="1980-02-03", national_id_number="12345678910"),
        feats(company="Acme", given_name="Berta", family_name="Meier", employee_number="7", home_address=HOME),
        feats(company="Acme", given_name="Anna", family_name="Meyer", employee_number="7", date_of_birth="2001-01-01"),
        feats(
            given_name="Anna", family_name="Meier", national_id_number="98765432100", known_traveller_number="K1234567"
        ),
        feats(given_name="Anna", family_name="Schulz", date_of_birth="1980-02-03", home_address=HOME),
        feats(given_name="Berta", family_name="Meier", date_of_birth="1980-02-03", home_address=HOME),
    ]
    for a in records:
        for b in records:
            full = score_pair(a, b)
            assert quick_score(a, b) == (full.score, full.decision, full.rule)


def test_stored_versions_learned_before_the_new_fields_still_decide() -> None:
    stored = {
        "version": "v1",
        "prior": 0.5,
        "thresholds": {"upper": 17, "lower": 10},
        "levels": {
            "passport": [{"level": "exact", "m": 0.9, "u": 0.001}, {"level": "different", "m": 0.1, "u": 0.999}]
        },
    }
    loaded = ModelParameters.from_json(stored)
    assert "home_address" in loaded.levels
    assert "national_id" in loaded.weights


def test_blocking_keys_for_the_new_fields() -> None:
    f = feats(
        company="Acme",
        given_name="Anna",
        family_name="Meier",
        home_address=HOME,
        employee_number="42",
        national_id_number="12345678901",
        known_traveller_number="KT1234567",
    )
    keys = blocking_keys(f)
    kinds = {k.partition(":")[0] for k in keys}
    assert {"ni", "nv", "kt", "em", "pn", "pf", "sn", "c", "x", "a", "k"} <= kinds
    assert "o" not in kinds  # each name part alone: off by default (`features.ONE_PART_KEYS`)
    assert "pn:10115:5" in keys
    assert "sn:hauptstrasse:5" in keys
    assert f"ni:{f.national_id}" in keys
    assert sum(k.startswith("nv:") for k in keys) == 12
    # a typo in the national id still shares a deletion variant
    typo = feats(given_name="X", family_name="Y", national_id_number="12345678910")
    assert {k for k in keys if k.startswith("nv:")} & set(blocking_keys(typo))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"given_name": "Jianhua", "family_name": "Chen"}, {"given_name": "Huachen", "family_name": "Jian"}),
        ({"given_name": "Jerry", "family_name": "Leach"}, {"given_name": "Gerald", "family_name": "Leach"}),
        ({"given_name": "Kevvim", "family_name": "Porter"}, {"given_name": "Kevin", "family_name": "Porter"}),
        # a typo early in one part: its code and its first two letters change
        ({"given_name": "Mstthew", "family_name": "Mckay"}, {"given_name": "Matthew", "family_name": "Mckay"}),
        ({"full_name": "Donna Czark"}, {"given_name": "Donna", "family_name": "Clark"}),
        ({"given_name": "Tom", "family_name": "Murphy"}, {"given_name": "Thomas", "family_name": "Murphy"}),
    ],
)
def test_name_keys_close_the_gaps_found_on_the_benchmarks(a: dict[str, str], b: dict[str, str]) -> None:
    assert set(blocking_keys(feats(**a))) & set(blocking_keys(feats(**b)))


def test_one_part_keys_find_a_replaced_given_name(monkeypatch: pytest.MonkeyPatch) -> None:
    sarah, emily = feats(given_name="Sarah", family_name="Mills"), feats(given_name="Emily", family_name="Mills")
    assert not set(blocking_keys(sarah)) & set(blocking_keys(emily))
    monkeypatch.setattr(features, "ONE_PART_KEYS", True)
    assert set(blocking_keys(sarah)) & set(blocking_keys(emily)) == {"o:MLS"}


def test_blocking_recall_on_a_labelled_file(tmp_path: Path) -> None:
    """The travel set's path: nested addresses and `national_id` read as the importer reads them."""
    rows = [
        {"record_id": "r1", "entity_id": "e1", "system": "hr", "given_name": "Anna", "family_name": "Meier",
         "national_id": "12345678901", "home_address": HOME, "home_address_line": "Hauptstr. 5, 10115 Berlin"},
        {"record_id": "r2", "entity_id": "e1", "system": "hotel", "given_name": "Xenia", "family_name": "Q",
         "national_id": "12345678910"},
        {"record_id": "r3", "entity_id": "e2", "system": "car", "given_name": "Bob", "family_name": "Stone"},
    ]  # fmt: skip
    assert import_row(rows[0])["home_postcode"] == "10115"
    assert "national_id_number" in import_row(rows[1])
    result = measure((import_row(r) for r in rows), per_key=40)
    assert (result["records"], result["records_with_an_earlier_duplicate"], result["record_recall"]) == (3, 1, 1.0)
    assert result["pairs_found_only_by_key_kind"] == {"nv": 1}
