"""Passport numbers one typo apart: deletion-variant hashes beside the exact hash, a "one-edit" level."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.profile.adapters.exporting import _record as exported_record
from services.profile.domain import normalize, resolution
from services.profile.domain.estimation import random_pair_patterns, u_probabilities
from services.profile.domain.matching import MatchFeatures, blocking_keys, quick_score, score_pair
from services.profile.domain.model import PASSPORT_VARIANTS, SourceRecord
from services.profile.domain.model_params import DEFAULT_PARAMETERS, ModelParameters
from services.profile.domain.reading import source_record_from_traveller
from services.profile.domain.restating import restate, stored_record

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PEPPER = "pepper"
ANNA: dict[str, Any] = {"given_name": "Anna", "family_name": "Meier", "date_of_birth": "1980-02-03"}


def record(*, at: datetime = T0, **traveller: Any) -> SourceRecord:
    return source_record_from_traveller(
        source_system="gds",
        source_id="T-1",
        traveller=traveller,
        company_name=None,
        seen_at=at,
        phone_region="DE",
        passport_pepper=PEPPER,
    )


def feats(**traveller: Any) -> MatchFeatures:
    return record(**traveller).features()


def as_stored(r: SourceRecord) -> SourceRecord:
    """The record after a trip through the database (the form a later statement is restated over)."""
    return stored_record(
        source_system=r.source_system,
        source_id=r.source_id,
        raw=r.raw,
        normalized=json.loads(json.dumps(r.normalized_fields())),
        problems=r.problems(),
        passport_hash=r.passport_hash,
        stated_at=r.stated_at,
        seen_at=r.seen_at,
    )


def passport_evidence(a: MatchFeatures, b: MatchFeatures) -> tuple[str, float]:
    [found] = [(e.level, e.weight) for e in score_pair(a, b).evidence if e.field == "passport"]
    return found


@pytest.mark.parametrize(
    "typo",
    ["C01X00T48", "C01X0T47", "C01X000T47", "C10X00T47"],
    ids=["replaced", "left-out", "added", "transposed"],
)
def test_a_passport_number_one_typo_apart_is_one_edit_and_counts_for_the_pair(typo: str) -> None:
    a = feats(**ANNA, passport_number="C01X00T47")
    b = feats(**ANNA, passport_number=typo)
    level, weight = passport_evidence(a, b)
    assert level == "one-edit"
    assert weight == pytest.approx(math.log2(0.03 / 0.0002))
    result = score_pair(a, b)
    assert result.rule == "probabilistic"  # one edit is evidence, never a decision alone
    assert result.decision == "match"  # names and birth date agree: the typo no longer costs the pair
    assert quick_score(a, b) == (result.score, result.decision, result.rule)


def test_different_passport_numbers_stay_different_and_the_same_one_decides() -> None:
    a = feats(**ANNA, passport_number="C01X00T47")
    other = feats(**ANNA, passport_number="K77H21Q09")
    level, weight = passport_evidence(a, other)
    assert level == "different"
    assert weight == pytest.approx(math.log2(0.05 / 0.999799))
    same = feats(given_name="Hanna", family_name="Maier", passport_number="c01x 00t47", passport_country="AT")
    assert score_pair(a, same).rule == "deterministic:passport"
    assert quick_score(a, same) == (score_pair(a, same).score, "match", "deterministic:passport")


def test_quick_score_equals_score_pair_with_passport_levels() -> None:
    records = [
        feats(**ANNA, passport_number="C01X00T47"),
        feats(**ANNA, passport_number="C01X00T48"),
        feats(given_name="Anna", family_name="Meyer", passport_number="C01X0T47"),
        feats(given_name="Berta", family_name="Meier", passport_number="K77H21Q09", national_id_number="12345678901"),
        feats(**ANNA),
    ]
    for a in records:
        for b in records:
            full = score_pair(a, b)
            assert quick_score(a, b) == (full.score, full.decision, full.rule)
            assert quick_score(a, b, floor=full.score) == (full.score, full.decision, full.rule)


def test_the_exact_hash_is_unchanged_and_the_variants_ignore_the_issuing_country() -> None:
    r = record(**ANNA, passport_number="C01X-00T47", passport_country="DE")
    assert r.passport_hash == normalize.passport_hash("C01X00T47", None, pepper=PEPPER)  # stored hashes still match
    assert r.features().passport == r.passport_hash
    assert len(r.passport_variants) == 9  # the number and its deletion variants (either "0" of "00" left out: one)
    assert record(**ANNA, passport_number="C01X00T47", passport_country="AT").passport_variants == r.passport_variants
    assert not r.passport_variants & record(**ANNA, national_id_number="C01X00T47").national_id.variants  # type: ignore[union-attr]
    assert "C01X00T47" not in json.dumps(r.normalized_fields())


def test_features_keep_the_variants_and_blocking_gets_no_key_for_them() -> None:
    f = feats(**ANNA, passport_number="C01X00T47")
    stored = json.loads(json.dumps(f.to_json()))
    assert isinstance(stored["passport_variants"], str)
    assert MatchFeatures.from_json(stored) == f
    assert MatchFeatures.from_json({"passport": f.passport}).passport_variants == frozenset()  # saved before
    keys = "".join(blocking_keys(f))
    assert not any(v in keys for v in f.passport_variants)
    assert blocking_keys(f) == blocking_keys(MatchFeatures.from_json({**stored, "passport_variants": ""}))


def test_a_restated_partial_record_keeps_the_variants_and_a_cleared_passport_drops_them() -> None:
    booked = record(**ANNA, email="anna@example.com", passport_number="C01X00T47")
    started = record(at=T0 + timedelta(days=9), given_name="Anna", family_name="Meier", email="anna@example.com")
    now = restate(as_stored(booked), started)
    assert now.passport_variants == booked.passport_variants
    assert now.features() == booked.features()
    typo = feats(**ANNA, passport_number="C01X00T48")
    assert passport_evidence(now.features(), typo)[0] == "one-edit"
    # Stated again through the database once more: still there.
    assert restate(as_stored(now), started).passport_variants == booked.passport_variants
    cleared = record(at=T0 + timedelta(days=10), given_name="Anna", family_name="Meier", cleared=["passport_number"])
    gone = restate(as_stored(now), cleared)
    assert gone.passport_hash is None
    assert gone.passport_variants == frozenset()
    assert PASSPORT_VARIANTS not in gone.normalized_fields()


def test_records_one_typo_apart_are_no_identifier_conflict_in_clustering() -> None:
    a = feats(**ANNA, passport_number="C01X00T47")
    typo = feats(**ANNA, passport_number="C01X00T48")
    other = feats(**ANNA, passport_number="K77H21Q09")
    assert not resolution.identifiers_conflict(a, typo)
    assert resolution.identifiers_conflict(a, other)


def test_stored_versions_learned_before_the_passport_one_edit_level_take_the_built_in_one() -> None:
    stored = DEFAULT_PARAMETERS.to_json()
    stored["version"] = "learned-1"
    stored["levels"]["passport"] = [
        {"level": "exact", "m": 0.9, "u": 0.001},
        {"level": "different", "m": 0.1, "u": 0.999},
    ]
    loaded = ModelParameters.from_json(stored)
    assert loaded.problems() == []
    assert loaded.level("passport", "exact").m == 0.9
    assert loaded.level("passport", "one-edit") == DEFAULT_PARAMETERS.level("passport", "one-edit")
    assert list(loaded.levels["passport"]) == ["exact", "one-edit", "different"]
    a, b = feats(**ANNA, passport_number="C01X00T47"), feats(**ANNA, passport_number="C01X00T48")
    full = score_pair(a, b, params=loaded)
    assert full.evidence[-1].level == "one-edit"
    assert quick_score(a, b, params=loaded) == (full.score, full.decision, full.rule)


def test_estimation_learns_the_passport_one_edit_level() -> None:
    records = [feats(**ANNA, passport_number="C01X00T47"), feats(**ANNA, passport_number="C01X00T48")] * 5
    u = u_probabilities(random_pair_patterns(records, pairs=200, rng=random.Random(1)), min_observations=5)
    assert u["passport"]["one-edit"] > 0.3  # seen among the pairs, not the built-in 0.0002


def test_the_export_says_the_variants_are_held_never_the_hashes() -> None:
    r = record(**ANNA, passport_number="C01X00T47")
    out = exported_record({"normalized": r.normalized_fields(), "passport_hash": r.passport_hash})  # type: ignore[arg-type]
    assert out["normalized"][PASSPORT_VARIANTS] == "held"
    assert not any(v in json.dumps(out) for v in r.passport_variants)
