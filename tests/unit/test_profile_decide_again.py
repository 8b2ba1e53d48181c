"""Deciding a batch again after some blocking keys read differently: only what they affect changes.

`decide_all(..., earlier=, changed=)` keeps the decisions of records untouched by the changed
keys; the result must be the one deciding everything again gives.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from services.profile.domain import matching, resolution
from services.profile.domain.resolution import Decision, ProfileConfig, SourceKey, decide_all
from services.profile.service_layer import bulk

CONFIG = ProfileConfig(phone_region="DE", passport_pepper="test")
GIVEN = ["Anna", "Anne", "Jan", "Mei", "Li"]
FAMILY = ["Meyer", "Maier", "Wang", "Ng"]
Stored = dict[str, list[tuple[SourceKey, str, matching.MatchFeatures]]]


def _row(rng: random.Random, system: str, i: int) -> dict[str, str]:
    row = {"source_system": system, "source_id": str(i), "given_name": rng.choice(GIVEN),
           "family_name": rng.choice(FAMILY)}  # fmt: skip
    if rng.random() < 0.6:
        row["email"] = f"{row['given_name'].lower()}{rng.randrange(3)}@example.org"
    if rng.random() < 0.4:
        row["birth_date"] = f"19{rng.randrange(70, 73)}-01-0{rng.randrange(1, 3)}"
    return row


def _stored(rng: random.Random, rows: list[dict[str, str]]) -> Stored:
    out: Stored = {}
    for row in rows:
        it = bulk.row_to_incoming(row, config=CONFIG, default_source=None, now=datetime.now(UTC))
        f = it.record.features()
        customer = f"cus_{rng.randrange(len(rows) // 2 + 1)}"
        for k in matching.blocking_keys(f):
            out.setdefault(k, []).append((it.record.key, customer, f))
    return out


@contextmanager
def _ids_named_after_records() -> Iterator[None]:
    """A customer created for a record is named after it (ids are random otherwise, and ties
    between equal scores go to the larger id: two runs would not be comparable)."""
    current: list[SourceKey] = []
    decide = resolution.decide_record

    def named(key: SourceKey, *args: Any, **kwargs: Any) -> Decision:
        current[:] = [key]
        return decide(key, *args, **kwargs)

    def new_id() -> str:
        return f"cus_new_{current[0][1]}"

    with (
        mock.patch.object(resolution, "decide_record", named),
        mock.patch.object(resolution, "new_customer_id", new_id),
    ):
        yield


def _outcome(decisions: list[Decision]) -> list[tuple[str, str, bool, float | None]]:
    return [(d.customer_id, d.rule, d.created, d.score) for d in decisions]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32))
def test_deciding_only_what_changed_keys_affect_equals_deciding_everything_again(seed: int) -> None:
    rng = random.Random(seed)
    batch = [_row(rng, "batch", i) for i in range(25)]
    items = [bulk.row_to_incoming(r, config=CONFIG, default_source=None, now=datetime.now(UTC)) for r in batch]
    features = [it.record.features() for it in items]
    keys = [matching.blocking_keys(f) for f in features]
    first = _stored(rng, [_row(rng, "db", i) for i in range(30)])
    # Meanwhile another batch stored records under some of the keys.
    later = {k: list(v) for k, v in first.items()}
    for k, v in _stored(rng, [_row(rng, "other", i) for i in range(rng.randrange(0, 8))]).items():
        later.setdefault(k, []).extend(v)
    changed = [k for k in later if later[k] != first.get(k)]

    # ... and maybe stored some of the batch's own records (they become source links), or erased some.
    def some_links() -> dict[SourceKey, str]:
        linked = rng.sample(range(len(items)), rng.choice([0, 0, 1, 3]))
        return {items[i].record.key: f"cus_{rng.randrange(5)}" for i in linked}

    links_first, links_later = some_links(), some_links()
    relinked = {i for i, it in enumerate(items) if links_first.get(it.record.key) != links_later.get(it.record.key)}

    with _ids_named_after_records():
        earlier = list(decide_all(items, features, keys, links_first, first, CONFIG, None))
        again = list(
            decide_all(
                items,
                features,
                keys,
                links_later,
                later,
                CONFIG,
                None,
                earlier=earlier,
                changed=changed,
                again=relinked,
            )
        )
        full = list(decide_all(items, features, keys, links_later, later, CONFIG, None))
    assert _outcome(again) == _outcome(full)


def test_a_record_twice_in_a_batch_adds_its_names_once_with_its_last_features() -> None:
    rows = [
        {"source_system": "s", "source_id": "1", "given_name": "Anna", "family_name": "Meyer"},
        {"source_system": "s", "source_id": "2", "given_name": "Jan", "family_name": "Ng"},
        {"source_system": "s", "source_id": "1", "given_name": "Anne", "family_name": "Meyer"},
    ]
    items = [bulk.row_to_incoming(r, config=CONFIG, default_source=None, now=datetime.now(UTC)) for r in rows]
    features = [it.record.features() for it in items]
    expected = [*resolution.frequency_tokens(features[2]), *resolution.frequency_tokens(features[1])]
    assert sorted(resolution.new_frequency_tokens(items, features, {})) == sorted(expected)
    assert sorted(resolution.new_frequency_tokens(items, features, {("s", "1"): "cus_1"})) == sorted(
        resolution.frequency_tokens(features[1])
    )
