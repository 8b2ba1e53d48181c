"""Normalisation of traveller data: valid values cleaned, invalid ones kept and flagged."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.profile.domain import normalize
from services.profile.domain.companies import company_key, corporate_domain
from services.profile.domain.names import are_nicknames, match_form, person_name
from services.profile.domain.reading import source_record_from_traveller


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+49 30 1234567", None, "+49301234567"),
        ("030 1234567", "DE", "+49301234567"),
        ("0049 (30) 123-4567", None, "+49301234567"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("+86 138 0013 8000", None, "+8613800138000"),
    ],
)
def test_phone_numbers_become_e164(raw: str, region: str | None, expected: str) -> None:
    assert normalize.phone(raw, region=region).value == expected


def test_invalid_phone_is_kept_and_flagged() -> None:
    n = normalize.phone("12", region="DE")
    assert n.raw == "12"
    assert n.value is None
    assert not n.valid
    assert n.problem


def test_email_is_case_folded_and_syntax_checked() -> None:
    assert normalize.email("  Ann.Lee@Example.COM ").value == "ann.lee@example.com"
    bad = normalize.email("ann.lee@@example")
    assert not bad.valid
    assert bad.raw == "ann.lee@@example"


def test_email_match_key_removes_tags_and_gmail_dots() -> None:
    assert normalize.email_match_key("ann.lee+trips@gmail.com") == "annlee@gmail.com"
    assert normalize.email_match_key("ann.lee@googlemail.com") == "annlee@gmail.com"
    assert normalize.email_match_key("ann.lee+x@globex.example") == "ann.lee+x@globex.example"


@pytest.mark.parametrize(
    "raw",
    [
        "1985-04-12",
        "12.04.1985",
        "12/04/1985",
        "1985/04/12",
        "12 Apr 1985",
        "12APR1985",
        "19850412",
        "1985-04-12T00:00:00Z",
    ],
)
def test_dates_of_birth_in_many_formats(raw: str) -> None:
    assert normalize.birth_date(raw).value == "1985-04-12"


def test_implausible_and_unreadable_dates_are_flagged() -> None:
    assert normalize.birth_date("2090-01-01", today=date(2026, 1, 1)).problem == "implausible date of birth"
    assert normalize.birth_date("sometime in spring").problem == "unrecognised date format"


@pytest.mark.parametrize(
    ("raw", "code"),
    [("DE", "DE"), ("deu", "DE"), ("Germany", "DE"), ("Deutschland", "DE"), ("UK", "GB"), ("China", "CN")],
)
def test_country_codes(raw: str, code: str) -> None:
    assert normalize.country(raw).value == code


def test_loyalty_numbers_are_checked_per_programme() -> None:
    assert normalize.loyalty_number("LH", "992 0012 3456 7890").value == "MILESANDMORE:992001234567890"
    assert normalize.loyalty_number("Miles & More", "992001234567890").value == "MILESANDMORE:992001234567890"
    assert normalize.loyalty_number("BA Executive Club", "1234-5678").value == "BAEC:12345678"
    assert not normalize.loyalty_number("BA", "12345").valid  # BA numbers have 8 digits
    assert normalize.loyalty_number("ACME-REWARDS", "ab12cd").value == "ACMEREWARDS:AB12CD"


def test_passport_hash_is_keyed_and_format_insensitive() -> None:
    a = normalize.passport_hash("C01X 00T47", "DE", pepper="k1")
    b = normalize.passport_hash("c01x00t47", None, pepper="k1")
    assert a == b
    assert a is not None
    assert "C01X00T47" not in a
    assert normalize.passport_hash("C01X00T47", "DE", pepper="k2") != a


@pytest.mark.parametrize(
    ("given", "family", "full", "expected"),
    [
        (None, None, "LEE/ANN MRS", ("Ann", "Lee")),
        (None, None, "Dr. Ann Lee", ("Ann", "Lee")),
        (None, None, "LEE, Ann", ("Ann", "Lee")),
        ("ANN-MARIE", "O'NEILL", None, ("Ann-Marie", "O'Neill")),
        (None, None, "John Smith Jr.", ("John", "Smith")),
        (None, None, "王小明", ("小明", "王")),
        (None, None, "欧阳娜娜", ("娜娜", "欧阳")),
        (None, None, "WANG Xiaoming", ("Xiaoming", "Wang")),
        (None, None, "Wang Xiaoming", ("Xiaoming", "Wang")),
        (None, None, "Xiaoming Wang", ("Xiaoming", "Wang")),
        (None, None, "Wesley van de Wal", ("Wesley", "van de Wal")),  # particles begin the family name
        (None, None, "Anna von der Leyen", ("Anna", "von der Leyen")),
        (None, None, "Maria dos Santos", ("Maria", "dos Santos")),
        (None, None, "An Van Nguyen", ("An Van", "Nguyen")),  # capitalised: a Vietnamese middle name
    ],
)
def test_person_names(given: str | None, family: str | None, full: str | None, expected: tuple[str, str]) -> None:
    name = person_name(given=given, family=family, full=full)
    assert (name.given, name.family) == expected


def test_match_forms_meet_across_scripts_accents_and_hyphens() -> None:
    assert match_form("王") == "wang"
    assert match_form("小明") == match_form("Xiao-Ming") == match_form("Xiao Ming") == "xiaoming"
    assert match_form("Müller") == "muller"
    assert match_form("Søren") == "soren"


def test_nicknames_are_symmetric() -> None:
    assert are_nicknames("bill", "william")
    assert are_nicknames("william", "bill")
    assert are_nicknames("peggy", "margaret")
    assert not are_nicknames("ann", "peter")


def test_company_keys_ignore_legal_form_case_and_accents() -> None:
    assert company_key("Globex GmbH") == company_key("GLOBEX") == company_key("Globex Gmbh.")
    assert company_key("Société Générale S.A.") == company_key("Societe Generale")
    assert corporate_domain("ann@globex.example") == "globex.example"
    assert corporate_domain("ann@gmail.com") is None


def test_invalid_values_are_kept_flagged_and_never_matched() -> None:
    record = source_record_from_traveller(
        source_system="desk",
        source_id="1",
        traveller={"full_name": "Ann Lee", "email": "not-an-email", "phone": "42", "passport_number": "X1234567"},
        company_name=None,
        seen_at=datetime(2026, 1, 1, tzinfo=UTC),
        phone_region="DE",
        passport_pepper="p",
    )
    assert set(record.problems()) == {"email", "phone"}
    assert record.raw["email"] == "not-an-email"
    assert record.raw["passport_number"] == "(hashed)"
    feats = record.features()
    assert feats.email == ""
    assert feats.phone == ""
    assert feats.passport
    assert not any(k.startswith(("e:", "p:")) for k in record.blocking_keys())
