"""Bulk import with overlapping chunks, on the real database: the same decisions as chunk by chunk,
and one customer per traveller when streaming batches and a second import race it."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import string
from datetime import UTC, datetime
from typing import Any, cast
from unittest import mock

import asyncpg
import pytest

from services.profile.adapters import importing as importing_db
from services.profile.domain.resolution import ProfileConfig
from services.profile.service_layer import bulk
from services.profile.service_layer import overlap as overlapping
from services.profile.service_layer.resolver import resolve_batch

pytestmark = pytest.mark.integration


def surname() -> str:
    return "".join(random.choices(string.ascii_lowercase, k=10)).capitalize()


_BIRTH_DATES: set[str] = set()


def _birth_date() -> str:
    """A birth date no other record of these tests has (shared dates would make them review candidates)."""
    while (
        dob := f"19{random.randint(20, 99)}-{random.randint(1, 12):02d}-{random.randint(1, 28):02d}"
    ) in _BIRTH_DATES:
        pass
    _BIRTH_DATES.add(dob)
    return dob


def _row(system: str, source_id: str, given: str, family: str, **more: Any) -> dict[str, Any]:
    return {"source_system": system, "source_id": source_id, "given_name": given, "family_name": family, **more}


async def _customers(profile_pool: asyncpg.Pool, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    async with profile_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT s.source_system, s.source_id, s.customer_id FROM source_records s"
            " JOIN unnest($1::text[], $2::text[]) AS k(a, b) ON s.source_system = k.a AND s.source_id = k.b",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
    return {(r["source_system"], r["source_id"]): r["customer_id"] for r in rows}


async def _decisions(profile_pool: asyncpg.Pool, system: str) -> list[tuple[str, str, str, str | None]]:
    """Each record's rule, matched record and customer (named by its first record): comparable across imports."""
    async with profile_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT source_id, customer_id, match_rule, matched_to->>'source_id' AS matched"
            " FROM source_records WHERE source_system = $1 ORDER BY source_id",
            system,
        )
    first: dict[str, str] = {}
    for r in rows:
        first.setdefault(r["customer_id"], r["source_id"])
    return [(r["source_id"], first[r["customer_id"]], r["match_rule"], r["matched"]) for r in rows]


