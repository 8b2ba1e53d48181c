"""What only the bulk importer asks of PostgreSQL: fresh statistics, the overlap gate, which errors to retry."""

from __future__ import annotations

import asyncpg
from asyncpg.transaction import Transaction

__all__ = ["IMPORT_GATE", "RETRYABLE", "Transaction", "analyze", "release_gate", "try_gate"]

# A session-level advisory lock (outside the identity locks' key space) held by the one import
# that overlaps its chunks; any other import at the same time resolves chunk by chunk.
IMPORT_GATE = 0x1E_0000_0000
# Parallel importers can meet on a company or customer row: the chunk is tried again.
RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)

_RECORD_KEY_COLUMNS = "source_records (source_system, source_id, customer_id)"


async def analyze(conn: asyncpg.Connection, *, everything: bool) -> None:
    """Refresh the planner's statistics: of every table lookups use, or of source records only.

    Tables grow from nothing to millions of rows within minutes; fresh statistics keep the
    planner on index lookups, and the record count behind name frequencies current. Only the
    columns lookups filter and join on: sampling the JSON columns of source records made each
    ANALYZE cost seconds. A column list still refreshes the row count.
    """
    if everything:
        tables = [
            "customers (customer_id, status, merged_into)",
            _RECORD_KEY_COLUMNS,
            "blocking_key_hashes",
            "quality_tasks (customer_id, kind, status)",
        ]
    else:
        tables = [_RECORD_KEY_COLUMNS]
    await conn.execute(f"ANALYZE {', '.join(tables)}")


async def try_gate(conn: asyncpg.Connection) -> bool:
    """Take the overlap gate for this session if no other import holds it."""
    taken: bool = await conn.fetchval("SELECT pg_try_advisory_lock($1)", IMPORT_GATE)
    return taken


async def release_gate(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", IMPORT_GATE)
