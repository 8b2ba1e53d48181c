"""Erasure rules without I/O: which ids an erasure reaches, what it searches for, how progress reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.kit.contracts.privacy import ERASURE_STEPS
from services.kit.erasure import personal_values as view_values
from services.kit.erasure import subject_digest
from services.privacy.domain.erasures import Step, completed_at, progress, status
from services.profile.domain.erasure import Links, expand, frequency_token_counts, personal_values, record_keys


def _links(same: set[tuple[str, str]] = set(), came_from: set[tuple[str, str]] = set()) -> Links:  # noqa: B006  # read only
    return Links(frozenset(same), frozenset(came_from))


def test_an_unknown_or_unlinked_id_reaches_only_itself() -> None:
    assert expand("c1", _links()) == {"c1"}
    assert expand("c1", _links({("c8", "c9")})) == {"c1"}


def test_a_merge_in_force_joins_both_ids_whichever_is_asked_for() -> None:
    links = _links({("absorbed", "survivor")})
    assert expand("survivor", links) == {"survivor", "absorbed"}
    assert expand("absorbed", links) == {"survivor", "absorbed"}


def test_chains_of_merges_are_followed_to_their_ends() -> None:
    links = _links({("a", "b"), ("b", "c"), ("d", "c")})
    assert expand("a", links) == {"a", "b", "c", "d"}


def test_parts_that_came_from_the_traveller_are_reached_but_not_the_other_way() -> None:
    links = _links({("absorbed", "survivor")}, {("survivor", "split-off"), ("absorbed", "restored")})
    assert expand("survivor", links) == {"survivor", "absorbed", "split-off", "restored"}
    # The part split off is someone else's record taken out of the traveller: erasing it leaves the origin.
    assert expand("split-off", links) == {"split-off"}


def test_a_part_merged_into_someone_else_takes_that_cluster_along() -> None:
    links = _links({("part", "other")}, {("origin", "part")})
    assert expand("origin", links) == {"origin", "part", "other"}


def test_record_keys_are_the_booking_topic_keys() -> None:
    assert record_keys([("gds", "B2"), ("gds", "B1"), ("gds", "B1")]) == ["gds:B1", "gds:B2"]


def test_personal_values_from_golden_records_and_raw_records() -> None:
    golden = [
        {"family_name": {"value": "Quillfeather"}, "email": {"value": "q@x.example"}, "nationality": {"value": "DE"}}
    ]
    raw = [{"full_name": "QUILLFEATHER/ODA", "phone": "+4930123456", "nationality": "Germany", "given_name": "Li"}]
    values = personal_values(golden, raw)
    assert values == ["+4930123456", "QUILLFEATHER/ODA", "Quillfeather", "q@x.example"]  # no nationality, nothing short


def test_view_snapshot_values() -> None:
    snapshot = {"display_name": "Oda Quillfeather", "email": "oda@x.example", "language": "de", "phone": None}
    assert view_values([snapshot], extra=["abc", None]) == ["Oda Quillfeather", "oda@x.example"]


def test_name_tokens_count_once_per_record() -> None:
    assert frequency_token_counts(["f:quill", "g:oda", "f:quill"]) == {"f:quill": 2, "g:oda": 1}


def test_digests_are_keyed() -> None:
    assert subject_digest(b"k1", "cus_1") == subject_digest(b"k1", "cus_1")
    assert subject_digest(b"k1", "cus_1") != subject_digest(b"k2", "cus_1")
    assert "cus_1" not in subject_digest(b"k1", "cus_1")


def test_an_erasure_completes_with_the_last_expected_step() -> None:
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    steps = [Step(svc, 1, {"rows": 1}, t0 + timedelta(seconds=i)) for i, svc in enumerate(ERASURE_STEPS[:-1])]
    assert completed_at(ERASURE_STEPS, steps) is None
    assert status(None) == "in_progress"
    assert [p.status for p in progress(ERASURE_STEPS, steps)] == ["done"] * (len(ERASURE_STEPS) - 1) + ["pending"]
    last = Step(ERASURE_STEPS[-1], 1, {}, t0 + timedelta(seconds=1))
    assert completed_at(ERASURE_STEPS, [*steps, last]) == t0 + timedelta(seconds=len(ERASURE_STEPS) - 2)
    assert status(completed_at(ERASURE_STEPS, [*steps, last])) == "completed"
