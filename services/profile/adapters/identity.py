"""Identity locks, stored source records and name frequencies (asyncpg, inside the caller's transaction).

Bulk-shaped on purpose: every write takes arrays and runs one statement (`unnest`), so
resolving a batch of 500 records costs a dozen round trips, not thousands.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
from pydantic_core import from_json

from services.profile.adapters.blocking import key_hash
from services.profile.adapters.rows import SourceKey, json_texts, stage, stated_times
from services.profile.domain.matching import MatchFeatures
from services.profile.domain.model import SourceRecord
from services.profile.domain.restating import stored_record

# Identity locks are hashed into a fixed number of advisory-lock buckets (in their own
# key space), so a batch of thousands of records holds at most this many locks. PostgreSQL's
# shared lock table holds max_locks_per_transaction x max_connections locks for the whole
# cluster (12,800 with the defaults 64 x 200): the deployments here set
# max_locks_per_transaction = 256, room for a dozen concurrent batches.
LOCK_BUCKETS = 4096
_LOCK_SPACE = 0x1D_0000_0000


def lock_key(text: str) -> int:
    return _LOCK_SPACE + key_hash(text) % LOCK_BUCKETS


async def lock_identities(conn: asyncpg.Connection, keys: Iterable[str], *, shared: bool = False) -> None:
    """Serialise resolution of records sharing an identity (source link, identifier or blocking key).

    Across partitions and processes: locks are transaction-scoped and taken in sorted
    order, so two transactions locking overlapping sets cannot deadlock. Two records
    sharing a key always share its bucket; unrelated records rarely do. `shared` is for
    the overlapping chunks of one bulk import, which order themselves (see overlap.py):
    they do not exclude each other, and every other batch still excludes them.
    """
    ordered = sorted({lock_key(k) for k in set(keys)})
    if ordered:
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        await conn.execute(f"SELECT count({function}(k)) FROM unnest($1::bigint[]) AS k", ordered)


# --- source records and blocking -------------------------------------------------------------


async def existing_links(conn: asyncpg.Connection, keys: Sequence[SourceKey]) -> dict[SourceKey, str]:
    """The customer each already-known source record belongs to."""
    return {key: str(value) for key, value in (await _source_record_column(conn, "customer_id", keys)).items()}


async def _source_record_column(
    conn: asyncpg.Connection, column: Literal["customer_id", "features"], keys: Sequence[SourceKey]
) -> dict[SourceKey, Any]:
    """One column of the stored source records among `keys` (one statement; unknown keys are absent)."""
    if not keys:
        return {}
    rows = await conn.fetch(
        f"SELECT s.source_system, s.source_id, s.{column} AS value FROM source_records s"
        " JOIN unnest($1::text[], $2::text[]) AS k(sys, id) ON s.source_system = k.sys AND s.source_id = k.id",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {(r["source_system"], r["source_id"]): r["value"] for r in rows}


@dataclass(frozen=True)
class StoredSource:
    """A stored source record: its customer, what its statements add up to, and its row version."""

    customer_id: str
    record: SourceRecord
    version: str  # the row's xmin: changes whenever the row is written


def _restated(r: asyncpg.Record) -> SourceRecord:
    """A stored source record's row (raw, normalized, problems, passport_hash, stated_at, last_seen) as
    the record its statements add up to."""
    return stored_record(
        source_system=r["source_system"],
        source_id=r["source_id"],
        raw=r["raw"],
        normalized=r["normalized"],
        problems=r["problems"] or {},
        passport_hash=r["passport_hash"],
        stated_at=stated_times(r["stated_at"]),
        seen_at=r["last_seen"],
    )


async def stored_sources(conn: asyncpg.Connection, keys: Sequence[SourceKey]) -> dict[SourceKey, StoredSource]:
    """The stored source records among `keys` (unknown keys are absent), one statement."""
    if not keys:
        return {}
    rows = await conn.fetch(
        "SELECT s.source_system, s.source_id, s.customer_id, s.raw, s.normalized, s.problems, s.passport_hash,"
        " s.stated_at, s.last_seen, s.xmin::text AS version FROM source_records s"
        " JOIN unnest($1::text[], $2::text[]) AS k(sys, id) ON s.source_system = k.sys AND s.source_id = k.id",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {
        (r["source_system"], r["source_id"]): StoredSource(
            r["customer_id"],
            _restated(r),
            r["version"],
        )
        for r in rows
    }


# Stored records whose features this version computes otherwise than the versions before it did:
# an invalid email, phone or loyalty number (now flagged, compared for equality), or secondary contacts
# (now compared).
_REFEATURED = (
    "(problems ?| array['email', 'phone'] OR normalized ?| array['secondary_emails', 'secondary_phones']"
    " OR EXISTS (SELECT 1 FROM jsonb_object_keys(problems) AS k WHERE k LIKE 'loyalty:%'))"
)


async def refeatured_records_after(
    conn: asyncpg.Connection, after: SourceKey, *, limit: int
) -> list[tuple[SourceKey, SourceRecord, MatchFeatures]]:
    """The next `limit` stored records after `after` in key order that hold an invalid email, phone or
    loyalty number or secondary contacts, restated, with their stored features; their rows locked."""
    rows = await conn.fetch(
        "SELECT source_system, source_id, raw, normalized, problems, passport_hash, stated_at, last_seen,"
        " features::text AS features FROM source_records"
        f" WHERE (source_system, source_id) > ($1, $2) AND {_REFEATURED}"
        " ORDER BY source_system, source_id LIMIT $3 FOR UPDATE",
        after[0],
        after[1],
        limit,
    )
    return [
        (
            (r["source_system"], r["source_id"]),
            _restated(r),
            MatchFeatures.from_json(from_json(r["features"] or "{}")),
        )
        for r in rows
    ]


async def update_features(conn: asyncpg.Connection, rows: Sequence[tuple[SourceKey, dict[str, Any]]]) -> None:
    """Store these records' match features (their blocking keys are the caller's)."""
    if rows:
        await conn.execute(
            "UPDATE source_records s SET features = u.features::jsonb"
            " FROM unnest($1::text[], $2::text[], $3::text[]) AS u(sys, id, features)"
            " WHERE s.source_system = u.sys AND s.source_id = u.id",
            [k[0] for k, _ in rows],
            [k[1] for k, _ in rows],
            json_texts(f for _, f in rows),
        )


async def upsert_source_records(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or refresh source records; an existing record keeps its customer and how it was linked."""
    if not rows:
        return
    cols = (
        "source_system",
        "source_id",
        "customer_id",
        "raw",
        "normalized",
        "problems",
        "passport_hash",
        "match_rule",
        "match_score",
        "features",
        "match_evidence",
        "matched_to",
        "seen_at",
        "stated_at",
    )
    json_cols = {"raw", "normalized", "problems", "features", "match_evidence", "matched_to", "stated_at"}
    columns = [json_texts(r[c] for r in rows) if c in json_cols else [r[c] for r in rows] for c in cols]
    await stage(conn, "stage_source_records", zip(*columns, strict=True))
    await conn.execute(
        """
        WITH t AS (DELETE FROM stage_source_records RETURNING *)
        INSERT INTO source_records (source_system, source_id, customer_id, raw, normalized, problems,
                                    passport_hash, match_rule, match_score, features, match_evidence, matched_to,
                                    first_seen, last_seen, stated_at)
        SELECT sys, id, cus, raw::jsonb, norm::jsonb, prob::jsonb, pp, rule, score, feat::jsonb, ev::jsonb, mt::jsonb,
               seen, seen, sa::jsonb
          FROM t
        ON CONFLICT (source_system, source_id) DO UPDATE
           SET raw = EXCLUDED.raw, normalized = EXCLUDED.normalized, problems = EXCLUDED.problems,
               features = EXCLUDED.features, stated_at = EXCLUDED.stated_at,
               passport_hash = COALESCE(EXCLUDED.passport_hash, source_records.passport_hash),
               last_seen = GREATEST(source_records.last_seen, EXCLUDED.last_seen)
        """
    )


