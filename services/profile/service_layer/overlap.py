"""Overlapping chunks of one bulk import: chunk N+1 read and decided while chunk N writes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from services.kit.db import Connection, Pool, connection
from services.kit.outbox import enqueue_many
from services.profile.adapters import importing as importing_db
from services.profile.adapters.importing import RETRYABLE, Transaction
from services.profile.domain.resolution import Incoming, Outcome, ProfileConfig
from services.profile.service_layer.import_file import ImportSummary
from services.profile.service_layer.planning import Carry, Plan, carry_of, plan_locked
from services.profile.service_layer.writing import count_new_names, write

_T = TypeVar("_T")

# A chunk's transaction has a read phase (identity locks, source links, value frequencies,
# candidates, decisions in memory) and a write phase (companies, customers, source records,
# keys, reviews, golden records, events). Chunk N+1 is read and decided on a second
# connection while chunk N writes; N+1 writes only after N has committed, so whatever it
# reads back in its write phase (existing customers, companies, stored features) includes N.
# What N+1 cannot see in its read phase, N's records, comes from memory (`planning.Carry`): N's
# source links, and N's records merged into the stored candidates as the database would
# return them after N's commit (each key's records in index order, at most `per_key`).
# Decisions are the same as chunk by chunk.
#
# Locks. Both chunks take their identity locks in SHARED mode, so N+1 is not blocked by N;
# every other batch (streaming, API, an import without the gate) takes them exclusively and
# so still excludes each of them: from its locks on, a batch sharing a bucket with N or N+1
# runs entirely before or after it, and between N and N+1 only if it came before N+1's locks,
# in which case N+1 reads what it wrote. (Such a batch reads and decides before its locks,
# then checks its read under them: see `planning.plan`. What N wrote meanwhile it
# finds there.) Only one import at a time may overlap (`importing.IMPORT_GATE`, a
# session lock): two overlapping imports would not exclude each other.
# No deadlock: N's write phase never waits for N+1 (N+1 holds only shared advisory locks,
# which nothing in a write phase takes; its name counts commit before its transaction), and
# N+1 waits for N only through PostgreSQL's lock queue (behind an exclusive request that
# itself waits for N), which N's commit resolves. Advisory locks are taken in sorted order
# by every batch, before any row lock but those of its own new idempotency rows, so waits
# among them are ordered.


@dataclass
class _Chunk:
    items: list[Incoming]
    counted: bool = False  # its new records' name and address parts are in the frequency table


@dataclass
class _Planned:
    """A chunk decided in memory; its transaction is open and holds its identity locks (shared)."""

    chunk: _Chunk
    plan: Plan
    conn: Connection
    tx: Transaction


async def _rollback(tx: Transaction) -> None:
    with contextlib.suppress(Exception):
        await tx.rollback()


async def plan_chunk(conn: Connection, chunk: _Chunk, config: ProfileConfig, carry: Carry | None) -> _Planned:
    """The read phase: locks, links, frequencies, candidates and decisions (the transaction stays open)."""
    if not chunk.counted:
        # The new records' name and address parts are counted in a statement of their own, before the chunk's
        # transaction (see `count_new_names`); read again under the locks.
        await count_new_names(conn, chunk.items, carried=carry.links if carry else {})
        chunk.counted = True
    tx = conn.transaction()
    await tx.start()
    try:
        planned = await plan_locked(conn, chunk.items, config=config, carry=carry)
    except BaseException:
        await _rollback(tx)
        raise
    return _Planned(chunk, planned, conn, tx)


class Overlap:
    """Chunks resolved two at a time on two connections: N+1's read phase during N's write phase."""

    def __init__(
        self,
        conns: tuple[Connection, Connection],
        config: ProfileConfig,
        summary: ImportSummary,
        progress: Callable[[int], None] | None,
    ) -> None:
        self._conns = conns
        self._config = config
        self._summary = summary
        self._progress = progress
        self._pending: _Planned | None = None  # decided, not yet written
        self.statistics_due: Callable[[int], bool] = lambda records: False
        self.refresh_statistics: Callable[[], Awaitable[None]] = _nothing

    def _other(self, planned: _Planned | None) -> Connection:
        return self._conns[1] if planned is not None and planned.conn is self._conns[0] else self._conns[0]

    async def add(self, items: list[Incoming]) -> None:
        chunk = _Chunk(items)
        prev, self._pending = self._pending, None
        conn = self._other(prev)
        if prev is None:
            self._pending = await self._plan_alone(conn, chunk)
            return
        if self.statistics_due(self._summary.records + len(prev.chunk.items)):
            # Statistics are refreshed between two chunks, as chunk by chunk: nothing in flight.
            await self._commit(prev)
            await self.refresh_statistics()
            self._pending = await self._plan_alone(conn, chunk)
            return
        started = time.perf_counter()
        written, planned = await asyncio.gather(
            self._timed("write", self._write(prev)),
            self._timed("read", plan_chunk(conn, chunk, self._config, carry_of(prev.plan))),
            return_exceptions=True,
        )
        self._summary.step_seconds["steps"] += time.perf_counter() - started
        if isinstance(written, BaseException):
            # The next chunk was decided against this one's records: decide it again afterwards.
            if isinstance(planned, _Planned):
                await _rollback(planned.tx)
            if not isinstance(written, RETRYABLE):
                raise written
            await self._redo(prev.chunk, prev.conn, attempts=4)
            self._pending = await self._plan_alone(conn, chunk)
            return
        if isinstance(planned, BaseException):
            if not isinstance(planned, RETRYABLE):
                raise planned
            self._pending = await self._plan_alone(conn, chunk)
            return
        self._pending = planned
        self._summary.overlapped += 1

    async def _timed(self, phase: str, step: Awaitable[_T]) -> _T:
        started = time.perf_counter()
        try:
            return await step
        finally:
            self._summary.step_seconds[phase] += time.perf_counter() - started

    async def finish(self) -> None:
        prev, self._pending = self._pending, None
        if prev is not None:
            await self._commit(prev)

    async def abandon(self) -> None:
        prev, self._pending = self._pending, None
        if prev is not None:
            await _rollback(prev.tx)

    async def _write(self, planned: _Planned) -> list[Outcome]:
        """The write phase, then commit; rolls back on failure."""
        try:
            outcomes, outgoing = await write(planned.conn, planned.plan, config=self._config, now=datetime.now(UTC))
            await enqueue_many(planned.conn, outgoing)
            await planned.tx.commit()
        except BaseException:
            await _rollback(planned.tx)
            raise
        self._summary.count(outcomes)
        if self._progress:
            self._progress(len(planned.chunk.items))
        return outcomes

    async def _commit(self, planned: _Planned) -> None:
        try:
            await self._write(planned)
        except RETRYABLE:
            await self._redo(planned.chunk, planned.conn, attempts=4)

    async def _plan_alone(self, conn: Connection, chunk: _Chunk) -> _Planned:
        """The read phase with nothing in flight (nothing to carry)."""
        for attempt in range(1, 6):
            try:
                return await plan_chunk(conn, chunk, self._config, None)
            except RETRYABLE:
                if attempt == 5:
                    raise
                await asyncio.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    async def _redo(self, chunk: _Chunk, conn: Connection, *, attempts: int) -> None:
        """A chunk whose write failed (e.g. a deadlock with a streaming batch), read and written alone."""
        for attempt in range(1, attempts + 1):
            await asyncio.sleep(0.05 * attempt)
            try:
                await self._write(await self._plan_alone(conn, chunk))
                return
            except RETRYABLE:
                if attempt == attempts:
                    raise


async def _nothing() -> None:
    return None


@contextlib.asynccontextmanager
async def overlapping(
    pool: Pool, config: ProfileConfig, summary: ImportSummary, progress: Callable[[int], None] | None
) -> AsyncIterator[Overlap | None]:
    """Two connections for overlapping chunks, if this import gets the gate (else None: chunk by chunk)."""
    async with connection(pool) as first:
        if not await importing_db.try_gate(first):
            yield None
            return
        try:
            async with connection(pool) as second:
                overlapped = Overlap((first, second), config, summary, progress)
                try:
                    yield overlapped
                finally:
                    await overlapped.abandon()
        finally:
            with contextlib.suppress(Exception):  # a broken connection has released it already
                await importing_db.release_gate(first)
