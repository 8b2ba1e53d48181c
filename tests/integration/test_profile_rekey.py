"""`python -m services.profile rekey` on the real database: records stored by a version that
computed other blocking keys get this version's, and the lookups of new records find them."""

from __future__ import annotations

import random
import string

import asyncpg
import pytest

from services.profile.adapters import blocking as blocking_db
from services.profile.domain.matching import MatchFeatures, blocking_keys
from services.profile.domain.resolution import ProfileConfig
from services.profile.service_layer import bulk
from services.profile.service_layer.rekey import rekey

pytestmark = pytest.mark.integration


def name() -> str:
    return "".join(random.choices(string.ascii_lowercase, k=9)).capitalize()


async def _keys_of(conn: asyncpg.Connection, system: str) -> dict[str, set[int]]:
    rows = await conn.fetch("SELECT source_id, key_hash FROM blocking_key_hashes WHERE source_system = $1", system)
    out: dict[str, set[int]] = {}
    for r in rows:
        out.setdefault(r["source_id"], set()).add(r["key_hash"])
    return out


async def test_records_stored_with_other_keys_get_this_versions(
    profile_pool: asyncpg.Pool, profile_config: ProfileConfig
) -> None:
    system = f"rekey-{name().lower()}"
    rows = [
        {"source_system": system, "source_id": f"r{i}", "given_name": name(), "family_name": name(),
         "date_of_birth": f"19{random.randint(40, 99)}-0{random.randint(1, 9)}-1{random.randint(0, 9)}"}
        for i in range(5)
    ]  # fmt: skip
    await bulk.import_rows(profile_pool, list(enumerate(rows, start=1)), config=profile_config, batch_size=5)
    async with profile_pool.acquire() as conn:
        stored = await _keys_of(conn, system)
        features = {
            r["source_id"]: MatchFeatures.from_json(r["features"])
            for r in await conn.fetch("SELECT source_id, features FROM source_records WHERE source_system = $1", system)
        }
        expected = {sid: {blocking_db.key_hash(k) for k in blocking_keys(f)} for sid, f in features.items()}
        assert stored == expected
        # As an older version left them: some of this version's keys missing, one it no longer computes.
        dropped = {sid: sorted(hashes)[:2] for sid, hashes in expected.items()}
        for sid, hashes in dropped.items():
            await conn.execute(
                "DELETE FROM blocking_key_hashes WHERE source_system = $1 AND source_id = $2 AND key_hash = ANY($3)",
                system, sid, hashes,
            )  # fmt: skip
        stale = blocking_db.key_hash("n:OLD|KEY")
        await conn.execute("INSERT INTO blocking_key_hashes VALUES ($1, $2, 'r0')", stale, system)

    done = await rekey(profile_pool, chunk=3)  # several chunks, and every other test's records too
    assert done.records >= 5
    assert done.keys_added >= 10

    async with profile_pool.acquire() as conn:
        after = await _keys_of(conn, system)
    assert {sid: hashes - {stale} for sid, hashes in after.items()} == expected  # the missing ones are back
    assert stale in after["r0"]  # a key no version computes any more is left: nothing looks it up
    again = await rekey(profile_pool, chunk=1000)
    assert again.keys_added == 0  # run again: nothing to add


async def test_records_stored_before_flagged_values_and_secondary_contacts_were_compared_get_them(
    profile_pool: asyncpg.Pool, profile_config: ProfileConfig
) -> None:
    # A version before this one stored no flagged form of an invalid email, phone or loyalty number
    # and no secondary contacts (they took no part in matching); rekey restates such records, stores
    # their features and keys.
    system = f"rekey-{name().lower()}"
    number = "".join(random.choices("123456789", k=10))  # 10 digits: not a Miles & More number
    rows = [
        {"source_system": system, "source_id": "f1", "given_name": name(), "family_name": name(),
         "loyalty": f"LH:{number}", "email": f"{name().lower()}@example",
         "secondary_emails": f"{name().lower()}@example.org"},
        {"source_system": system, "source_id": "f2", "given_name": name(), "family_name": name()},
    ]  # fmt: skip
    await bulk.import_rows(profile_pool, list(enumerate(rows, start=1)), config=profile_config, batch_size=5)
    async with profile_pool.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT features FROM source_records WHERE source_system = $1 AND source_id = 'f1'", system
        )
        features = MatchFeatures.from_json(stored)
        assert f"loyalty:MILESANDMORE:{number}" in features.flagged
        assert any(f.startswith("email:") for f in features.flagged)
        assert len(features.other_emails) == 1
        # As the version before left it: no flagged values or secondary contacts, no keys for them.
        await conn.execute(
            "UPDATE source_records SET features = features - 'flagged' - 'other_emails' WHERE source_system = $1",
            system,
        )
        await conn.execute(
            "DELETE FROM blocking_key_hashes WHERE source_system = $1 AND key_hash = ANY($2)",
            system,
            [blocking_db.key_hash(f"l:MILESANDMORE:{number}"), blocking_db.key_hash(f"e:{features.other_emails[0]}")],
        )

    done = await rekey(profile_pool, chunk=1)
    assert done.features_updated >= 1

    async with profile_pool.acquire() as conn:
        again = await conn.fetchval(
            "SELECT features FROM source_records WHERE source_system = $1 AND source_id = 'f1'", system
        )
        keys = await _keys_of(conn, system)
    assert MatchFeatures.from_json(again) == features
    assert blocking_db.key_hash(f"l:MILESANDMORE:{number}") in keys["f1"]
    assert blocking_db.key_hash(f"e:{features.other_emails[0]}") in keys["f1"]
    assert (await rekey(profile_pool, chunk=1000)).features_updated == 0  # run again: nothing to do
