"""Crypto-shredding without I/O: wrapping data keys, master-key rotation, sealing and opening record values."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterable

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr, ValidationError

from services.kit.contracts.topics import TOPICS
from services.kit.keyring import (
    DEV_KEYRING_KEY,
    Keyring,
    KeyUnavailable,
    MasterKeys,
    SubjectKey,
    new_master_key,
    subject_of,
)
from services.kit.sealed import SEALED_HEADER, RecordSealer, open_value, seal_value, sealed_topics, without_seal
from services.kit.settings import ServiceSettings

PREFIX = "t."
NAME = b'{"given_name": "Wilhelmina", "family_name": "Quastenberg"}'


class FakeKeys:
    """The keyring's interface over a dict: keys created on demand, some subjects shredded."""

    def __init__(self) -> None:
        self.store: dict[str, SubjectKey] = {}
        self.queries: list[tuple[set[str], bool]] = []

    def shred(self, subject: str) -> None:
        self.store[subject] = SubjectKey(
            subject, self.store[subject].key_id if subject in self.store else "", shredded=True
        )

    async def keys(self, subjects: Iterable[str], *, create: bool) -> dict[str, SubjectKey]:
        wanted = set(subjects)
        self.queries.append((wanted, create))
        for s in wanted:
            if create and s not in self.store:
                self.store[s] = SubjectKey(s, os.urandom(4).hex(), aead=AESGCM(AESGCM.generate_key(bit_length=256)))
        return {s: self.store[s] for s in wanted if s in self.store}


def test_a_wrapped_key_unwraps_for_its_subject_only() -> None:
    master = MasterKeys([SecretStr(new_master_key())])
    data_key = os.urandom(32)
    master_id, wrapped = master.wrap("cus-1", data_key)
    assert data_key not in wrapped
    assert master.unwrap("cus-1", master_id, wrapped) == data_key
    with pytest.raises(KeyUnavailable):
        master.unwrap("cus-2", master_id, wrapped)  # a wrapped key copied to another row does not open


def test_rotation_wraps_with_the_first_key_and_unwraps_with_every_one() -> None:
    old, new = SecretStr(new_master_key()), SecretStr(new_master_key())
    before = MasterKeys([old])
    old_id, wrapped = before.wrap("cus-1", b"k" * 32)
    rotated = MasterKeys([new, old])
    assert rotated.current_id != old_id
    assert rotated.unwrap("cus-1", old_id, wrapped) == b"k" * 32
    new_id, rewrapped = rotated.wrap("cus-1", b"k" * 32)
    assert new_id == rotated.current_id
    with pytest.raises(KeyUnavailable, match="not configured"):
        MasterKeys([new]).unwrap("cus-1", old_id, wrapped)  # the old key removed too early
    assert MasterKeys([new]).unwrap("cus-1", new_id, rewrapped) == b"k" * 32


def test_master_keys_must_be_32_bytes_and_production_refuses_the_development_one() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        MasterKeys([SecretStr(base64.urlsafe_b64encode(b"short").decode())])
    with pytest.raises(ValueError, match="at least one"):
        MasterKeys([])
    with pytest.raises(ValidationError, match="keyring"):
        ServiceSettings(
            environment="production",
            pg_password=SecretStr("x"),
            api_keys=[{"name": "a", "role": "agent", "key": "k" * 40}],
            link_keys=[SecretStr(new_master_key())],
            erasure_key=SecretStr("e" * 40),
            keyring_keys=[DEV_KEYRING_KEY],
        )


def test_a_sealed_value_is_bound_to_its_topic_and_key() -> None:
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    sealed = seal_value(aead, topic="profile.customers.v1", key=b"cus-1", value=NAME)
    assert b"Wilhelmina" not in sealed
    assert open_value(aead, topic="profile.customers.v1", key=b"cus-1", value=sealed) == NAME
    for topic, key in (("profile.customers.v1", b"cus-2"), ("preferences.snapshots.v1", b"cus-1")):
        with pytest.raises(ValueError, match="does not open"):
            open_value(aead, topic=topic, key=key, value=sealed)


