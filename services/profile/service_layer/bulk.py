"""Bulk import of source records from CSV or JSON Lines.

Rows are parsed and normalised here, then resolved in chunks by the same set-based
resolver the Kafka consumer uses (`resolve_batch`), one transaction per chunk: the
same customers, golden records and outbox events as if each row had arrived as an
event, without a round trip through the broker.

Columns (CSV header or JSON keys): source_system, source_id, given_name, family_name,
full_name, title, email, phone, date_of_birth, nationality, passport_number,
passport_country, language, address_country, home_time_zone, loyalty
("PROGRAMME:NUMBER;PROGRAMME:NUMBER", or a JSON list `loyalty_numbers` of {programme,
number}), home_address (the whole address on one line, as typed), home_street,
home_house_number, home_postcode, home_city, home_region, home_country (the same with business_),
employee_number, national_id_number, national_id_country, known_traveller_number, redress_number
(sensitive: hashed on receipt), secondary_emails and secondary_phones ("a;b" or a JSON list), gender,
company_name, company_id, company_domain, company_country, seen_at (ISO 8601,
optional), cleared (fields the source states the traveller no longer has, "phone;email",
or a JSON list). An empty column is "not stated": a row that updates a known source record
keeps what earlier rows or events stated for it. Parsing rows: `import_file.py`; overlapping
chunks: `overlap.py`.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

from services.kit.db import Connection, Pool, connection
from services.kit.outbox import enqueue_many
from services.profile.adapters import importing as importing_db
from services.profile.adapters.importing import RETRYABLE
from services.profile.domain.resolution import Incoming, ProfileConfig
from services.profile.service_layer.handlers import no_cyclic_gc
from services.profile.service_layer.import_file import (
    Format,
    ImportSummary,
    RowError,
    prepare_lines,
    prepare_rows,
    read_rows,
    row_to_incoming,
    shard_of,
    source_systems_of,
    text_lines,
)
from services.profile.service_layer.overlap import Overlap, overlapping
from services.profile.service_layer.resolver import resolve_batch

__all__ = [
    "Format",
    "ImportSummary",
    "RowError",
    "import_rows",
    "read_rows",
    "row_to_incoming",
    "shard_of",
    "source_systems_of",
    "text_lines",
]


async def import_rows(
    pool_or_conn: Pool | Connection,
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

    Given a pool, chunks overlap (see `Overlap`) when `overlap` is set and no other import
    holds the gate; otherwise each chunk is resolved and committed before the next one.
    """
    summary = ImportSummary()
    if not overlap or not isinstance(pool_or_conn, Pool):
        return await _import_rows(
            pool_or_conn, rows, config, default_source, batch_size, progress, executor, jsonl_lines, summary, None
        )
    async with overlapping(pool_or_conn, config, summary, progress) as overlapped:
        return await _import_rows(
            pool_or_conn, rows, config, default_source, batch_size, progress, executor, jsonl_lines, summary, overlapped
        )


async def _import_rows(
    pool_or_conn: Pool | Connection,
    rows: Iterable[tuple[int, dict[str, Any] | RowError]],
    config: ProfileConfig,
    default_source: str | None,
    batch_size: int,
    progress: Callable[[int], None] | None,
    executor: Executor | None,
    jsonl_lines: Iterable[tuple[int, str]] | None,
    summary: ImportSummary,
    overlapped: Overlap | None,
) -> ImportSummary:
    chunk: list[Incoming] = []
    now = datetime.now(UTC)
    analyze_at = {"all": batch_size, "records": batch_size}

    def statistics_due(records: int) -> bool:
        return not isinstance(pool_or_conn, Connection) and records >= analyze_at["records"]

    async def refresh_statistics() -> None:
        # Tables grow from nothing to millions of rows within minutes; fresh statistics keep the
        # planner on index lookups, and the record count behind value frequencies current.
        if isinstance(pool_or_conn, Connection):
            return
        everything = summary.records >= analyze_at["all"]
        if everything:
            analyze_at["all"] = summary.records * 2
        if everything or summary.records >= analyze_at["records"]:
            analyze_at["records"] = int(summary.records * 1.2)
            async with connection(pool_or_conn) as conn:
                await importing_db.analyze(conn, everything=everything)

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
        if isinstance(pool_or_conn, Connection):
            await _resolve_chunk(pool_or_conn, chunk, config, summary)
        else:
            for attempt in range(1, 6):
                try:
                    async with pool_or_conn.acquire() as conn, conn.transaction():
                        await _resolve_chunk(conn, chunk, config, summary)
                    break
                except RETRYABLE:
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
    summary.count(outcomes)
