"""PostgreSQL persistence of the profile service (asyncpg, inside the caller's transaction).

Bulk-shaped on purpose: every write takes arrays and runs one statement (`unnest`), so
resolving a batch of 500 records costs a dozen round trips, not thousands.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import asyncpg
from pydantic_core import from_json

from services.kit.jsontext import json_bytes
from services.kit.redirects import follow_one
from services.profile.domain.matching import MatchFeatures, is_weak_key
from services.profile.domain.model import Correction, SourceRecord, StoredRecord
from services.profile.domain.restating import stored_record

SourceKey = tuple[str, str]


def _js(values: Iterable[Any]) -> list[str | None]:
    """JSON text of each value (None stays SQL NULL), for `$n::text[]` parameters cast to jsonb in SQL.

    Serialising in Python and sending text arrays costs a fraction of the connection's
    per-value jsonb codec on the batch paths.
    """
    return [None if v is None else json_bytes(v).decode() for v in values]


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
    the overlapping chunks of one bulk import, which order themselves (see bulk.py):
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
            stored_record(
                source_system=r["source_system"],
                source_id=r["source_id"],
                raw=r["raw"],
                normalized=r["normalized"],
                problems=r["problems"] or {},
                passport_hash=r["passport_hash"],
                stated_at=_times(r["stated_at"]),
                seen_at=r["last_seen"],
            ),
            r["version"],
        )
        for r in rows
    }


def _times(stated_at: Mapping[str, str] | None) -> dict[str, datetime]:
    return {k: datetime.fromisoformat(v) for k, v in (stated_at or {}).items()}


@lru_cache(maxsize=1 << 17)
def key_hash(key: str) -> int:
    """A blocking key's 64-bit hash as stored (the SQL of migration 0003 computes the same)."""
    return int.from_bytes(hashlib.md5(key.encode(), usedforsecurity=False).digest()[:8], "big", signed=True)


async def candidates(
    conn: asyncpg.Connection,
    keys: Sequence[str],
    *,
    per_key: int,
    per_weak_key: int | None = None,
    extra: Mapping[str, int] | None = None,
    digest: dict[str, tuple[int, int]] | None = None,
) -> dict[str, list[tuple[SourceKey, str, MatchFeatures]]]:
    """Stored records under each blocking key (at most `per_key` each, fewer for weak keys): indexed lookups.

    Each key's records come in the index's order (source system, source id); `extra` reads
    that many more under a key (the bulk importer drops records it is rewriting). `digest`, if
    given, receives each key's `candidate_hits` digest of what was read.
    """
    if not keys:
        return {}
    rows = await conn.fetch(
        f"""
        SELECT k.key, s.source_system, s.source_id, s.customer_id, s.features::text AS features
               {", " + _RECORD_HASH + " AS h" if digest is not None else ""}
          FROM unnest($1::text[], $2::bigint[], $3::int[]) AS k(key, h, lim)
          CROSS JOIN LATERAL (
                SELECT b.source_system, b.source_id FROM blocking_key_hashes b WHERE b.key_hash = k.h LIMIT k.lim
          ) b
          JOIN source_records s ON s.source_system = b.source_system AND s.source_id = b.source_id
        """,
        list(keys),
        [key_hash(k) for k in keys],
        _limits(keys, per_key, per_weak_key, extra),
    )
    out: dict[str, list[tuple[SourceKey, str, MatchFeatures]]] = {}
    parsed: dict[SourceKey, MatchFeatures] = {}
    for r in rows:
        sk = (r["source_system"], r["source_id"])
        feats = parsed.get(sk)
        if feats is None:
            feats = parsed[sk] = MatchFeatures.from_json(from_json(r["features"]))
        out.setdefault(r["key"], []).append((sk, r["customer_id"], feats))
    if digest is not None:
        sums: dict[str, int] = {}
        for r in rows:
            sums[r["key"]] = sums.get(r["key"], 0) + r["h"]
        digest.update((k, (len(out[k]), h)) for k, h in sums.items())
    return out


# A stored record's hash in the digests of what a candidate read returned (PostgreSQL's own
# text hash: the same in every session of the server, never computed by the service).
_RECORD_HASH = "hashtext(b.source_system || chr(31) || b.source_id)"