def test_personal_and_dead_letter_topics_are_sealed_the_landing_topic_is_not() -> None:
    sealed = sealed_topics()
    assert {"profile.customers.v1", "profile.bookings.v1", "feedback.surveys.v1", "value.customers.v1"} <= sealed
    assert all(
        f"{s}.deadletters.v1" in sealed for s in ("profile", "preferences", "feedback", "notifications", "value")
    )
    assert "booking.events.v1" not in sealed
    assert "value.companies.v1" not in sealed
    # Every topic of theirs but the erasure topics, which carry ids and counts only (and must stay readable
    # after the shred they ask for).
    owned = {t.name for t in TOPICS if t.owner in ("preferences", "feedback", "notifications")}
    assert {t for t in owned if not t.endswith(".erasures.v1")} <= sealed
    assert not {t.name for t in TOPICS if t.name.endswith(".erasures.v1")} & sealed


async def test_rows_are_sealed_with_one_key_query_and_open_again() -> None:
    keys = FakeKeys()
    sealer = RecordSealer(keys, topic_prefix=PREFIX)
    rows = [
        (f"{PREFIX}profile.customers.v1", b"cus-1", NAME, [("event_type", b"CustomerSnapshotV1")]),
        (f"{PREFIX}profile.customers.v1", b"cus-2", None, []),  # a tombstone stays null
        (f"{PREFIX}booking.events.v1", b"gds:B1", NAME, []),  # not a sealed topic
        (f"{PREFIX}profile.bookings.v1", b"cus-1", NAME, []),
    ]
    out = await sealer.seal_rows(rows)
    assert keys.queries == [({"cus-1"}, True)]
    assert out[1] == rows[1]
    assert out[2] == rows[2]
    for _, _, value, headers in (out[0], out[3]):
        assert value is not None
        assert b"Wilhelmina" not in value
        assert dict(headers)[SEALED_HEADER] == f"v1:{keys.store['cus-1'].key_id}".encode()
    assert dict(out[0][3])["event_type"] == b"CustomerSnapshotV1"  # headers stay readable
    assert await sealer.seal_rows([out[0]]) == [out[0]]  # sealed once, never twice
    opened = await sealer.open_values(out)
    assert [v for v, _ in opened] == [NAME, None, NAME, NAME]
    assert keys.queries[-1] == ({"cus-1"}, False)  # opening never creates keys
    assert without_seal(out[0][3]) == [("event_type", b"CustomerSnapshotV1")]


async def test_a_shredded_subject_is_erased_and_other_failures_are_faults() -> None:
    keys = FakeKeys()
    sealer = RecordSealer(keys, topic_prefix=PREFIX)
    topic = f"{PREFIX}feedback.surveys.v1"
    out = await sealer.seal_rows([(topic, b"cus-1", NAME, []), (topic, b"cus-2", NAME, [])])
    keys.shred("cus-1")
    keys.store["cus-2"] = SubjectKey("cus-2", keys.store["cus-2"].key_id, error="wrapped under master key 'abcd'")
    orphan = (topic, b"cus-3", out[0][2], [(SEALED_HEADER, b"v1:00000000")])
    altered = (topic, b"cus-4", b"\x00" * 40, [(SEALED_HEADER, b"v1:00000000")])
    keys.store["cus-4"] = SubjectKey("cus-4", "00000000", aead=AESGCM(AESGCM.generate_key(bit_length=256)))
    opened = await sealer.open_values([*out, orphan, altered])
    assert opened[0] == (None, "erased")
    assert opened[1][0] is None
    assert "unusable here" in (opened[1][1] or "")
    assert opened[2][0] is None
    assert "no key" in (opened[2][1] or "")
    assert opened[3][0] is None
    assert "does not open" in (opened[3][1] or "")


