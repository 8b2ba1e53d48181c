"""Bulk import of source records from CSV or JSON Lines.

Rows are parsed and normalised here, then resolved in chunks by the same set-based
resolver the Kafka consumer uses (`resolve_batch`), one transaction per chunk: the
same customers, golden records and outbox events as if each row had arrived as an
event, without a round trip through the broker.

Columns (CSV header or JSON keys): source_system, source_id, given_name, family_name,
full_name, title, email, phone, date_of_birth, nationality, passport_number,
passport_country, language, loyalty ("PROGRAMME:NUMBER;PROGRAMME:NUMBER", or a JSON
list `loyalty_numbers` of {programme, number}), company_name, company_id,
company_domain, seen_at (ISO 8601, optional).
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import functools
import gc
import io
import itertools
import json
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg

from services.kit.outbox import enqueue_many
from services.profile.service_layer.handlers import incoming_from_traveller
from services.profile.service_layer.resolver import Incoming, ProfileConfig, resolve_batch

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
)


_RECORD_KEY_COLUMNS = "source_records (source_system, source_id, customer_id)"


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
    company = None
    if row.get("company_name"):
        company = {
            "name": str(row["company_name"]).strip(),
            "source_company_id": (str(row["company_id"]).strip() or None) if row.get("company_id") else None,
            "email_domain": (str(row["company_domain"]).strip() or None) if row.get("company_domain") else None,
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
) -> ImportSummary:
    """Resolve rows in chunks, one transaction per chunk (or inside the caller's, given a connection)."""
    summary = ImportSummary()
    chunk: list[Incoming] = []
    now = datetime.now(UTC)
    analyze_at = {"all": batch_size, "records": batch_size}

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
        # The chunk's objects are short-lived and acyclic: no cyclic collection while resolving it.
        collect = gc.isenabled()
        gc.disable()
        try:
            await _resolve_with_retries(chunk)
        finally:
            if collect:
                gc.enable()
        if progress:
            progress(len(chunk))
        chunk.clear()
        await refresh_statistics()

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
        return summary

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
    return summary


async def _resolve_chunk(conn: Any, chunk: list[Incoming], config: ProfileConfig, summary: ImportSummary) -> None:
    outcomes, outgoing = await resolve_batch(conn, chunk, config=config)
    await enqueue_many(conn, outgoing)
    summary.records += len(outcomes)
    summary.customers_created += sum(1 for o in outcomes if o.created)
    summary.linked += sum(1 for o in outcomes if not o.created)
    summary.reviews += sum(1 for o in outcomes if o.review_candidate)


def text_lines(text: str) -> Iterator[str]:
    return iter(io.StringIO(text))


def shard_of(row: Mapping[str, Any] | RowError, shards: int) -> int:
    """Which of `shards` parallel importers takes a row: one source record always goes to the same one."""
    if shards <= 1 or isinstance(row, RowError):
        return 0
    key = f"{row.get('source_system') or ''}\x1f{row.get('source_id') or ''}"
    return zlib.crc32(key.encode()) % shards
