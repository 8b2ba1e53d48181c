"""Concurrent resolution batches read and decide before they lock: what another batch commits in
between must still be found (real PostgreSQL; the race is forced, not left to timing)."""

from __future__ import annotations

import asyncio
import random
import string
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import pytest

from services.profile.adapters import blocking as blocking_db
from services.profile.domain import matching
from services.profile.domain.resolution import Incoming, Outcome, ProfileConfig
from services.profile.service_layer import bulk
from services.profile.service_layer.resolver import resolve_batch

pytestmark = pytest.mark.integration


class _PausedBeforeLocks:
    """A connection that stops at the batch's identity locks until released (everything else passes)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self.at_locks = asyncio.Event()
        self.release = asyncio.Event()

    async def execute(self, query: str, *args: Any, **kwargs: Any) -> str:
        if "pg_advisory_xact_lock" in query and not self.at_locks.is_set():
            self.at_locks.set()
            await self.release.wait()
        return cast(str, await self._conn.execute(query, *args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _incoming(profile_config: ProfileConfig, system: str, source_id: str, **traveller: Any) -> Incoming:
    return bulk.row_to_incoming(
        {"source_system": system, "source_id": source_id, **traveller},
        config=profile_config,
        default_source=None,
        now=datetime.now(UTC),
    )


async def _resolve_paused(
    profile_pool: asyncpg.Pool, items: list[Incoming], profile_config: ProfileConfig, meanwhile: list[Incoming]
) -> tuple[list[Outcome], list[Outcome]]:
    """Resolve `items`, and `meanwhile` (committed) after the first batch's read, before its locks."""
    async with profile_pool.acquire() as conn, conn.transaction():
        paused = _PausedBeforeLocks(conn)
        first = asyncio.create_task(resolve_batch(cast(asyncpg.Connection, paused), items, config=profile_config))
        await asyncio.wait_for(paused.at_locks.wait(), 10)
        async with profile_pool.acquire() as other, other.transaction():
            second, _ = await resolve_batch(other, meanwhile, config=profile_config)
        paused.release.set()
        outcomes, _ = await first
    return outcomes, second


def _family() -> str:
    return "".join(random.choices(string.ascii_lowercase, k=10)).capitalize()


async def test_a_matching_record_committed_between_read_and_locks_is_found(
    profile_pool: asyncpg.Pool, profile_config: ProfileConfig
) -> None:
    fam = _family()
    email = f"mei.{fam.lower()}@example.org"
    late = _incoming(profile_config, "opt-a", "a1", given_name="Mei", family_name=fam, email=email)
    early = _incoming(profile_config, "opt-b", "b1", given_name="Mei", family_name=fam, email=email)
    [first], [second] = await _resolve_paused(profile_pool, [late], profile_config, meanwhile=[early])
    # The second batch committed first and created the customer; the first one read before that,
    # found nothing, and must still link to it instead of creating a duplicate.
    assert second.created
    assert not first.created
    assert first.customer_id == second.customer_id


async def test_a_batch_holding_the_same_source_record_committed_meanwhile_is_a_source_link(
    profile_pool: asyncpg.Pool, profile_config: ProfileConfig
) -> None:
    fam = _family()
    record = {"given_name": "Ana", "family_name": fam, "phone": "+49 30 1234567"}
    [first], [second] = await _resolve_paused(
        profile_pool,
        [_incoming(profile_config, "opt-c", "c1", **record)],
        profile_config,
        meanwhile=[_incoming(profile_config, "opt-c", "c1", **record)],
    )
    assert second.created
    assert (first.customer_id, first.rule, first.created) == (second.customer_id, "source-link", False)
    async with profile_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM source_records WHERE source_system = 'opt-c'") == 1


async def test_nothing_committed_meanwhile_keeps_the_first_reads_decisions(
    profile_pool: asyncpg.Pool, profile_config: ProfileConfig
) -> None:
    fam, other = _family(), _family()
    email = f"li.{fam.lower()}@example.org"
    async with profile_pool.acquire() as conn, conn.transaction():
        [stored], _ = await resolve_batch(
            conn,
            [_incoming(profile_config, "opt-d", "d1", given_name="Li", family_name=fam, email=email)],
            config=profile_config,
        )
    # An unrelated traveller commits in between: the read still holds, the decision stands.
    [first], [unrelated] = await _resolve_paused(
        profile_pool,
        [_incoming(profile_config, "opt-e", "e1", given_name="Li", family_name=fam, email=email)],
        profile_config,
        meanwhile=[
            _incoming(profile_config, "opt-f", "f1", given_name="Tom", family_name=other, email="t@example.net")
        ],
    )
    assert unrelated.created
    assert (first.customer_id, first.created) == (stored.customer_id, False)


async def test_the_check_digest_matches_the_candidate_reads_digest(
    profile_pool: asyncpg.Pool, profile_config: ProfileConfig
) -> None:
    # The check's digest and the read's must agree when nothing changed (or every batch would read
    # everything twice), including names outside ASCII.
    fam = _family()
    items = [
        _incoming(
            profile_config, "opt-g", f"g{i}", given_name=given, family_name=fam, email=f"{i}.{fam.lower()}@example.org"
        )
        for i, given in enumerate(["Zoë", "Zoe", "王", "Ærø", "Zoey"])
    ]
    async with profile_pool.acquire() as conn:
        async with conn.transaction():
            await resolve_batch(conn, items, config=profile_config)
        keys = sorted({k for it in items for k in matching.blocking_keys(it.record.features())})
        read: dict[str, tuple[int, int]] = {}
        stored = await blocking_db.candidates(conn, keys, per_key=profile_config.candidates_per_key, digest=read)
        assert stored
        assert set(read) == set(stored)
        assert await blocking_db.candidate_hits(conn, keys, per_key=profile_config.candidates_per_key) == read
