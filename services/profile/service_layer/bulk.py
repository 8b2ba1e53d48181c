"""Bulk import of source records from CSV or JSON Lines.

Rows are parsed and normalised here, then resolved in chunks by the same set-based
resolver the Kafka consumer uses (`resolve_batch`), one transaction per chunk: the
same customers, golden records and outbox events as if each row had arrived as an
event, without a round trip through the broker.

Columns (CSV header or JSON keys): source_system, source_id, given_name, family_name,
full_name, title, email, phone, date_of_birth, nationality, passport_number,
passport_country, language, address_country, home_time_zone, loyalty
("PROGRAMME:NUMBER;PROGRAMME:NUMBER", or a JSON list `loyalty_numbers` of {programme,
number}), company_name, company_id, company_domain, company_country, seen_at (ISO 8601,
optional), cleared (fields the source states the traveller no longer has, "phone;email",
or a JSON list). An empty column is "not stated": a row that updates a known source record
keeps what earlier rows or events stated for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import functools
import io
import itertools
import json
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, get_args

import asyncpg
from asyncpg.transaction import Transaction

from services.kit.contracts.bookings import ClearableField
from services.kit.db import connection
from services.kit.outbox import enqueue_many
from services.profile.adapters import repository as repo
from services.profile.domain import matching
from services.profile.domain.model import SourceRecord
from services.profile.domain.restating import restate_all
from services.profile.service_layer import resolver
from services.profile.service_layer.handlers import incoming_from_traveller, no_cyclic_gc
from services.profile.service_layer.resolver import Incoming, Outcome, ProfileConfig, SourceKey, resolve_batch

Format = Literal["csv", "jsonl"]
TRAVELLER_FIELDS = (
    "given_name",
    "family_name",
    "full_name",
    "title",
    "email",
    "phone",
    "date_of_birth",
    "nationality",
    "passport_number",
    "passport_country",
    "language",
    "address_country",
    "home_time_zone",
)


_RECORD_KEY_COLUMNS = "source_records (source_system, source_id, customer_id)"
# A session-level advisory lock (outside the identity locks' key space) held by the one import
# that overlaps its chunks; any other import at the same time resolves chunk by chunk.
IMPORT_GATE = 0x1E_0000_0000
_RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
_T = TypeVar("_T")
_DECIDE_SLICE = 50  # records decided between two turns of the event loop


class RowError(ValueError):
    """A row that cannot become a source record (kept out, reported with its line)."""


@dataclass
class ImportSummary:
    records: int = 0
    customers_created: int = 0
    linked: int = 0
    reviews: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    peak_worker_rss_mb: float = 0.0
    overlapped: int = 0  # chunks read and decided while the previous chunk was writing
    # Wall seconds of those overlapped steps: read phases, write phases, and the steps themselves
    # (a step ends when both are done: close to the longer of the two when they overlap well).
    step_seconds: dict[str, float] = field(default_factory=lambda: {"read": 0.0, "write": 0.0, "steps": 0.0})

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "customers_created": self.customers_created,
            "linked": self.linked,
            "reviews": self.reviews,
            "rejected": self.rejected,
            "errors": self.errors[:100],
        }


def _loyalty(row: Mapping[str, Any]) -> list[dict[str, str]]:
    listed = row.get("loyalty_numbers")
    if isinstance(listed, list):
        return [{"programme": str(x.get("programme", "")), "number": str(x.get("number", ""))} for x in listed]
    text = str(row.get("loyalty") or "")
    out = []
    for part in text.split(";"):
        prog, sep, num = part.strip().partition(":")
        if sep and prog.strip() and num.strip():
            out.append({"programme": prog.strip(), "number": num.strip()})
    return out


_CLEARABLE = frozenset(get_args(ClearableField))


def _cleared(row: Mapping[str, Any]) -> list[str]:
    """The fields a row states as removed ("phone;email", or a JSON list)."""
    listed = row.get("cleared")
    names = listed if isinstance(listed, list) else str(listed or "").split(";")
    out = [str(n).strip() for n in names if str(n).strip()]
    if unknown := sorted(set(out) - _CLEARABLE):
        raise RowError(f"cannot clear {', '.join(unknown)}: one of {', '.join(sorted(_CLEARABLE))}")
    return out


def row_to_incoming(
    row: Mapping[str, Any], *, config: ProfileConfig, default_source: str | None, now: datetime
) -> Incoming:
    """One parsed row as a record to resolve; raises RowError when it cannot be one."""
    source_system = str(row.get("source_system") or default_source or "").strip()
    source_id = str(row.get("source_id") or "").strip()
    if not source_system or not source_id:
        raise RowError("source_system and source_id are required")
    traveller: dict[str, Any] = {
        k: (str(row[k]).strip() or None) if row.get(k) not in (None, "") else None for k in TRAVELLER_FIELDS
    }
    if not (traveller["given_name"] or traveller["family_name"] or traveller["full_name"]):
        raise RowError("a name is required (full_name or given_name/family_name)")
    traveller["loyalty_numbers"] = _loyalty(row)
    traveller["cleared"] = _cleared(row)
    company = None
    if row.get("company_name"):
        company = {
            "name": str(row["company_name"]).strip(),
            "source_company_id": (str(row["company_id"]).strip() or None) if row.get("company_id") else None,
            "email_domain": (str(row["company_domain"]).strip() or None) if row.get("company_domain") else None,
            "country": (str(row["company_country"]).strip().upper() or None) if row.get("company_country") else None,
        }
    seen_at = now
    if row.get("seen_at"):
        try:
            seen_at = datetime.fromisoformat(str(row["seen_at"]))
        except ValueError as exc:
            raise RowError(f"seen_at is not ISO 8601: {row['seen_at']!r}") from exc
        if seen_at.tzinfo is None:
            seen_at = seen_at.replace(tzinfo=UTC)
    return incoming_from_traveller(
        source_system=source_system,
        source_id=source_id,
        traveller=traveller,
        company=company,
        seen_at=seen_at,
        config=config,
    )


def prepare_rows(
    rows: list[tuple[int, dict[str, Any] | RowError]],
    *,
    config: ProfileConfig,
    default_source: str | None,
    now: datetime,
) -> tuple[list[Incoming], list[dict[str, Any]]]:
    """Normalise a chunk of parsed rows into records with their match features (runs in a helper process)."""
    out: list[Incoming] = []
    errors: list[dict[str, Any]] = []
    for number, row in rows:
        if isinstance(row, RowError):
            errors.append({"line": number, "error": str(row)})
            continue
        try:
            incoming = row_to_incoming(row, config=config, default_source=default_source, now=now)
        except (RowError, ValueError) as exc:
            errors.append({"line": number, "error": str(exc)})
            continue
        out.append(dataclasses.replace(incoming, features=incoming.record.features()))
    return out, errors


def prepare_lines(
    lines: list[tuple[int, str]],
    *,
    config: ProfileConfig,
    default_source: str | None,
    now: datetime,
) -> tuple[list[Incoming], list[dict[str, Any]]]:
    """`prepare_rows` for JSON Lines text: parsing happens in the helper process too."""
    rows = [(number, row) for number, line in lines for _, row in read_rows([line], "jsonl")]
    return prepare_rows(rows, config=config, default_source=default_source, now=now)


def read_rows(lines: Iterable[str], fmt: Format) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """(line number, row or error) from CSV (with header) or JSON Lines text."""
    if fmt == "csv":
        reader = csv.DictReader(lines)
        for row in reader:
            yield reader.line_num, dict(row)
        return
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, RowError(f"not JSON: {exc.msg}")
            continue
        yield number, data if isinstance(data, dict) else RowError("a line must hold a JSON object")


def source_systems_of(
    rows: Iterable[tuple[int, dict[str, Any] | RowError]], *, default_source: str | None
) -> list[str]:
    """The source systems the rows write as (each row's own, else the default), sorted: whoever
    imports them must be registered for every one."""
    named = set()
    for _, row in rows:
        if isinstance(row, dict):
            system = str(row.get("source_system") or default_source or "").strip()
            if system:
                named.add(system)
    return sorted(named)


async def import_rows(
    pool_or_conn: asyncpg.Pool | asyncpg.Connection,
    rows: Iterable[tuple[int, dict[str, Any] | RowError]],
    *,
    config: ProfileConfig,
    default_source: str | None = None,
    batch_size: int = 2000,
    progress: Callable[[int], None] | None = None,
    executor: Executor | None = None,
    jsonl_lines: Iterable[tuple[int, str]] | None = None,
    overlap: bool = True,
) -> ImportSummary:
    """Resolve rows in chunks, one transaction per chunk (or inside the caller's, given a connection).

    Given a pool, chunks overlap (see `_Overlap`) when `overlap` is set and no other import
    holds the gate; otherwise each chunk is resolved and committed before the next one.
    """
    summary = ImportSummary()
    if not overlap or not isinstance(pool_or_conn, asyncpg.Pool):
        return await _import_rows(
            pool_or_conn, rows, config, default_source, batch_size, progress, executor, jsonl_lines, summary, None
        )
    async with _overlapping(pool_or_conn, config, summary, progress) as overlapped:
        return await _import_rows(
            pool_or_conn, rows, config, default_source, batch_size, progress, executor, jsonl_lines, summary, overlapped
        )


async def _import_rows(
    pool_or_conn: asyncpg.Pool | asyncpg.Connection,
    rows: Iterable[tuple[int, dict[str, Any] | RowError]],
    config: ProfileConfig,
    default_source: str | None,
    batch_size: int,
    progress: Callable[[int], None] | None,
    executor: Executor | None,
    jsonl_lines: Iterable[tuple[int, str]] | None,
    summary: ImportSummary,
    overlapped: _Overlap | None,
) -> ImportSummary:
    chunk: list[Incoming] = []
    now = datetime.now(UTC)
    analyze_at = {"all": batch_size, "records": batch_size}

    def statistics_due(records: int) -> bool:
        return not isinstance(pool_or_conn, asyncpg.Connection) and records >= analyze_at["records"]

    async def refresh_statistics() -> None:
        # Tables grow from nothing to millions of rows within minutes; fresh statistics keep the
        # planner on index lookups, and the record count behind name frequencies current.
        if isinstance(pool_or_conn, asyncpg.Connection):
            return
        # Only the columns lookups filter and join on: sampling the JSON columns of source
        # records made each ANALYZE cost seconds. A column list still refreshes the row count.
        tables = []
        if summary.records >= analyze_at["all"]:
            analyze_at["all"] = summary.records * 2
            tables = [
                "customers (customer_id, status, merged_into)",
                _RECORD_KEY_COLUMNS,
                "blocking_key_hashes",
                "quality_tasks (customer_id, kind, status)",
            ]
        elif summary.records >= analyze_at["records"]:
            tables = [_RECORD_KEY_COLUMNS]
        if tables:
            analyze_at["records"] = int(summary.records * 1.2)
            async with pool_or_conn.acquire() as conn:
                await conn.execute(f"ANALYZE {', '.join(tables)}")

    async def flush() -> None:
        if not chunk:
            return
        with no_cyclic_gc():
            if overlapped is not None:
                await overlapped.add(list(chunk))
            else:
                await _resolve_with_retries(chunk)
        if overlapped is None:
            if progress:
                progress(len(chunk))
            await refresh_statistics()
        chunk.clear()

    async def finish() -> ImportSummary:
        if overlapped is not None:
            await overlapped.finish()
        return summary

    if overlapped is not None:
        overlapped.statistics_due = statistics_due
        overlapped.refresh_statistics = refresh_statistics

    async def _resolve_with_retries(chunk: list[Incoming]) -> None:
        if isinstance(pool_or_conn, asyncpg.Connection):
            await _resolve_chunk(pool_or_conn, chunk, config, summary)
        else:
            for attempt in range(1, 6):
                try:
                    async with pool_or_conn.acquire() as conn, conn.transaction():
                        await _resolve_chunk(conn, chunk, config, summary)
                    break
                except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                    # Parallel importers can meet on a company or customer row: retry the chunk.
                    if attempt == 5:
                        raise
                    await asyncio.sleep(0.05 * attempt)

    if executor is not None:
        # Normalisation runs in a helper process a few chunks ahead, on the other core, while
        # this process resolves and the database writes the chunk before.
        loop = asyncio.get_running_loop()
        ahead: deque[asyncio.Future[tuple[list[Incoming], list[dict[str, Any]]]]] = deque()
        source: Iterator[Any] = iter(jsonl_lines if jsonl_lines is not None else rows)
        prepare = prepare_lines if jsonl_lines is not None else prepare_rows

        async def take_one() -> None:
            prepared, errors = await ahead.popleft()
            summary.rejected += len(errors)
            summary.errors += errors
            chunk.extend(prepared)
            await flush()

        while raw := list(itertools.islice(source, batch_size)):
            ahead.append(
                loop.run_in_executor(
                    executor,
                    functools.partial(prepare, raw, config=config, default_source=default_source, now=now),
                )
            )
            if len(ahead) > 2:
                await take_one()
        while ahead:
            await take_one()
        return await finish()

    for number, row in rows:
        if isinstance(row, RowError):
            summary.rejected += 1
            summary.errors.append({"line": number, "error": str(row)})
            continue
        try:
            chunk.append(row_to_incoming(row, config=config, default_source=default_source, now=now))
        except (RowError, ValueError) as exc:
            summary.rejected += 1
            summary.errors.append({"line": number, "error": str(exc)})
            continue
        if len(chunk) >= batch_size:
            await flush()
    await flush()
    return await finish()


async def _resolve_chunk(conn: Any, chunk: list[Incoming], config: ProfileConfig, summary: ImportSummary) -> None:
    outcomes, outgoing = await resolve_batch(conn, chunk, config=config)
    await enqueue_many(conn, outgoing)
    _count(summary, outcomes)


def _count(summary: ImportSummary, outcomes: list[Outcome]) -> None:
    summary.records += len(outcomes)
    summary.customers_created += sum(1 for o in outcomes if o.created)
    summary.linked += sum(1 for o in outcomes if not o.created)
    summary.reviews += sum(1 for o in outcomes if o.review_candidate)


# --- overlapping chunks ------------------------------------------------------------------------
#
# A chunk's transaction has a read phase (identity locks, source links, name frequencies,
# candidates, decisions in memory) and a write phase (companies, customers, source records,
# keys, reviews, golden records, events). Chunk N+1 is read and decided on a second
# connection while chunk N writes; N+1 writes only after N has committed, so whatever it
# reads back in its write phase (existing customers, companies, stored features) includes N.
# What N+1 cannot see in its read phase, N's records, comes from memory (`_Carry`): N's
# source links, and N's records merged into the stored candidates as the database would
# return them after N's commit (each key's records in index order, at most `per_key`).
# Decisions are the same as chunk by chunk.
#
# Locks. Both chunks take their identity locks in SHARED mode, so N+1 is not blocked by N;
# every other batch (streaming, API, an import without the gate) takes them exclusively and
# so still excludes each of them: from its locks on, a batch sharing a bucket with N or N+1
# runs entirely before or after it, and between N and N+1 only if it came before N+1's locks,
# in which case N+1 reads what it wrote. (Such a batch reads and decides before its locks,
# then checks its read under them: see `resolver.resolve_batch`. What N wrote meanwhile it
# finds there.) Only one import at a time may overlap (`IMPORT_GATE`, a
# session lock): two overlapping imports would not exclude each other.
# No deadlock: N's write phase never waits for N+1 (N+1 holds only shared advisory locks,
# which nothing in a write phase takes; its name counts commit before its transaction), and
# N+1 waits for N only through PostgreSQL's lock queue (behind an exclusive request that
# itself waits for N), which N's commit resolves. Advisory locks are taken in sorted order
# by every batch, before any row lock but those of its own new idempotency rows, so waits
# among them are ordered.


@dataclass
class _Carry:
    """What a decided chunk hands the next one while its own transaction still writes."""

    links: dict[SourceKey, str]
    records: dict[SourceKey, tuple[str, matching.MatchFeatures]]
    by_key: dict[str, list[tuple[SourceKey, str, matching.MatchFeatures]]]
    statements: dict[SourceKey, SourceRecord]  # each record as restated by the chunk (its last occurrence)


@dataclass
class _Chunk:
    items: list[Incoming]
    counted: bool = False  # its new records' name parts are in the frequency table


@dataclass
class _Planned:
    """A chunk decided in memory; its transaction is open and holds its identity locks (shared)."""

    chunk: _Chunk
    items: list[Incoming]  # the chunk's items with their records restated
    features: list[matching.MatchFeatures]
    keys: list[list[str]]
    decisions: list[resolver._Decision]
    linked: list[SourceKey]
    conn: asyncpg.Connection
    tx: Transaction

    def carry(self) -> _Carry:
        first: dict[SourceKey, int] = {}
        last: dict[SourceKey, int] = {}
        for i, it in enumerate(self.items):
            first.setdefault(it.record.key, i)
            last[it.record.key] = i
        # Stored as the write phase stores them: the customer of the first, features of the last.
        links = {key: self.decisions[i].customer_id for key, i in first.items()}
        records: dict[SourceKey, tuple[str, matching.MatchFeatures]] = {}
        by_key: dict[str, list[tuple[SourceKey, str, matching.MatchFeatures]]] = {}
        for key, i in last.items():
            records[key] = (links[key], self.features[i])
            for k in self.keys[i]:
                by_key.setdefault(k, []).append((key, links[key], self.features[i]))
        return _Carry(links, records, by_key, {key: self.items[i].record for key, i in last.items()})


async def _rollback(tx: Transaction) -> None:
    with contextlib.suppress(Exception):
        await tx.rollback()


async def _plan(conn: asyncpg.Connection, chunk: _Chunk, config: ProfileConfig, carry: _Carry | None) -> _Planned:
    """The read phase: locks, links, frequencies, candidates and decisions (the transaction stays open)."""
    items = chunk.items
    features = [it.features or it.record.features() for it in items]
    keys = [matching.blocking_keys(f) for f in features]
    record_keys = [it.record.key for it in items]
    carried = carry.links if carry else {}
    if not chunk.counted:
        # The new records' name parts are counted in a statement of their own, before the chunk's
        # transaction: inside it they would hold the shared frequency rows until commit and
        # stall the next chunk's read phase. Read again under the locks below.
        known = await repo.existing_links(conn, record_keys)
        await repo.count_names(conn, resolver.new_name_tokens(items, features, {**known, **carried}))
        chunk.counted = True
    tx = conn.transaction()
    await tx.start()
    try:
        await repo.lock_identities(conn, resolver.identity_keys(items, keys), shared=True)
        await config.parameters.current(conn)
        sources = await repo.stored_sources(conn, record_keys)
        links = {**{key: s.customer_id for key, s in sources.items()}, **carried}
        # Records seen before are restated over their earlier statements (the carried chunk's
        # from memory: it may not have committed yet).
        statements = {key: s.record for key, s in sources.items()} | (carry.statements if carry else {})
        restated = restate_all([it.record for it in items], statements)
        if any(r is not it.record for r, it in zip(restated, items, strict=True)):
            items = [
                it if r is it.record else dataclasses.replace(it, record=r, features=None)
                for r, it in zip(restated, items, strict=True)
            ]
            features = [it.features or it.record.features() for it in items]
            keys = [matching.blocking_keys(f) for f in features]
        freq = await repo.name_frequencies(
            conn,
            [t for f in features for t in resolver.name_tokens(f)],
            min_records=config.frequency_min_records,
            pending=carry.records.keys() if carry else (),
        )
        lookup_keys = resolver.candidate_keys(items, keys, links)
        stored = await _candidates(conn, lookup_keys, config, carry)
        decisions = []
        for decision in resolver.decide_all(items, features, keys, links, stored, config, freq):
            decisions.append(decision)
            if len(decisions) % _DECIDE_SLICE == 0:
                # Deciding is the longest stretch of Python here: let the previous chunk's write
                # phase send its next statement, so the database is not idle meanwhile.
                await asyncio.sleep(0)
    except BaseException:
        await _rollback(tx)
        raise
    linked = [key for key in dict.fromkeys(record_keys) if key in links]
    return _Planned(chunk, items, features, keys, decisions, linked, conn, tx)


async def _candidates(
    conn: asyncpg.Connection, lookup_keys: list[str], config: ProfileConfig, carry: _Carry | None
) -> dict[str, list[tuple[SourceKey, str, matching.MatchFeatures]]]:
    """Stored candidates as they are once the carried chunk has committed, whether or not it has."""
    per_key = config.candidates_per_key
    stored = await repo.candidates(conn, lookup_keys, per_key=per_key)
    if carry is None:
        return stored
    weak = max(1, per_key // 2)  # repo.candidates' limit for weak keys
    limits = {k: weak if matching.is_weak_key(k) else per_key for k in lookup_keys}
    # The carried chunk's records are dropped from what was read (present if it has committed
    # already, or older versions of records it rewrites) and merged back in. A key that lost
    # rows of a full result is read again with that many more, until none is short.
    extra: dict[str, int] = {}
    while True:
        short = {}
        for k, rows in stored.items():
            if len(rows) >= limits[k] + extra.get(k, 0):
                dropped = sum(1 for r in rows if r[0] in carry.records)
                if dropped > extra.get(k, 0):
                    short[k] = dropped
        if not short:
            break
        extra.update(short)
        stored.update(await repo.candidates(conn, list(short), per_key=per_key, extra=short))
    for k in lookup_keys:
        rows = stored.get(k, [])
        added = carry.by_key.get(k)
        if not added and not any(r[0] in carry.records for r in rows):
            continue
        rows = [r for r in rows if r[0] not in carry.records]
        if added:
            # The index's order, (source_system, source_id): code point order under the clusters'
            # C.UTF-8 collation (deploy/local/postgres.sh, docker-compose.yml).
            rows = sorted(rows + added, key=lambda r: r[0])
        rows = rows[: limits[k]]
        if rows:
            stored[k] = rows
        else:
            stored.pop(k, None)
    return stored


class _Overlap:
    """Chunks resolved two at a time on two connections: N+1's read phase during N's write phase."""

    def __init__(
        self,
        conns: tuple[asyncpg.Connection, asyncpg.Connection],
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

    def _other(self, planned: _Planned | None) -> asyncpg.Connection:
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
            self._timed("read", _plan(conn, chunk, self._config, prev.carry())),
            return_exceptions=True,
        )
        self._summary.step_seconds["steps"] += time.perf_counter() - started
        if isinstance(written, BaseException):
            # The next chunk was decided against this one's records: decide it again afterwards.
            if isinstance(planned, _Planned):
                await _rollback(planned.tx)
            if not isinstance(written, _RETRYABLE):
                raise written
            await self._redo(prev.chunk, prev.conn, attempts=4)
            self._pending = await self._plan_alone(conn, chunk)
            return
        if isinstance(planned, BaseException):
            if not isinstance(planned, _RETRYABLE):
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
            outcomes, outgoing = await resolver.write_batch(
                planned.conn,
                planned.items,
                planned.features,
                planned.keys,
                planned.decisions,
                config=self._config,
                now=datetime.now(UTC),
                linked=planned.linked,
            )
            await enqueue_many(planned.conn, outgoing)
            await planned.tx.commit()
        except BaseException:
            await _rollback(planned.tx)
            raise
        _count(self._summary, outcomes)
        if self._progress:
            self._progress(len(planned.chunk.items))
        return outcomes

    async def _commit(self, planned: _Planned) -> None:
        try:
            await self._write(planned)
        except _RETRYABLE:
            await self._redo(planned.chunk, planned.conn, attempts=4)

    async def _plan_alone(self, conn: asyncpg.Connection, chunk: _Chunk) -> _Planned:
        """The read phase with nothing in flight (nothing to carry)."""
        for attempt in range(1, 6):
            try:
                return await _plan(conn, chunk, self._config, None)
            except _RETRYABLE:
                if attempt == 5:
                    raise
                await asyncio.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    async def _redo(self, chunk: _Chunk, conn: asyncpg.Connection, *, attempts: int) -> None:
        """A chunk whose write failed (e.g. a deadlock with a streaming batch), read and written alone."""
        for attempt in range(1, attempts + 1):
            await asyncio.sleep(0.05 * attempt)
            try:
                await self._write(await self._plan_alone(conn, chunk))
                return
            except _RETRYABLE:
                if attempt == attempts:
                    raise


async def _nothing() -> None:
    return None


@contextlib.asynccontextmanager
async def _overlapping(
    pool: asyncpg.Pool, config: ProfileConfig, summary: ImportSummary, progress: Callable[[int], None] | None
) -> AsyncIterator[_Overlap | None]:
    """Two connections for overlapping chunks, if this import gets the gate (else None: chunk by chunk)."""
    async with connection(pool) as first:
        if not await first.fetchval("SELECT pg_try_advisory_lock($1)", IMPORT_GATE):
            yield None
            return
        try:
            async with connection(pool) as second:
                overlapped = _Overlap((first, second), config, summary, progress)
                try:
                    yield overlapped
                finally:
                    await overlapped.abandon()
        finally:
            with contextlib.suppress(Exception):  # a broken connection has released it already
                await first.execute("SELECT pg_advisory_unlock($1)", IMPORT_GATE)


def text_lines(text: str) -> Iterator[str]:
    return iter(io.StringIO(text))


def shard_of(row: Mapping[str, Any] | RowError, shards: int) -> int:
    """Which of `shards` parallel importers takes a row: one source record always goes to the same one."""
    if shards <= 1 or isinstance(row, RowError):
        return 0
    key = f"{row.get('source_system') or ''}\x1f{row.get('source_id') or ''}"
    return zlib.crc32(key.encode()) % shards
