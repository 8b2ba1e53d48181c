"""Matching: blocking keys, Fellegi–Sunter scoring, deterministic rules, symmetry."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.profile.domain import matching
from services.profile.domain.matching import MatchFeatures, blocking_keys, score_pair
from tests.builders import match_features


def feats(**traveller: Any) -> MatchFeatures:
    features: MatchFeatures = match_features(traveller.pop("company", None), **traveller)
    return features


def test_same_person_with_typo_nickname_and_new_phone_matches() -> None:
    a = feats(given_name="William", family_name="Schneider", date_of_birth="1975-03-09", phone="+49 170 1234567")
    b = feats(full_name="Bill Schnieder", date_of_birth="09.03.1975", phone="+49 171 7654321")
    result = score_pair(a, b)
    assert result.decision == "match"
    assert result.rule == "probabilistic"
    levels = {e.field: e.level for e in result.evidence}
    assert levels == {
        "family_name": "one-edit",
        "given_name": "nickname",
        "date_of_birth": "exact",
        "phone": "different",
    }


def test_chinese_name_in_characters_matches_pinyin_in_either_order() -> None:
    a = feats(full_name="王小明", date_of_birth="1988-06-01", nationality="CN")
    for other in ("Xiaoming Wang", "WANG Xiao Ming", "Wang Xiao-Ming"):
        b = feats(full_name=other, date_of_birth="1988-06-01", nationality="China")
        assert score_pair(a, b).decision == "match", other


def test_swapped_name_order_is_recognised() -> None:
    a = feats(given_name="Marta", family_name="Kowalski", date_of_birth="1990-01-02")
    b = feats(given_name="Kowalski", family_name="Marta", date_of_birth="1990-01-02")
    result = score_pair(a, b)
    assert result.decision == "match"
    assert any("swapped" in e.level for e in result.evidence)


def test_namesakes_with_different_birth_dates_stay_apart() -> None:
    a = feats(given_name="John", family_name="Smith", date_of_birth="1970-01-01", email="john.smith@globex.example")
    b = feats(given_name="John", family_name="Smith", date_of_birth="1982-07-19", email="jsmith@initech.example")
    assert score_pair(a, b).decision == "distinct"


def test_name_only_agreement_goes_to_review() -> None:
    a = feats(given_name="Ingrid", family_name="Oberhollenzer", nationality="AT")
    b = feats(given_name="Ingrid", family_name="Oberhollenzer", nationality="AT")
    assert score_pair(a, b).decision == "review"


def test_strong_identifiers_decide() -> None:
    a = feats(full_name="A. Person", passport_number="C01X00T47")
    b = feats(full_name="Totally Different", passport_number="c01x 00t47")
    assert score_pair(a, b).rule == "deterministic:passport"
    c = feats(full_name="Ann Lee", email="ann@globex.example")
    d = feats(full_name="ANN LEE", email="ANN@globex.example")
    assert score_pair(c, d).rule == "deterministic:email"


def test_shared_email_with_clearly_different_names_is_not_deterministic() -> None:
    a = feats(given_name="Peter", family_name="Jansen", email="family@home.example", date_of_birth="1960-01-01")
    b = feats(given_name="Yuki", family_name="Tanaka", email="family@home.example", date_of_birth="1995-05-05")
    result = score_pair(a, b)
    assert result.rule == "probabilistic"
    assert result.decision != "match"


def test_variants_of_one_person_share_a_blocking_key() -> None:
    base = feats(given_name="William", family_name="Schneider", date_of_birth="1975-03-09")
    variants = [
        feats(full_name="Bill Schneider", date_of_birth="1975-03-09"),
        feats(full_name="Schneider William", date_of_birth="1975-03-09"),
        feats(full_name="William Schnieder", date_of_birth="1975-03-09"),
        feats(full_name="William Schneider"),
    ]
    keys = set(blocking_keys(base))
    for v in variants:
        assert keys & set(blocking_keys(v)), v


def test_explain_lists_every_compared_field_with_its_weight() -> None:
    a = feats(given_name="Ann", family_name="Lee", date_of_birth="1985-04-12", company="Globex GmbH")
    b = feats(given_name="Ann", family_name="Lee", date_of_birth="1985-04-12", company="GLOBEX")
    explained = score_pair(a, b).to_json()
    assert {e["field"] for e in explained["evidence"]} == {"family_name", "given_name", "date_of_birth", "company"}
    assert (
        explained["score"] == round(sum(e["weight"] for e in explained["evidence"]), 3)
        or abs(explained["score"] - sum(e["weight"] for e in explained["evidence"])) < 0.01
    )
    assert explained["thresholds"] == {"upper": matching.UPPER_THRESHOLD, "lower": matching.LOWER_THRESHOLD}


_names = st.sampled_from(
    ["ann", "anne", "anna", "bill", "william", "wang", "xiaoming", "lee", "li", "smith", "smyth", "o", ""]
)
_dobs = st.sampled_from(["", "1985-04-12", "1985-12-04", "1985-04-13", "1990-01-01"])
_emails = st.sampled_from(["", "ann@x.example", "ann@y.example", "bill@x.example"])
_phones = st.sampled_from(["", "+49301234567", "+49301234568", "+4917012345678"])
_features = st.builds(
    MatchFeatures,
    given=_names,
    given_first=_names,
    family=_names,
    dob=_dobs,
    email=_emails,
    phone=_phones,
    loyalty=st.sampled_from([(), ("BAEC:12345678",), ("BAEC:87654321",)]),
    passport=st.sampled_from(["", "h1", "h2"]),
    nationality=st.sampled_from(["", "DE", "CN"]),
    company=st.sampled_from(["", "globex", "initech"]),
)


_frequencies = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from([f"{p}:{n}" for p in "fg" for n in ["ann", "wang", "lee", "li", "smith", "bill"]]),
                    st.floats(0.0, 0.2), max_size=6),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(_features, _features, _frequencies)
def test_matching_is_symmetric(a: MatchFeatures, b: MatchFeatures, freq: dict[str, float] | None) -> None:
    ab, ba = score_pair(a, b, freq=freq), score_pair(b, a, freq=freq)
    assert abs(ab.score - ba.score) < 1e-9
    assert ab.decision == ba.decision
    assert ab.rule == ba.rule


@settings(max_examples=200, deadline=None)
@given(_features)
def test_features_survive_storage(f: MatchFeatures) -> None:
    assert MatchFeatures.from_json(f.to_json()) == f


def test_exact_agreement_on_a_common_name_weighs_less() -> None:
    a = feats(given_name="Wei", family_name="Wang", date_of_birth="1980-01-01")
    b = feats(full_name="王伟", date_of_birth="1980-01-02")
    rare = score_pair(a, b)
    common = score_pair(a, b, freq={"f:wang": 0.07, "g:wei": 0.02})
    assert common.score < rare.score
    assert any("common name" in e.level for e in common.evidence)


def test_a_mailbox_named_after_the_person_is_no_evidence_at_another_provider() -> None:
    a = feats(given_name="Li", family_name="Wang", email="li.wang@qq.com")
    b = feats(given_name="Li", family_name="Wang", email="li.wang@outlook.com")
    c = feats(given_name="Li", family_name="Wang", email="dragonfly77@qq.com")
    d = feats(given_name="Li", family_name="Wang", email="dragonfly77@outlook.com")
    levels = {e.field: e.level for e in score_pair(a, b).evidence}
    assert levels["email"] == "same-name-mailbox"
    assert {e.field: e.level for e in score_pair(c, d).evidence}["email"] == "same-mailbox-name"
    assert score_pair(c, d).score > score_pair(a, b).score


def test_a_shared_phone_with_different_birth_dates_is_scored_not_decided() -> None:
    a = feats(given_name="Laurence", family_name="Begue", phone="+33612745743", date_of_birth="1990-12-11")
    b = feats(given_name="Laurence", family_name="Bouvier", phone="+33612745743", date_of_birth="1975-02-01")
    assert score_pair(a, b).rule == "probabilistic"


@settings(max_examples=600, deadline=None)
@given(_features, _features, _frequencies)
def test_quick_score_is_score_pair_without_evidence(
    a: MatchFeatures, b: MatchFeatures, freq: dict[str, float] | None
) -> None:
    full = score_pair(a, b, freq=freq)
    assert matching.quick_score(a, b, freq=freq) == (full.score, full.decision, full.rule)
    assert matching.quick_rank(full.decision, full.score) == matching.rank(full)


@settings(max_examples=600, deadline=None)
@given(_features, _features, _frequencies, st.floats(-20.0, 30.0))
def test_quick_score_skips_only_pairs_that_cannot_reach_the_floor(
    a: MatchFeatures, b: MatchFeatures, freq: dict[str, float] | None, floor: float
) -> None:
    full = score_pair(a, b, freq=freq)
    quick = matching.quick_score(a, b, freq=freq, floor=floor)
    if quick is None:
        assert full.rule == "probabilistic"
        assert full.score < floor
    else:
        assert quick == (full.score, full.decision, full.rule)
