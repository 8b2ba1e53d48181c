"""What the profile service's repositories share: source keys, JSON parameter arrays, staging tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import asyncpg

from services.kit.jsontext import json_bytes

SourceKey = tuple[str, str]


def json_texts(values: Iterable[Any]) -> list[str | None]:
    """JSON text of each value (None stays SQL NULL), for `$n::text[]` parameters cast to jsonb in SQL.

    Serialising in Python and sending text arrays costs a fraction of the connection's
    per-value jsonb codec on the batch paths.
    """
    return [None if v is None else json_bytes(v).decode() for v in values]


# Rows of the two largest writes are copied (binary COPY) into per-connection temporary
# tables and moved from there with one INSERT ... SELECT: cheaper for the server than
# unnesting a dozen parameter arrays, and the JSON columns travel as plain text.
_STAGING_TABLES = {
    "stage_source_records": "(sys text, id text, cus text, raw text, norm text, prob text, pp text, rule text,"
    " score real, feat text, ev text, mt text, seen timestamptz, sa text)",
    "stage_blocking_keys": "(h bigint, sys text, id text)",
}


async def stage(conn: asyncpg.Connection, table: str, records: Iterable[tuple[Any, ...]]) -> None:
    """Copy rows into a staging table (created on first use; the statement after it empties it)."""
    await conn.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {table} {_STAGING_TABLES[table]} ON COMMIT DELETE ROWS")
    await conn.copy_records_to_table(table, records=records)


def stated_times(stated_at: Mapping[str, str] | None) -> dict[str, datetime]:
    """When a stored record stated each field (stored as ISO 8601 text)."""
    return {k: datetime.fromisoformat(v) for k, v in (stated_at or {}).items()}