def _limits(keys: Sequence[str], per_key: int, per_weak_key: int | None, extra: Mapping[str, int] | None) -> list[int]:
    """How many stored records `candidates` reads under each key."""
    weak = per_weak_key if per_weak_key is not None else max(1, per_key // 2)
    more = extra or {}
    return [(weak if is_weak_key(k) else per_key) + more.get(k, 0) for k in keys]


async def candidate_hits(
    conn: asyncpg.Connection, keys: Sequence[str], *, per_key: int, per_weak_key: int | None = None
) -> dict[str, tuple[int, int]]:
    """What `candidates` would read under each key now, as a digest (keys without any are absent):
    how many stored records and the sum of their hashes.

    The blocking index alone (an index-only scan, no record is fetched, one row per key): a cheap
    check that an earlier read still holds (compare with the `digest` that read filled in).
    """
    if not keys:
        return {}
    rows = await conn.fetch(
        f"""
        SELECT k.key, count(*) AS n, sum({_RECORD_HASH}) AS digest
          FROM unnest($1::text[], $2::bigint[], $3::int[]) AS k(key, h, lim)
          CROSS JOIN LATERAL (
                SELECT b.source_system, b.source_id FROM blocking_key_hashes b WHERE b.key_hash = k.h LIMIT k.lim
          ) b
         GROUP BY k.key
        """,
        list(keys),
        [key_hash(k) for k in keys],
        _limits(keys, per_key, per_weak_key, None),
    )
    return {r["key"]: (r["n"], r["digest"]) for r in rows}


async def lock_customers(conn: asyncpg.Connection, customer_ids: Iterable[str]) -> dict[str, asyncpg.Record]:
    """Row-lock customers in id order (no deadlocks with merges); returns their rows as `customer_rows` does."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = await conn.fetch(
        "SELECT customer_id, status, merged_into, version, golden, company_id, quality FROM customers"
        " WHERE customer_id = ANY($1::text[]) ORDER BY customer_id FOR UPDATE",
        ids,
    )
    return {r["customer_id"]: r for r in rows}


async def insert_customers(conn: asyncpg.Connection, rows: Sequence[tuple[str, str | None, datetime]]) -> None:
    if rows:
        await conn.execute(
            "INSERT INTO customers (customer_id, company_id, created_at, updated_at, version)"
            " SELECT id, co, at, at, 0 FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS t(id, co, at)",
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
        )


def _customer_columns(rows: Sequence[dict[str, Any]]) -> tuple[list[Any], ...]:
    """Customer rows as the parameter arrays of the insert and the update: id, golden (JSON text),
    company, version, quality (JSON text), time, search document (None: unchanged)."""
    return (
        [r["customer_id"] for r in rows],
        _js(r["golden"] for r in rows),
        [r["company_id"] for r in rows],
        [r["version"] for r in rows],
        _js(r["quality"] for r in rows),
        [r["at"] for r in rows],
        [r.get("search_doc") for r in rows],
    )


async def insert_customers_full(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert new customers with their golden record, company, version and quality in one statement."""
    if rows:
        await conn.execute(
            "INSERT INTO customers (customer_id, golden, company_id, version, quality, created_at, updated_at,"
            " search_doc)"
            " SELECT id, golden::jsonb, co, v, q::jsonb, at, at, doc"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::timestamptz[], $7::text[])"
            " AS t(id, golden, co, v, q, at, doc)",
            *_customer_columns(rows),
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
    columns = [_js(r[c] for r in rows) if c in json_cols else [r[c] for r in rows] for c in cols]
    await _stage(conn, "stage_source_records", zip(*columns, strict=True))
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


# Rows of the two largest writes are copied (binary COPY) into per-connection temporary
# tables and moved from there with one INSERT ... SELECT: cheaper for the server than
# unnesting a dozen parameter arrays, and the JSON columns travel as plain text.
_STAGING_TABLES = {
    "stage_source_records": "(sys text, id text, cus text, raw text, norm text, prob text, pp text, rule text,"
    " score real, feat text, ev text, mt text, seen timestamptz, sa text)",
    "stage_blocking_keys": "(h bigint, sys text, id text)",
}


async def _stage(conn: asyncpg.Connection, table: str, records: Iterable[tuple[Any, ...]]) -> None:
    """Copy rows into a staging table (created on first use; the statement after it empties it)."""
    await conn.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {table} {_STAGING_TABLES[table]} ON COMMIT DELETE ROWS")
    await conn.copy_records_to_table(table, records=records)


async def stored_features(conn: asyncpg.Connection, keys: Sequence[SourceKey]) -> dict[SourceKey, MatchFeatures]:
    """The match features stored records were last saved with (their blocking keys follow from them)."""
    stored = await _source_record_column(conn, "features", keys)
    return {key: MatchFeatures.from_json(features) for key, features in stored.items()}


async def replace_blocking_keys(
    conn: asyncpg.Connection,
    records: Sequence[tuple[SourceKey, Sequence[str]]],
    *,
    stored_before: Mapping[SourceKey, Sequence[str]],
) -> None:
    """Store each record's blocking keys, replacing the keys records stored before had (`stored_before`)."""
    if not records:
        return
    new = {(key_hash(k), sys, sid) for (sys, sid), ks in records for k in ks}
    old = {(key_hash(k), sys, sid) for (sys, sid), ks in stored_before.items() for k in ks}
    gone = sorted(old - new)
    if gone:
        await conn.execute(
            "DELETE FROM blocking_key_hashes b USING unnest($1::bigint[], $2::text[], $3::text[]) AS k(h, sys, id)"
            " WHERE b.key_hash = k.h AND b.source_system = k.sys AND b.source_id = k.id",
            [g[0] for g in gone],
            [g[1] for g in gone],
            [g[2] for g in gone],
        )
    added = sorted(new - old)
    if added:
        await _stage(conn, "stage_blocking_keys", added)
        await conn.execute(
            "WITH t AS (DELETE FROM stage_blocking_keys RETURNING *)"
            " INSERT INTO blocking_key_hashes (key_hash, source_system, source_id) SELECT h, sys, id FROM t"
            " ON CONFLICT DO NOTHING"
        )


async def customers_for_keys(conn: asyncpg.Connection, keys: Sequence[str], *, limit: int) -> list[str]:
    """Active customers holding records under any of the keys (search by email, phone, loyalty, name)."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT s.customer_id
          FROM blocking_key_hashes b JOIN source_records s USING (source_system, source_id)
         WHERE b.key_hash = ANY($1::bigint[])
         LIMIT $2
        """,
        [key_hash(k) for k in keys],
        limit,
    )
    return [r["customer_id"] for r in rows]


