"""Comparison levels that survive real typos, and invalid values compared instead of dropped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.profile.domain import comparisons as cmp
from services.profile.domain import normalize
from services.profile.domain.features import blocking_keys
from services.profile.domain.matching import MatchFeatures, quick_score, score_pair
from services.profile.domain.model import SourceRecord
from services.profile.domain.model_params import DEFAULT_PARAMETERS, Level, ModelParameters
from services.profile.domain.reading import source_record_from_traveller
from services.profile.domain.restating import stored_record


def record(**traveller: Any) -> SourceRecord:
    return source_record_from_traveller(
        source_system="s",
        source_id="1",
        traveller=traveller,
        company_name=None,
        seen_at=datetime(2026, 1, 1, tzinfo=UTC),
        phone_region="DE",
        passport_pepper="p",
    )


def feats(**traveller: Any) -> MatchFeatures:
    return record(**traveller).features()


def restated(rec: SourceRecord) -> SourceRecord:
    """The record as a later version reads it back from what was stored."""
    return stored_record(
        source_system="s",
        source_id="1",
        raw=rec.raw,
        normalized=rec.normalized_fields(),
        problems=rec.problems(),
        passport_hash=None,
        stated_at={},
        seen_at=rec.seen_at,
    )


def quick(a: MatchFeatures, b: MatchFeatures) -> tuple[float, str, str]:
    result = quick_score(a, b)
    assert result is not None
    return result


def levels(a: MatchFeatures, b: MatchFeatures) -> dict[str, str]:
    return {e.field: e.level for e in score_pair(a, b).evidence}


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("schneider", "schneider", "exact"),
        ("mueller", "muller", "transliteration"),
        ("schneider", "schnieder", "one-edit"),  # transposed letters
        ("kowalski", "kowalsky", "one-edit"),
        ("hansen", "jansen", "one-edit"),
        ("smith", "smythe", "phonetic"),
        ("lee", "lea", "phonetic"),  # too short for the one-edit level
        ("schneider", "wang", "different"),
    ],
)
def test_family_name_levels(a: str, b: str, level: str) -> None:
    assert cmp.family_level(a, b) == level
    assert cmp.family_level(b, a) == level


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("william", "bill", "nickname"),
        ("j", "john", "initial"),
        ("joerg", "jorg", "transliteration"),
        ("michael", "micheal", "one-edit"),
        ("katharina", "catharina", "one-edit"),
        ("ann", "bob", "different"),
    ],
)
def test_given_name_levels(a: str, b: str, level: str) -> None:
    assert cmp.given_level(a, a, b, b) == level
    assert cmp.given_level(b, b, a, a) == level


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("1985-04-12", "1985-04-12", "exact"),
        ("1985-04-12", "1985-12-04", "day-month-swapped"),
        ("1985-04-12", "1985-04-13", "typo"),
        ("1985-04-12", "1958-04-12", "transposed"),
        ("1989-04-12", "1990-04-12", "year-plus-minus-one"),
        ("1985-04-12", "1985-04-27", "same-year-month"),
        ("1985-04-12", "1972-09-30", "different"),
    ],
)
def test_birth_date_levels(a: str, b: str, level: str) -> None:
    assert cmp.dob_level(a, b) == level
    assert cmp.dob_level(b, a) == level


def test_a_one_character_typo_in_an_identifier_is_a_level_of_its_own() -> None:
    # Defect: a mistyped phone, loyalty number or email counted as "different" (negative weight).
    a = feats(full_name="Ann Lee", phone="+49 170 1234567", loyalty_numbers=[{"programme": "BA", "number": "12345678"}])
    b = feats(full_name="Ann Lee", phone="+49 170 1234576", loyalty_numbers=[{"programme": "BA", "number": "12345687"}])
    got = levels(a, b)
    assert got["phone"] == "one-edit"
    assert got["loyalty"] == "one-edit"
    weights = {e.field: e.weight for e in score_pair(a, b).evidence}
    assert weights["phone"] > 0
    assert weights["loyalty"] > 0
    c = feats(full_name="Ann Lee", email="k.wolters@initech.example")
    d = feats(full_name="Ann Lee", email="k.wolter@initech.example")
    assert levels(c, d)["email"] == "one-edit"


def test_namesakes_numbered_mailboxes_are_not_one_edit() -> None:
    a = feats(full_name="John Smith", email="john.smith@gmail.com")
    b = feats(full_name="John Smith", email="john.smith2@gmail.com")
    assert levels(a, b)["email"] == "different"


def test_birth_date_before_the_cut_off_is_flagged_and_still_compared() -> None:
    # Defect: a date of birth more than 120 years back was dropped, so it never counted.
    rec = record(full_name="Ada Byron", date_of_birth="1899-12-10")
    assert rec.problems()["date_of_birth"] == "implausible date of birth"
    a = rec.features()
    b = feats(full_name="Ada Byron", date_of_birth="10.12.1899")
    assert a.dob == ""
    assert a.dob_flagged == "1899-12-10"
    evidence = {e.field: e for e in score_pair(a, b).evidence}
    assert evidence["date_of_birth"].level == "exact (flagged value)"
    assert evidence["date_of_birth"].weight == DEFAULT_PARAMETERS.weights["date_of_birth"]["exact"]


def test_invalid_calendar_date_is_compared_like_a_date() -> None:
    # Defect: "1985-02-30" was dropped; two records typing it alike agree on it, and one typed
    # otherwise is a typo away from it.
    rec = record(full_name="Ann Lee", date_of_birth="1985-02-30")
    assert rec.problems()["date_of_birth"] == "not a calendar date"
    a = rec.features()
    same = feats(full_name="Ann Lee", date_of_birth="1985-02-30")
    other = feats(full_name="Ann Lee", date_of_birth="1985-02-20")
    assert levels(a, same)["date_of_birth"] == "exact (flagged value)"
    assert levels(a, other)["date_of_birth"] == "typo (flagged value)"


def test_a_flagged_birth_date_that_disagrees_counts_against_the_pair() -> None:
    # Defect: an implausible birth year (1901) against a plausible one (1948) said nothing, so two
    # different people of one name scored as if neither had a birth date (seen on FEBRL 3).
    a = feats(full_name="Emily Beams", date_of_birth="1901-11-24")
    b = feats(full_name="Emily Beams", date_of_birth="1948-10-14")
    assert a.dob_flagged
    assert b.dob
    evidence = {e.field: e for e in score_pair(a, b).evidence}
    assert evidence["date_of_birth"].level == "different (flagged value)"
    assert evidence["date_of_birth"].weight == DEFAULT_PARAMETERS.weights["date_of_birth"]["different"] < 0
    # A flagged value not in the date shape is still compared for equality only.
    c = feats(full_name="Emily Beams", date_of_birth="31/31/1948")
    assert c.dob_flagged
    assert "date_of_birth" not in levels(c, b)


def test_placeholders_and_non_dates_are_not_compared() -> None:
    assert normalize.birth_date("unknown").flagged is None
    assert normalize.birth_date("00.00.0000").flagged is None
    a = feats(full_name="Ann Lee", date_of_birth="1900-01-01")
    b = feats(full_name="Ann Lee", date_of_birth="1900-01-01")
    assert "date_of_birth" not in levels(a, b)


def test_flagged_birth_date_survives_restating() -> None:
    rec = record(full_name="Ada Byron", date_of_birth="1899-12-10")
    again = restated(rec)
    assert again.features().dob_flagged == "1899-12-10"


def _learned() -> ModelParameters:
    levels = {
        c: {n: Level(n, min(0.99, lv.m * 1.1), lv.u) for n, lv in lvs.items()}
        for c, lvs in DEFAULT_PARAMETERS.levels.items()
    }
    return ModelParameters(version="learned-test", levels=levels, upper=15.0, lower=8.0)


@pytest.mark.parametrize("params", [DEFAULT_PARAMETERS, _learned()])
def test_quick_score_equals_score_pair_with_new_levels_and_any_version(params: ModelParameters) -> None:
    pairs = [
        (feats(full_name="Ada Byron", date_of_birth="1899-12-10"),
         feats(full_name="Ada Byron", date_of_birth="1899-12-10")),
        (feats(full_name="Michael Mueller", date_of_birth="1989-04-12", phone="+49 170 1234567"),
         feats(full_name="Micheal Muller", date_of_birth="1990-04-12", phone="+49 170 1234576")),
        (feats(full_name="Ann Lee", date_of_birth="1985-04-12", email="ann@x.example"),
         feats(full_name="Ann Lee", date_of_birth="1985-04-27", email="ann@x.example")),
    ]  # fmt: skip
    for a, b in pairs:
        full = score_pair(a, b, params=params, upper=params.upper, lower=params.lower)
        quick = quick_score(a, b, params=params, upper=params.upper, lower=params.lower)
        assert quick == (full.score, full.decision, full.rule)
        assert full.to_json()["parameters_version"] == params.version


def test_a_shared_email_does_not_join_records_born_in_another_year_or_day() -> None:
    # Siblings sharing a family mailbox: same month, another day is another birth date, not a typo.
    a = feats(given_name="Jan", family_name="Novak", email="novak@home.example", date_of_birth="1990-05-03")
    b = feats(given_name="Jana", family_name="Novak", email="novak@home.example", date_of_birth="1990-05-28")
    assert score_pair(a, b).rule == "probabilistic"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("明", "晏"), ("平", "晏")),  # ming, ping: one letter apart, two names
        (("明", "晏"), ("Ping", "Yan")),
        (("建", "蒋"), ("军", "蒋")),  # jian, jun: one sound
        (("Ying", "Zou"), ("阳", "邹")),
        (("娟", "张"), ("张", "俊")),  # swapped order: juan against jun
    ],
)
def test_chinese_twins_named_alike_are_not_joined(a: tuple[str, str], b: tuple[str, str]) -> None:
    """Two pinyin given names spelt differently are two names: with the family name and birth date of
    twins, a one-letter or sound-alike given name must not merge them."""
    x = record(given_name=a[0], family_name=a[1], date_of_birth="1998-09-10").features()
    y = record(given_name=b[0], family_name=b[1], date_of_birth="1998-09-10").features()
    result = score_pair(x, y)
    assert result.decision == "review"
    assert {e.field: e.level.split(" (")[0] for e in result.evidence}["given_name"] == "different"
    assert quick_score(x, y) == (result.score, result.decision, result.rule)


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        (("Jinfeng", "Zhang"), ("Jinfekng", "Zhang"), "one-edit"),  # a typo is no pinyin: still one edit
        (("金凤", "张"), ("Jinfekng", "Zhang"), "one-edit"),
        (("Hanna", "Meier"), ("Hana", "Meier"), "one-edit"),  # "meier" reads as pinyin, but two syllables
        (("Xiaoming", "Wang"), ("Xiao-Ming", "WANG"), "exact"),
    ],
)
def test_typos_in_pinyin_and_western_names_keep_their_level(a: tuple[str, str], b: tuple[str, str], level: str) -> None:
    x = record(given_name=a[0], family_name=a[1]).features()
    y = record(given_name=b[0], family_name=b[1]).features()
    assert cmp.given_level(x.given, x.given_first, y.given, y.given_first, (x.family, y.family)) == level


def test_a_loyalty_number_outside_its_programmes_format_is_flagged_and_still_compared() -> None:
    # Defect: a number that did not fit its programme's format ("LH" numbers are 15 digits) was
    # dropped from matching, so two records of one member sharing it met on their names alone (a
    # review). On the travel benchmark 582 of the loyalty numbers were dropped that way.
    rec = record(full_name="Malgorzata Dussen", loyalty_numbers=[{"programme": "LH", "number": "8851746719"}])
    assert rec.problems()["loyalty:LH:8851746719"] == "not a MILESANDMORE number"
    a = rec.features()
    assert a.loyalty == ()
    assert a.flagged == ("loyalty:MILESANDMORE:8851746719",)
    assert "l:MILESANDMORE:8851746719" in blocking_keys(a)
    b = feats(full_name="Malgorzata Dussen", loyalty_numbers=[{"programme": "Miles & More", "number": "885-174-6719"}])
    result = score_pair(a, b)
    evidence = {e.field: e for e in result.evidence}
    assert evidence["loyalty"].level == "shared (flagged value)"
    assert evidence["loyalty"].weight == DEFAULT_PARAMETERS.weights["loyalty"]["shared"]
    # It weighs like a valid number but does not decide alone: an invalid number is less sure.
    assert (result.decision, result.rule) == ("match", "probabilistic")
    assert quick(a, b)[:2] == (result.score, "match")
    # Equality only: another flagged number in the programme says nothing (no one-edit level).
    c = feats(full_name="Malgorzata Dussen", loyalty_numbers=[{"programme": "LH", "number": "8851746718"}])
    assert "loyalty" not in levels(a, c)


def test_placeholder_loyalty_numbers_are_not_compared() -> None:
    for number in ("0000000000", "1212121212", "1234567890", "9876543210", "12AB"):
        assert normalize.loyalty_number("LH", number).flagged is None, number
    a = feats(full_name="Ann Lee", loyalty_numbers=[{"programme": "LH", "number": "0000000000"}])
    b = feats(full_name="Ann Lee", loyalty_numbers=[{"programme": "LH", "number": "0000000000"}])
    assert "loyalty" not in levels(a, b)


def test_a_flagged_loyalty_number_survives_restating() -> None:
    rec = record(full_name="Ann Lee", loyalty_numbers=[{"programme": "UA", "number": "7399594545"}])
    again = restated(rec)
    assert again.features().flagged == ("loyalty:MILEAGEPLUS:7399594545",)


@pytest.mark.parametrize(
    ("field", "typed", "same", "other", "flagged"),
    [
        ("email", "ann.lee@example", "Ann.Lee@example", "ann.lea@example", "ann.lee@example"),
        ("email", "ann lee@example.com", "ann lee@example.com", "ann lea@example.com", "ann lee@example.com"),
        ("phone", "+49 1 7365421", "0049-1-7365421", "+49 1 7365422", "+4917365421"),
        ("phone", "+1 555 0100 999", "+15550100999", "+15550100998", "+15550100999"),
    ],
)
def test_an_invalid_email_or_phone_is_flagged_and_compared_for_equality(
    field: str, typed: str, same: str, other: str, flagged: str
) -> None:
    # Defect: an email that is not an address or a phone number no numbering plan has was dropped
    # from matching; two records typing it alike now agree on it (it weighs like an exact value but
    # does not decide alone), and one typed otherwise says nothing.
    rec = record(full_name="Ann Lee", **{field: typed})
    assert field in rec.problems()
    a = rec.features()
    assert a.flagged == (f"{field}:{flagged}",)
    assert getattr(a, field) == ""
    evidence = {e.field: e for e in score_pair(a, feats(full_name="Ann Lee", **{field: same})).evidence}
    assert evidence[field].level == "exact (flagged value)"
    assert evidence[field].weight == DEFAULT_PARAMETERS.weights[field]["exact"]
    assert field not in levels(a, feats(full_name="Ann Lee", **{field: other}))
    result = score_pair(a, feats(full_name="Ann Lee", **{field: same}))
    assert result.rule == "probabilistic"
    assert quick(a, feats(full_name="Ann Lee", **{field: same}))[0] == result.score


def test_placeholder_contacts_are_not_compared() -> None:
    assert normalize.phone("+49 0000000", region="DE").flagged is None
    assert normalize.phone("123", region="DE").flagged is None
    assert normalize.email("n/a").flagged is None
    assert normalize.email("a@b").flagged is None


def test_flagged_contacts_survive_restating() -> None:
    rec = record(full_name="Ann Lee", email="ann.lee@example", phone="+49 1 7365421")
    again = restated(rec)
    assert again.features().flagged == rec.features().flagged == ("email:ann.lee@example", "phone:+4917365421")
    assert again.problems() == rec.problems()
    # A number without its country code has the same flagged form with or without the region setting
    # (restating reads without one).
    assert normalize.phone("01 7365421", region="DE").flagged == normalize.phone("01 7365421").flagged == "017365421"


@pytest.mark.parametrize(
    ("field", "primary", "secondary"),
    [
        ("email", "a.novak@acme-corp.example", "anna.novak@web.de"),
        ("phone", "+49 30 901820", "+49 171 4432190"),
    ],
)
def test_a_secondary_email_or_phone_counts_like_a_primary_one(field: str, primary: str, secondary: str) -> None:
    # Defect: an HR feed's secondary (private) email and phone were stored but never compared, so the
    # booking made with the private address met the HR record as "different email".
    hr = feats(full_name="Anna Novak", **{field: primary, f"secondary_{field}s": [secondary]})
    booking = feats(full_name="Anna Novak", **{field: secondary})
    key = f"e:{secondary}" if field == "email" else "p:" + (normalize.phone(secondary).value or "")[-9:]
    assert key in blocking_keys(hr)
    result = score_pair(hr, booking)
    evidence = {e.field: e for e in result.evidence}
    assert evidence[field].level == "exact (secondary)"
    assert evidence[field].weight == DEFAULT_PARAMETERS.weights[field]["exact"]
    assert (result.decision, result.rule) == ("match", f"deterministic:{field}")
    assert quick(hr, booking)[:3] == (result.score, "match", f"deterministic:{field}")
    # Shared through a secondary value like a primary one: two people named otherwise are not joined.
    other = feats(full_name="Karl Brandt", **{field: secondary})
    assert score_pair(hr, other).rule == "probabilistic"