async def stored_features(conn: asyncpg.Connection, keys: Sequence[SourceKey]) -> dict[SourceKey, MatchFeatures]:
    """The match features stored records were last saved with (their blocking keys follow from them)."""
    stored = await _source_record_column(conn, "features", keys)
    return {key: MatchFeatures.from_json(features) for key, features in stored.items()}


async def count_frequencies(conn: asyncpg.Connection, tokens: Sequence[str]) -> None:
    """Add newly stored records' name parts to the frequency table."""
    counts: dict[str, int] = {}
    for t in tokens:
        counts[t] = counts.get(t, 0) + 1
    if not counts:
        return
    ordered = sorted(counts)  # a fixed order: concurrent batches update shared rows without deadlocks
    await conn.execute(
        "INSERT INTO value_frequencies (token, count) SELECT * FROM unnest($1::text[], $2::bigint[])"
        " ON CONFLICT (token) DO UPDATE SET count = value_frequencies.count + EXCLUDED.count",
        ordered,
        [counts[t] for t in ordered],
    )


async def value_frequencies(
    conn: asyncpg.Connection,
    tokens: Iterable[str],
    *,
    min_records: int,
    pending: Collection[SourceKey] = (),
    adding: Iterable[str] = (),
) -> dict[str, float]:
    """Each name part's share of stored records (empty until about `min_records` records are stored).

    The number of records is the planner's estimate (kept current by autovacuum and the
    bulk importer's ANALYZE): exact enough for a frequency, and no row every writer updates.
    `pending` names records the caller's other, not yet committed transaction is writing
    (the bulk importer's previous chunk); the estimate does not follow commits, so it is
    the same whether or not they have committed, and only an exact count would add them.
    `adding`: name parts (one per record) the caller is about to count (`count_frequencies`), read
    as if they were counted already.
    """
    # One round trip: the record count and the tokens' counts together (no rows below the minimum).
    rows = await conn.fetch(
        "SELECT t.total, f.token, f.count"
        "  FROM (SELECT reltuples::bigint AS total FROM pg_class WHERE oid = 'source_records'::regclass) t"
        "  LEFT JOIN value_frequencies f ON f.token = ANY($1::text[])"
        " WHERE t.total > 0 AND t.total >= $2",
        sorted(set(tokens)),
        min_records,
    )
    if not rows:
        return {}
    total = rows[0]["total"]
    counts = {r["token"]: r["count"] for r in rows if r["token"] is not None}
    for t in adding:
        counts[t] = counts.get(t, 0) + 1
    return {t: min(1.0, c / total) for t, c in counts.items()}


