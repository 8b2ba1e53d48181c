"""Addresses read against the country's rules, and sensitive identifiers compared one edit apart."""

from __future__ import annotations

import pytest

from services.profile.domain.addresses import read_address, street_key
from services.profile.domain.identifiers import (
    clean,
    employee_key,
    known_traveller_problem,
    national_id_problem,
    redress_problem,
    seal,
)


def test_a_one_line_address_is_split_around_the_countrys_postcode() -> None:
    got = read_address(line="Hauptstr. 5, 10115 Berlin", country="Germany")
    assert got is not None
    assert (got.address.street, got.address.postcode, got.address.city, got.address.country) == (
        "Hauptstr. 5",
        "10115",
        "Berlin",
        "DE",
    )
    assert (got.postcode_key, got.street_key, got.number_key, got.city_key) == (
        "DE:10115",
        "hauptstrasse",
        "5",
        "berlin",
    )
    assert got.address.line == "Hauptstr. 5, 10115 Berlin"  # as typed, kept


def test_a_us_line_with_city_and_state_before_the_zip() -> None:
    got = read_address(line="1 Main Street, Springfield, IL 62704", country="US")
    assert got is not None
    assert (got.address.street, got.address.city, got.address.region, got.address.postcode) == (
        "1 Main Street",
        "Springfield",
        "IL",
        "62704",
    )


def test_a_british_postcode_is_recognised_with_its_space() -> None:
    got = read_address(line="10 Downing St, London SW1A 2AA", country="GB")
    assert got is not None
    assert got.postcode_key == "GB:SW1A2AA"
    assert got.street_key == "downing street"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Hauptstr. 5", "Hauptstraße 5"),
        ("Haupt-Strasse 5", "Hauptstrasse 5"),
        ("5 Fifth Ave", "5 Fifth Avenue"),
        ("12 Rue de Rivoli", "Rue de Rivoli 12"),
    ],
)
def test_street_abbreviations_and_number_order_do_not_matter(a: str, b: str) -> None:
    assert street_key(a).replace("-", "").replace(" ", "") == street_key(b).replace("-", "").replace(" ", "")


def test_an_invalid_postcode_is_flagged_and_kept_for_comparison() -> None:
    got = read_address(street="5 Fifth Ave", postcode="1011", city="New York", country="US")
    assert got is not None
    assert got.problems == ("postcode-invalid",)
    assert got.postcode_key == "US:1011"


def test_an_unknown_country_is_flagged_and_the_rest_kept() -> None:
    got = read_address(city="Atlantis", country="Atlantis")
    assert got is not None
    assert got.problems == ("country-unknown",)
    assert got.city_key == "atlantis"


def test_nothing_sent_is_no_address() -> None:
    assert read_address() is None
    assert read_address(line="  ", city="") is None


def test_identifiers_one_edit_apart_share_a_variant_without_the_clear_value() -> None:
    base = seal("DE-123456", kind="nid", pepper="p")
    assert base is not None
    assert "123456" not in repr(base)
    for other, near in [
        ("DE123465", True),  # transposed digits
        ("DE123457", True),  # one substitution
        ("DE12345", True),  # one deleted
        ("DE1234567", True),  # one inserted
        ("DE654321", False),
        ("DE123456", False),  # equal is "exact", not "one edit"
    ]:
        sealed = seal(other, kind="nid", pepper="p")
        assert sealed is not None
        assert base.one_edit_from(sealed) is near, other


def test_kinds_and_peppers_keep_hashes_apart() -> None:
    a, b, c = (seal("X1234567", kind=k, pepper=p) for k, p in [("nid", "p"), ("ktn", "p"), ("nid", "q")])
    assert a is not None
    assert b is not None
    assert c is not None
    assert len({a.hash, b.hash, c.hash}) == 3
    assert not (a.variants & b.variants)
    assert not (a.variants & c.variants)


def test_national_ids_are_checked_where_the_country_has_rules() -> None:
    assert national_id_problem("65929970489", "DE") is None
    assert national_id_problem("65929970480", "DE") is not None  # check digit
    assert national_id_problem("078-05-1120", "US") is not None  # a famous invalid SSN
    assert national_id_problem("AB12", None) is None  # cannot be checked: not flagged
    assert national_id_problem("1", "DE") == "malformed"


def test_travel_numbers_and_employee_keys() -> None:
    assert known_traveller_problem("98765432") is None
    assert known_traveller_problem("12") == "malformed"
    assert redress_problem("1234567") is None
    assert redress_problem("12") == "malformed"
    assert employee_key(" 001234 ", "acme") == employee_key("1234", "acme") == "acme:1234"
    assert employee_key("E-01234", "acme") == "acme:E01234"
    assert employee_key("1234", None) == ""
    assert clean(None) == ""