async def test_a_late_event_of_a_shredded_subject_goes_out_unreadable() -> None:
    keys = FakeKeys()
    keys.store["cus-9"] = SubjectKey("cus-9", "feedbeef", shredded=True)
    sealer = RecordSealer(keys, topic_prefix=PREFIX)
    [(_, _, value, headers)] = await sealer.seal_rows([(f"{PREFIX}profile.bookings.v1", b"cus-9", NAME, [])])
    assert value is not None
    assert b"Wilhelmina" not in value
    assert await sealer.open_values([(f"{PREFIX}profile.bookings.v1", b"cus-9", value, headers)]) == [(None, "erased")]


def test_subjects_are_record_keys_as_text() -> None:
    assert subject_of(b"cus-1") == "cus-1"
    assert subject_of(b"gds:B-1") == "gds:B-1"
    assert subject_of(None) == ""
    assert subject_of(b"a\x00\xffb") == "a\\0\ufffdb"


async def test_a_dead_letters_error_is_sealed_with_its_value() -> None:
    """A parser's message quotes its input: in a dead letter's headers it would stay readable for weeks."""
    keys = FakeKeys()
    sealer = RecordSealer(keys, topic_prefix=PREFIX)
    error = b"invalid email 'wilhelmina@quastenberg.example'"
    row = (f"{PREFIX}profile.deadletters.v1", b"cus-1", NAME, [("dlq.reason", b"unparseable"), ("dlq.error", error)])
    [(topic, key, value, headers)] = await sealer.seal_rows([row])
    sealed_error = dict(headers)["dlq.error"]
    assert sealed_error.startswith(b"sealed:")
    assert b"wilhelmina" not in sealed_error
    assert dict(headers)["dlq.reason"] == b"unparseable"
    [(clear, opened, problem)] = await sealer.open_records([(topic, key, value, headers)])
    assert (clear, problem) == (NAME, None)
    assert opened == [("dlq.reason", b"unparseable"), ("dlq.error", error)]
    keys.shred("cus-1")
    [(clear, kept, problem)] = await sealer.open_records([(topic, key, value, headers)])
    assert (clear, problem) == (None, "erased")
    assert dict(kept)["dlq.error"] == sealed_error


class _Transaction:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *_: object) -> None:
        return None


class FakeKeyTable:
    """`keyring.subject_keys` behind the pool interface the keyring uses; `during_fetch` runs mid-query."""

    def __init__(self, master: MasterKeys) -> None:
        self.master = master
        self.rows: dict[str, dict[str, object]] = {}
        self.fetches = 0
        self.during_fetch: Callable[[], None] = lambda: None

    def add(self, subject: str) -> None:
        master_id, wrapped = self.master.wrap(subject, os.urandom(32))
        self.rows[subject] = {"subject": subject, "key_id": "k1", "master_id": master_id, "wrapped_key": wrapped}

    def acquire(self) -> FakeKeyTable:
        return self

    async def __aenter__(self) -> FakeKeyTable:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    def transaction(self) -> _Transaction:
        return _Transaction()

    async def execute(self, *_: object) -> None:
        return None

    async def fetchval(self, *_: object) -> str:
        return "keyring.subject_keys"  # the table exists

    async def fetch(self, _sql: str, subjects: list[str]) -> list[dict[str, object]]:
        self.fetches += 1
        self.during_fetch()
        return [self.rows[s] for s in subjects if s in self.rows]


async def test_keys_read_while_a_shred_was_heard_are_used_once_and_not_cached() -> None:
    """A query in flight when a shred's notification arrives may have read the key before the shred: it
    serves that batch (sealed before the erasure committed) but must not stay in the cache for minutes."""
    master = MasterKeys([SecretStr(new_master_key())])
    table = FakeKeyTable(master)
    table.add("cus-1")
    keyring = Keyring(table, master)  # type: ignore[arg-type]  # the fake implements what the keyring uses
    table.during_fetch = lambda: keyring.forget(["cus-1"])
    assert (await keyring.keys(["cus-1"], create=False))["cus-1"].aead is not None
    assert not keyring.cached("cus-1")
    table.during_fetch = lambda: None
    await keyring.keys(["cus-1"], create=False)
    assert keyring.cached("cus-1")
    await keyring.keys(["cus-1"], create=False)
    assert table.fetches == 2  # the second time from the cache