# --- curation: moving and splitting records ------------------------------------------------------


async def source_keys_of(conn: asyncpg.Connection, customer_id: str) -> list[asyncpg.Record]:
    """A customer's source records (source system, source id)."""
    return await conn.fetch("SELECT source_system, source_id FROM source_records WHERE customer_id = $1", customer_id)


async def move_source_records(conn: asyncpg.Connection, records: Collection[SourceKey], *, to: str) -> None:
    if records:
        await conn.execute(
            "UPDATE source_records s SET customer_id = $3 FROM unnest($1::text[], $2::text[]) AS k(sys, id)"
            " WHERE s.source_system = k.sys AND s.source_id = k.id",
            [r[0] for r in records],
            [r[1] for r in records],
            to,
        )


async def lock_owner(conn: asyncpg.Connection, source_system: str, source_id: str) -> str | None:
    """The customer a source record belongs to, the record row-locked (None: unknown record)."""
    owner: str | None = await conn.fetchval(
        "SELECT customer_id FROM source_records WHERE source_system = $1 AND source_id = $2 FOR UPDATE",
        source_system,
        source_id,
    )
    return owner


async def count_of(conn: asyncpg.Connection, customer_id: str) -> int:
    """How many source records a customer has."""
    count: int = await conn.fetchval("SELECT count(*) FROM source_records WHERE customer_id = $1", customer_id)
    return count


async def split_off(conn: asyncpg.Connection, source_system: str, source_id: str, *, to: str) -> None:
    """Move one source record to another customer as split off by an agent (its match is forgotten)."""
    await conn.execute(
        "UPDATE source_records SET customer_id = $3, match_rule = 'split', match_score = NULL, match_evidence = NULL,"
        " matched_to = NULL WHERE source_system = $1 AND source_id = $2",
        source_system,
        source_id,
        to,
    )
