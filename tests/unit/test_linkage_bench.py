"""The linkage comparison's pure parts: cluster metrics, the travel data generator, column choices."""

from __future__ import annotations

import json
from datetime import date

import pytest

from bench import linkage_corrupt as corrupt
from bench import linkage_metrics as metrics
from bench.linkage_data import FIELD_SETS, cleaned, iso_date
from bench.linkage_datagen import MODEL, generate
from bench.linkage_itinera import import_row, passed_columns

# Three true entities; the prediction splits E1 and joins part of it to E2.
TRUTH = {"a": "E1", "b": "E1", "c": "E1", "d": "E2", "e": "E2", "f": "E3"}
PREDICTED = {"a": "C1", "b": "C1", "c": "C2", "d": "C2", "e": "C2", "f": "C3"}


def test_pair_scores_count_pairs_within_clusters() -> None:
    scores, counts = metrics.pair_scores(PREDICTED, TRUTH)
    # true: ab ac bc de; predicted: ab cd ce de; both: ab de
    assert counts == {"true_pairs": 4, "predicted_pairs": 4, "true_positive_pairs": 2}
    assert (scores.precision, scores.recall, scores.f1) == (0.5, 0.5, 0.5)


def test_pair_scores_of_a_perfect_and_of_an_empty_prediction() -> None:
    perfect, _ = metrics.pair_scores(TRUTH, TRUTH)
    assert (perfect.precision, perfect.recall) == (1.0, 1.0)
    # Records the system lost (rejected rows) count as singletons: no pair predicted, none found.
    lost, counts = metrics.pair_scores({}, TRUTH)
    assert counts["predicted_pairs"] == 0
    assert (lost.precision, lost.recall) == (1.0, 0.0)


def test_bcubed_averages_over_records() -> None:
    scores = metrics.bcubed(PREDICTED, TRUTH)
    # precision: a 1, b 1, c 1/3, d 2/3, e 2/3, f 1; recall: a 2/3, b 2/3, c 1/3, d 1, e 1, f 1
    assert scores.precision == pytest.approx((3 + 1 / 3 + 4 / 3) / 6)
    assert scores.recall == pytest.approx((4 / 3 + 1 / 3 + 3) / 6)


def test_exact_clusters_count_identical_record_sets_only() -> None:
    scores = metrics.exact_clusters(PREDICTED, TRUTH)
    assert (scores.precision, scores.recall) == pytest.approx((1 / 3, 1 / 3))
    assert metrics.exact_clusters(TRUTH, TRUTH).f1 == 1.0


def test_hard_negatives_joined_by_kind() -> None:
    relations = [("E1", "E2", "twin"), ("E2", "E3", "namesake"), ("E1", "E9", "twin")]  # E9 has no records
    assert metrics.hard_negatives_joined(PREDICTED, TRUTH, relations) == {
        "twin": {"joined": 1, "pairs": 1},
        "namesake": {"joined": 0, "pairs": 1},
    }


def test_recall_by_label_counts_pairs_touching_a_labelled_record() -> None:
    systems = {"a": "hotel", "d": "hotel"}
    out = metrics.recall_by(PREDICTED, TRUTH, lambda r: [systems.get(r, "booking")])
    # booking: ab ac bc de, found ab de; hotel (a or d): ab ac de, found ab de
    assert out == {"booking": {"recall": 0.5, "pairs": 4}, "hotel": {"recall": 0.6667, "pairs": 3}}


def test_generator_is_deterministic_for_a_seed() -> None:
    first, again, other = generate(150, seed=3), generate(150, seed=3), generate(150, seed=4)
    assert json.dumps(first.records) == json.dumps(again.records)
    assert first.relations == again.relations
    assert json.dumps(first.records) != json.dumps(other.records)


def test_generated_records_are_labelled_and_travel_shaped() -> None:
    data = generate(800, seed=5)
    records = data.records
    assert len(records) >= 800
    assert len({r["record_id"] for r in records}) == len(records)
    assert {r["system"] for r in records} == {s for s, _ in MODEL.systems}
    known = {"pinyin", "keyboard_typo", "doubled_letter", "ocr", "phonetic", "nickname", "replaced_name",
             "honorific", "swapped_names", "date_typo", "day_month_swap", "two_digit_year", "missing_email",
             "different_email", "missing_phone", "moved", "address_typo"}  # fmt: skip
    assert {c for r in records for c in r["corruptions"]} <= known
    entities = {r["entity_id"] for r in records}
    assert {kind for _, _, kind in data.relations} == {"twin", "parent_child", "namesake"}
    assert all(a in entities and b in entities for a, b, _ in data.relations)
    hr = [r for r in records if r["system"] == "hr"]
    assert all("employee_number" in r and "date_of_birth" in r for r in hr)
    hotel = [r for r in records if r["system"] == "hotel"]
    assert sum("date_of_birth" in r for r in hotel) < len(hotel) / 2  # thin records
    # A Chinese traveller appears in characters and, for the same entity, in pinyin.
    pinyin = [r for r in records if "pinyin" in r["corruptions"]]
    assert pinyin
    assert all(r["given_name"].isascii() for r in pinyin)


def test_corruptions_change_the_value_the_way_they_say() -> None:
    import random

    rng = random.Random(1)
    assert corrupt.day_month_swap(date(1980, 4, 9)) == date(1980, 9, 4)
    assert corrupt.day_month_swap(date(1980, 4, 19)) == date(1980, 4, 19)
    assert corrupt.honorific(rng, "Anna").endswith(" Anna")
    doubled = corrupt.doubled_letter(rng, "Martin")
    assert len(doubled) in (5, 7)
    typo = corrupt.keyboard_typo(rng, "Martin")
    assert len(typo) == 6
    assert typo != "Martin"
    assert typo[0] == "M"
    assert corrupt.keyboard_typo(rng, "王伟") == "王伟"


def test_two_digit_years_are_read_as_past_years() -> None:
    assert iso_date("09/04/85", today=date(2026, 1, 1)) == "1985-04-09"
    assert iso_date("09/04/05", today=date(2026, 1, 1)) == "2005-04-09"
    assert iso_date("12APR1985") == "1985-04-12"
    assert iso_date("1985-13-01") is None
    assert cleaned({"record_id": "r1", "given_name": "  Anna  Maria "}, ("given_name", "email")) == {
        "unique_id": "r1",
        "given_name": "anna maria",
        "email": None,
    }


def test_the_import_gets_only_the_columns_it_reads() -> None:
    passed = passed_columns(FIELD_SETS["all"])
    assert {"given_name", "family_name", "date_of_birth", "passport_number", "email", "address_country"} <= set(passed)
    assert "home_address_line" in passed  # sent as the import's one-line home_address
    assert "national_id" in passed  # sent as national_id_number
    assert passed_columns(FIELD_SETS["names_dob"]) == ["given_name", "family_name", "date_of_birth"]
    record = {"record_id": "R1", "system": "hotel", "given_name": "Anna", "home_address_line": "x", "email": ""}
    assert import_row(record, passed) == {
        "source_system": "hotel",
        "source_id": "R1",
        "given_name": "Anna",
        "home_address": "x",
    }