@pytest.mark.parametrize("per_key", [40, 2])
async def test_overlapping_chunks_decide_like_chunk_by_chunk(
    profile_pool: asyncpg.Pool, profile_config: ProfileConfig, per_key: int
) -> None:
    # per_key 2: keys fill up, so records the previous chunk rewrites drop out of full results.
    # No name frequencies: the second import would see the first one's given names counted.
    config = dataclasses.replace(profile_config, candidates_per_key=per_key, frequency_min_records=10**12)

    # Travellers whose records fall into consecutive chunks (batch size 3): later chunks must see
    # the earlier chunk's records before it has committed. Some records come twice (re-sent).
    def rows_of(system: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for i in range(40):
            # Each import its own travellers (names, birth dates, phones): the two must not match each other.
            fam, dob = surname(), _birth_date()
            phone = f"+49 30 {random.randint(1000000, 9999999)}"
            rows.append(_row(system, f"{i:02d}a", "Henrietta", fam, email=f"h.{fam.lower()}@example.org"))
            rows.append(_row(system, f"{i:02d}b", "Henriette", fam, date_of_birth=dob))
            rows.append(_row(system, f"{i:02d}c", "Henrietta", fam, date_of_birth=dob, phone=phone))
            rows.append(_row(system, f"{i:02d}d", "Bo", fam, email=f"bo.{fam.lower()}@example.org"))
        out = rows + rows[5:9]  # re-sent records: existing source links, carried or stored
        out += [rows[20]] * ((2 - len(out)) % 3)
        # 00b re-sent at the end of a chunk, then a new record under its keys at the start of the
        # next: that chunk reads 00b's stored version, which the previous chunk is rewriting.
        new = {**rows[1], "source_id": "00e", "given_name": "Henrietta"}
        return [*out, rows[1], new]

    summaries = {}
    seq_system, ovl_system = f"bulk-seq-{per_key}", f"bulk-ovl-{per_key}"
    for system, overlap in ((seq_system, False), (ovl_system, True)):
        rows = rows_of(system)
        numbered = list(enumerate(rows, start=1))
        summaries[system] = await bulk.import_rows(profile_pool, numbered, config=config, batch_size=3, overlap=overlap)

    seq, ovl = summaries[seq_system], summaries[ovl_system]
    assert (ovl.records, ovl.customers_created, ovl.linked) == (seq.records, seq.customers_created, seq.linked)
    assert ovl.records == len(rows)
    assert ovl.overlapped > len(rows) // 6  # chunks that did not wait for the previous commit
    assert await _decisions(profile_pool, ovl_system) == await _decisions(profile_pool, seq_system)
    linked = await _customers(profile_pool, [(ovl_system, f"{i:02d}{s}") for i in range(40) for s in "bc"])
    for i in range(40):  # same name and birth date; rows 4i+1 and 4i+2 fall into different chunks for some i
        assert linked[(ovl_system, f"{i:02d}b")] == linked[(ovl_system, f"{i:02d}c")]


async def test_streaming_batches_and_a_second_import_racing_an_import_make_one_customer_per_traveller(
    profile_pool: asyncpg.Pool, profile_config: ProfileConfig
) -> None:
    # Every traveller arrives four times, by email only: twice in the overlapping import (in
    # consecutive chunks), once in a streaming batch (exclusive locks) and once in a second import,
    # which finds the gate taken and resolves chunk by chunk. All four must end on one customer.
    travellers = [(surname(), f"{i:03d}") for i in range(60)]

    def record(system: str, prefix: str, fam: str, i: str) -> dict[str, Any]:
        return _row(system, f"{prefix}{i}", "Ines", fam, email=f"ines.{fam.lower()}@example.net")

    first = [record("race-imp", p, fam, i) for fam, i in travellers for p in "AB"]
    second = [record("race-imp2", "C", fam, i) for fam, i in travellers]
    streamed = [record("race-stream", "S", fam, i) for fam, i in travellers]
    random.shuffle(second)
    random.shuffle(streamed)

    async def stream() -> None:
        for start in range(0, len(streamed), 4):
            incoming = [
                bulk.row_to_incoming(r, config=profile_config, default_source=None, now=datetime.now(UTC))
                for r in streamed[start : start + 4]
            ]
            for attempt in range(20):
                try:
                    async with profile_pool.acquire() as proxy, proxy.transaction():
                        await resolve_batch(cast(asyncpg.Connection, proxy), incoming, config=profile_config)
                    break
                except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                    await asyncio.sleep(0.02 * (attempt + 1))
            await asyncio.sleep(random.random() * 0.01)

    results = await asyncio.gather(
        bulk.import_rows(profile_pool, list(enumerate(first, start=1)), config=profile_config, batch_size=6),
        bulk.import_rows(profile_pool, list(enumerate(second, start=1)), config=profile_config, batch_size=5),
        stream(),
    )
    assert (results[0].records, results[1].records) == (120, 60)

    keys = [(r["source_system"], r["source_id"]) for r in first + second + streamed]
    linked = await _customers(profile_pool, keys)
    assert len(linked) == len(keys)
    for fam, i in travellers:
        ids = {
            linked[("race-imp", f"A{i}")],
            linked[("race-imp", f"B{i}")],
            linked[("race-imp2", f"C{i}")],
            linked[("race-stream", f"S{i}")],
        }
        assert len(ids) == 1, (fam, ids)
    assert len(set(linked.values())) == len(travellers)


async def test_only_one_import_overlaps_at_a_time(profile_pool: asyncpg.Pool, profile_config: ProfileConfig) -> None:
    async with profile_pool.acquire() as conn:
        assert await conn.fetchval("SELECT pg_try_advisory_lock($1)", importing_db.IMPORT_GATE)
        try:
            fam = surname()
            rows = [(1, _row("gate", "g1", "Ola", fam, email=f"ola.{fam.lower()}@example.com"))]
            summary = await bulk.import_rows(
                profile_pool, rows, config=profile_config
            )  # chunk by chunk: the gate is taken
            assert summary.records == 1
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", importing_db.IMPORT_GATE)


async def test_chunks_failing_with_a_deadlock_are_done_again_with_the_same_decisions(
    profile_pool: asyncpg.Pool, profile_config: ProfileConfig
) -> None:
    # A write phase and a read phase each fail once with a deadlock (as against a streaming batch
    # updating the same customers): the failed chunk is read and written again alone, the chunk
    # decided against it is decided again, and the import ends as it would without the failures.
    config = dataclasses.replace(profile_config, frequency_min_records=10**12)

    def rows_of(system: str) -> list[dict[str, Any]]:
        families = [surname() for _ in range(40)]
        # The two records of a traveller often fall into consecutive chunks.
        return [
            _row(system, f"{i:02d}{s}", "Greta", fam, email=f"g.{fam.lower()}@example.org")
            for i, fam in enumerate(families)
            for s in "ab"
        ]

    # Each fails once, the first time it overlaps the other (the overlapped path, not a chunk alone).
    writing, planning, failed = 0, 0, set()
    write_batch, plan = overlapping.write, overlapping.plan_chunk

    async def failing_write(*args: Any, **kwargs: Any) -> Any:
        nonlocal writing
        writing += 1
        try:
            await asyncio.sleep(0)  # the next chunk's read phase starts meanwhile, if overlapped
            if planning and "write" not in failed:
                failed.add("write")
                raise asyncpg.DeadlockDetectedError("deadlock detected (injected)")
            return await write_batch(*args, **kwargs)
        finally:
            writing -= 1

    async def failing_plan(*args: Any, **kwargs: Any) -> Any:
        nonlocal planning
        if writing and "write" in failed and "plan" not in failed:
            failed.add("plan")
            raise asyncpg.DeadlockDetectedError("deadlock detected (injected)")
        planning += 1
        try:
            return await plan(*args, **kwargs)
        finally:
            planning -= 1

    seq_rows, ovl_rows = rows_of("dl-seq"), rows_of("dl-ovl")
    seq = await bulk.import_rows(profile_pool, list(enumerate(seq_rows, 1)), config=config, batch_size=3, overlap=False)
    with (
        mock.patch.object(overlapping, "write", failing_write),
        mock.patch.object(overlapping, "plan_chunk", failing_plan),
    ):
        ovl = await bulk.import_rows(
            profile_pool, list(enumerate(ovl_rows, 1)), config=config, batch_size=3, overlap=True
        )
    assert failed == {"write", "plan"}
    assert (ovl.records, ovl.customers_created, ovl.linked) == (seq.records, seq.customers_created, seq.linked)
    assert await _decisions(profile_pool, "dl-ovl") == await _decisions(profile_pool, "dl-seq")
    linked = await _customers(profile_pool, [(r["source_system"], r["source_id"]) for r in ovl_rows])
    assert len(linked) == len(ovl_rows)
    assert len(set(linked.values())) == 40