async def count_names(conn: asyncpg.Connection, tokens: Sequence[str]) -> None:
    """Add newly stored records' name parts to the frequency table."""
    counts: dict[str, int] = {}
    for t in tokens:
        counts[t] = counts.get(t, 0) + 1
    if not counts:
        return
    ordered = sorted(counts)  # a fixed order: concurrent batches update shared rows without deadlocks
    await conn.execute(
        "INSERT INTO name_frequencies (token, count) SELECT * FROM unnest($1::text[], $2::bigint[])"
        " ON CONFLICT (token) DO UPDATE SET count = name_frequencies.count + EXCLUDED.count",
        ordered,
        [counts[t] for t in ordered],
    )


async def name_frequencies(
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
    `adding`: name parts (one per record) the caller is about to count (`count_names`), read
    as if they were counted already.
    """
    # One round trip: the record count and the tokens' counts together (no rows below the minimum).
    rows = await conn.fetch(
        "SELECT t.total, f.token, f.count"
        "  FROM (SELECT reltuples::bigint AS total FROM pg_class WHERE oid = 'source_records'::regclass) t"
        "  LEFT JOIN name_frequencies f ON f.token = ANY($1::text[])"
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


# --- customers and golden records ------------------------------------------------------------


async def customer_rows(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT customer_id, status, merged_into, version, golden, company_id, quality FROM customers"
        " WHERE customer_id = ANY($1::text[])",
        list(ids),
    )
    return {r["customer_id"]: r for r in rows}


async def records_of(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, list[tuple[StoredRecord, int]]]:
    """Each customer's source records (normalised fields, last seen) with their count of invalid values."""
    rows = await conn.fetch(
        "SELECT customer_id, source_system, source_id, normalized, last_seen, problems, stated_at FROM source_records"
        " WHERE customer_id = ANY($1::text[])",
        list(ids),
    )
    out: dict[str, list[tuple[StoredRecord, int]]] = {}
    for r in rows:
        rec = StoredRecord(r["source_system"], r["source_id"], r["normalized"], r["last_seen"], _times(r["stated_at"]))
        out.setdefault(r["customer_id"], []).append((rec, len(r["problems"] or {})))
    return out


async def corrections_of(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, list[Correction]]:
    rows = await conn.fetch(
        "SELECT customer_id, field, value, actor, at FROM corrections WHERE customer_id = ANY($1::text[])", list(ids)
    )
    out: dict[str, list[Correction]] = {}
    for r in rows:
        out.setdefault(r["customer_id"], []).append(Correction(r["field"], r["value"], r["actor"], r["at"]))
    return out


async def undeliverable(conn: asyncpg.Connection, emails: Sequence[str]) -> set[str]:
    if not emails:
        return set()
    rows = await conn.fetch("SELECT email FROM undeliverable_emails WHERE email = ANY($1::text[])", list(emails))
    return {r["email"] for r in rows}


async def mark_undeliverable(conn: asyncpg.Connection, *, email: str, reason: str, at: datetime) -> None:
    """Mark an address undeliverable (a bounce): the latest reason wins."""
    await conn.execute(
        "INSERT INTO undeliverable_emails (email, reason, at) VALUES ($1, $2, $3)"
        " ON CONFLICT (email) DO UPDATE SET reason = EXCLUDED.reason, at = EXCLUDED.at",
        email,
        reason,
        at,
    )


async def clear_undeliverable(conn: asyncpg.Connection, email: str) -> str | None:
    """Remove an address's undeliverable mark; returns the reason it had (None: it had none)."""
    reason: str | None = await conn.fetchval(
        "DELETE FROM undeliverable_emails WHERE email = $1 RETURNING reason", email
    )
    return reason


async def company_domains(conn: asyncpg.Connection, ids: Iterable[str | None]) -> dict[str, set[str]]:
    """Each company's email domains (those its sources named)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = await conn.fetch(
        "SELECT company_id, domain FROM company_domains WHERE company_id = ANY($1::text[])"
        " UNION SELECT company_id, lower(email_domain) FROM companies"
        " WHERE company_id = ANY($1::text[]) AND email_domain IS NOT NULL",
        wanted,
    )
    out: dict[str, set[str]] = {}
    for r in rows:
        out.setdefault(r["company_id"], set()).add(r["domain"])
    return out


async def company_countries(conn: asyncpg.Connection, ids: Iterable[str | None]) -> dict[str, str]:
    """Where each company is based (those whose sources said)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = await conn.fetch(
        "SELECT company_id, country FROM companies WHERE company_id = ANY($1::text[]) AND country IS NOT NULL", wanted
    )
    return {r["company_id"]: r["country"] for r in rows}


async def company_names(conn: asyncpg.Connection, ids: Iterable[str | None]) -> dict[str, str]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = await conn.fetch("SELECT company_id, name FROM companies WHERE company_id = ANY($1::text[])", wanted)
    return {r["company_id"]: r["name"] for r in rows}


async def save_customers(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write recomputed golden records (version already decided by the caller)."""
    if not rows:
        return
    await conn.execute(
        """
        UPDATE customers c
           SET golden = t.golden::jsonb, company_id = t.company_id, version = t.version, quality = t.quality::jsonb,
               updated_at = t.at, search_doc = COALESCE(t.doc, c.search_doc)
          FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::timestamptz[], $7::text[])
               AS t(id, golden, company_id, version, quality, at, doc)
         WHERE c.customer_id = t.id
        """,
        *_customer_columns(rows),
    )


async def sync_quality_tasks(conn: asyncpg.Connection, tasks: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Open tasks for new problems and resolve tasks whose problem went away, for the given customers."""
    if not tasks:
        return
    ids = list(tasks)
    cus, kinds, details = [], [], []
    for cid, by_kind in tasks.items():
        for kind, detail in by_kind.items():
            cus.append(cid)
            kinds.append(kind)
            details.append(detail)
    await conn.execute(
        """
        UPDATE quality_tasks q SET status = 'resolved', resolved_at = now()
         WHERE q.customer_id = ANY($1::text[]) AND q.status = 'open'
           AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) AS t(c, k)
                            WHERE t.c = q.customer_id AND t.k = q.kind)
        """,
        ids,
        cus,
        kinds,
    )
    if cus:
        await conn.execute(
            "INSERT INTO quality_tasks (customer_id, kind, detail)"
            " SELECT c, k, d::jsonb FROM unnest($1::text[], $2::text[], $3::text[]) AS t(c, k, d)"
            " ON CONFLICT (customer_id, kind) WHERE status = 'open' DO UPDATE SET detail = EXCLUDED.detail",
            cus,
            kinds,
            _js(details),
        )


async def insert_quality_tasks(conn: asyncpg.Connection, tasks: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Open the quality tasks of customers that have none yet (new customers)."""
    cus, kinds, details = [], [], []
    for cid, by_kind in tasks.items():
        for kind, detail in by_kind.items():
            cus.append(cid)
            kinds.append(kind)
            details.append(detail)
    if cus:
        await conn.execute(
            "INSERT INTO quality_tasks (customer_id, kind, detail)"
            " SELECT c, k, d::jsonb FROM unnest($1::text[], $2::text[], $3::text[]) AS t(c, k, d)"
            " ON CONFLICT (customer_id, kind) WHERE status = 'open' DO NOTHING",
            cus,
            kinds,
            _js(details),
        )


async def get_customer(conn: asyncpg.Connection, customer_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT c.customer_id, c.status, c.merged_into, c.version, c.golden, c.company_id, c.created_at, c.updated_at,
               c.quality, co.name AS company_name,
               (SELECT count(*) FROM source_records s WHERE s.customer_id = c.customer_id) AS source_record_count
          FROM customers c LEFT JOIN companies co USING (company_id)
         WHERE c.customer_id = $1
        """,
        customer_id,
    )


async def follow_redirects(conn: asyncpg.Connection, customer_id: str, *, max_hops: int = 20) -> str | None:
    """The active customer an id stands for now (itself, or the survivor of merges); None if unknown."""
    return (await follow_one(customer_id, functools.partial(merged_into, conn), max_hops=max_hops)).found


async def merged_into(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, str | None]:
    """Where each known customer redirects: its survivor if merged, else None."""
    rows = await conn.fetch(
        "SELECT customer_id, status, merged_into FROM customers WHERE customer_id = ANY($1::text[])", list(ids)
    )
    return {r["customer_id"]: (r["merged_into"] or None) if r["status"] == "merged" else None for r in rows}


# --- companies --------------------------------------------------------------------------------


async def company_lookup(
    conn: asyncpg.Connection, *, sources: Sequence[SourceKey], aliases: Sequence[str], domains: Sequence[str]
) -> tuple[dict[SourceKey, str], dict[str, str], dict[str, str]]:
    by_source: dict[SourceKey, str] = {}
    if sources:
        rows = await conn.fetch(
            "SELECT s.source_system, s.source_company_id, s.company_id FROM company_sources s"
            " JOIN unnest($1::text[], $2::text[]) AS k(sys, id)"
            " ON s.source_system = k.sys AND s.source_company_id = k.id",
            [s[0] for s in sources],
            [s[1] for s in sources],
        )
        by_source = {(r["source_system"], r["source_company_id"]): r["company_id"] for r in rows}
    by_alias: dict[str, str] = {}
    if aliases:
        rows = await conn.fetch(
            "SELECT alias_key, company_id FROM company_aliases WHERE alias_key = ANY($1::text[])", list(aliases)
        )
        by_alias = {r["alias_key"]: r["company_id"] for r in rows}
    by_domain: dict[str, str] = {}
    if domains:
        rows = await conn.fetch(
            "SELECT domain, company_id FROM company_domains WHERE domain = ANY($1::text[])", list(domains)
        )
        by_domain = {r["domain"]: r["company_id"] for r in rows}
    return by_source, by_alias, by_domain


async def save_companies(
    conn: asyncpg.Connection,
    *,
    new: Sequence[tuple[str, str, str, str | None]],  # id, name, name_key, domain
    aliases: Sequence[tuple[str, str, str]],  # alias_key, company_id, alias
    domains: Sequence[tuple[str, str]],
    sources: Sequence[tuple[str, str, str]],
    countries: Mapping[str, str] | None = None,  # company_id -> country, where a source says
) -> None:
    if new:
        await conn.execute(
            "INSERT INTO companies (company_id, name, name_key, email_domain)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING",
            [n[0] for n in new],
            [n[1] for n in new],
            [n[2] for n in new],
            [n[3] for n in new],
        )
    if aliases:
        await conn.execute(
            "INSERT INTO company_aliases (alias_key, company_id, alias)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING",
            [a[0] for a in aliases],
            [a[1] for a in aliases],
            [a[2] for a in aliases],
        )
    if domains:
        await conn.execute(
            "INSERT INTO company_domains (domain, company_id) SELECT * FROM unnest($1::text[], $2::text[])"
            " ON CONFLICT DO NOTHING",
            [d[0] for d in domains],
            [d[1] for d in domains],
        )
    if countries:
        # The first country a source states stays (several sources may disagree about an account).
        ordered = sorted(countries)
        await conn.execute(
            "UPDATE companies c SET country = t.country FROM unnest($1::text[], $2::text[]) AS t(id, country)"
            " WHERE c.company_id = t.id AND c.country IS NULL",
            ordered,
            [countries[c] for c in ordered],
        )
    if sources:
        await conn.execute(
            "INSERT INTO company_sources (source_system, source_company_id, company_id)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING",
            [s[0] for s in sources],
            [s[1] for s in sources],
            [s[2] for s in sources],
        )


# --- bookings, reviews, history ----------------------------------------------------------------


async def upsert_bookings(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    await conn.execute(
        """
        INSERT INTO bookings (source_system, booking_id, customer_id, status, summary, traveller_source_id, updated_at)
        SELECT sys, id, cus, st, summ::jsonb, tr, at
          FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
               AS t(sys, id, cus, st, summ, tr, at)
        ON CONFLICT (source_system, booking_id) DO UPDATE
           SET customer_id = EXCLUDED.customer_id, status = EXCLUDED.status,
               summary = CASE WHEN EXCLUDED.summary = '{}'::jsonb THEN bookings.summary ELSE EXCLUDED.summary END,
               traveller_source_id = EXCLUDED.traveller_source_id, updated_at = EXCLUDED.updated_at
        """,
        [r["source_system"] for r in rows],
        [r["booking_id"] for r in rows],
        [r["customer_id"] for r in rows],
        [r["status"] for r in rows],
        _js(r["summary"] for r in rows),
        [r["traveller_source_id"] for r in rows],
        [r["at"] for r in rows],
    )


async def distinct_pairs(conn: asyncpg.Connection, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of the (sorted) customer pairs an agent declared different people."""
    if not pairs:
        return set()
    rows = await conn.fetch(
        "SELECT d.customer_a, d.customer_b FROM distinct_pairs d"
        " JOIN unnest($1::text[], $2::text[]) AS p(a, b) ON d.customer_a = p.a AND d.customer_b = p.b",
        [p[0] for p in pairs],
        [p[1] for p in pairs],
    )
    return {(r["customer_a"], r["customer_b"]) for r in rows}


async def insert_reviews(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Open review items; a pair with an open item already keeps one, with the better-scored evidence.

    At most one row per pair of customers (either way round) in `rows`."""
    if not rows:
        return
    await conn.execute(
        """
        INSERT INTO review_queue (review_id, customer_id, candidate_id, source_system, source_id, score, evidence)
        SELECT rid, cus, cand, sys, id, score, ev::jsonb
          FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::real[], $7::text[])
               AS t(rid, cus, cand, sys, id, score, ev)
         ORDER BY LEAST(cus, cand), GREATEST(cus, cand)
        ON CONFLICT ((LEAST(customer_id, candidate_id)), (GREATEST(customer_id, candidate_id))) WHERE status = 'open'
        DO UPDATE SET customer_id = EXCLUDED.customer_id, candidate_id = EXCLUDED.candidate_id,
                      source_system = EXCLUDED.source_system, source_id = EXCLUDED.source_id,
                      score = EXCLUDED.score, evidence = EXCLUDED.evidence
                WHERE EXCLUDED.score > review_queue.score
                   OR (EXCLUDED.score = review_queue.score
                       AND (EXCLUDED.source_system, EXCLUDED.source_id)
                           < (review_queue.source_system, review_queue.source_id))
        """,
        [r["review_id"] for r in rows],
        [r["customer_id"] for r in rows],
        [r["candidate_id"] for r in rows],
        [r["source_system"] for r in rows],
        [r["source_id"] for r in rows],
        [r["score"] for r in rows],
        _js(r["evidence"] for r in rows),
    )


async def add_history(
    conn: asyncpg.Connection, *, customer_id: str, change: str, actor: str | None, detail: dict[str, Any]
) -> None:
    await add_history_many(conn, [(customer_id, change, actor, detail)])


async def add_history_many(
    conn: asyncpg.Connection, rows: Sequence[tuple[str, str, str | None, dict[str, Any]]]
) -> None:
    if rows:
        await conn.execute(
            "INSERT INTO customer_history (customer_id, change, actor, detail)"
            " SELECT c, ch, a, d::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(c, ch, a, d)",
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
            _js(r[3] for r in rows),
        )
