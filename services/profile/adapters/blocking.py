"""Blocking keys: which stored records share a key with an incoming one (asyncpg, caller's transaction).

Keys are stored as 64-bit hashes (`blocking_key_hashes`); a record's keys follow from its
match features, so they are replaced whenever its features change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import lru_cache

import asyncpg
from pydantic_core import from_json

from services.profile.adapters.rows import SourceKey, stage
from services.profile.domain.matching import MatchFeatures, lookup_limit


@lru_cache(maxsize=1 << 17)
def key_hash(key: str) -> int:
    """A blocking key's 64-bit hash as stored (the SQL of migration 0003 computes the same)."""
    return int.from_bytes(hashlib.md5(key.encode(), usedforsecurity=False).digest()[:8], "big", signed=True)


async def candidates(
    conn: asyncpg.Connection,
    keys: Sequence[str],
    *,
    per_key: int,
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
    # A record found under several keys comes back once per key, but with its features only once (the
    # first time): the jsonb-to-text conversion, the transfer and the decoding are per record, not per key.
    rows = await conn.fetch(
        f"""
        SELECT k.key, s.source_system, s.source_id, s.customer_id,
               CASE WHEN row_number() OVER (PARTITION BY s.source_system, s.source_id ORDER BY k.n) = 1
                    THEN s.features::text END AS features
               {", " + _RECORD_HASH + " AS h" if digest is not None else ""}
          FROM unnest($1::text[], $2::bigint[], $3::int[]) WITH ORDINALITY AS k(key, h, lim, n)
          CROSS JOIN LATERAL (
                SELECT b.source_system, b.source_id FROM blocking_key_hashes b WHERE b.key_hash = k.h LIMIT k.lim
          ) b
          JOIN source_records s ON s.source_system = b.source_system AND s.source_id = b.source_id
         ORDER BY k.n, b.source_system, b.source_id
        """,
        list(keys),
        [key_hash(k) for k in keys],
        _limits(keys, per_key, extra),
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


def _limits(keys: Sequence[str], per_key: int, extra: Mapping[str, int] | None) -> list[int]:
    """How many stored records `candidates` reads under each key."""
    more = extra or {}
    return [lookup_limit(k, per_key) + more.get(k, 0) for k in keys]


async def candidate_hits(conn: asyncpg.Connection, keys: Sequence[str], *, per_key: int) -> dict[str, tuple[int, int]]:
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
        _limits(keys, per_key, None),
    )
    return {r["key"]: (r["n"], r["digest"]) for r in rows}


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
        await stage(conn, "stage_blocking_keys", added)
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


async def records_after(
    conn: asyncpg.Connection, after: SourceKey, *, limit: int
) -> list[tuple[SourceKey, MatchFeatures]]:
    """The next `limit` stored records after `after` in key order, with their features, their rows
    locked (a resolver writing one of them waits, or is waited for)."""
    rows = await conn.fetch(
        "SELECT source_system, source_id, features::text AS features FROM source_records"
        " WHERE (source_system, source_id) > ($1, $2) ORDER BY source_system, source_id LIMIT $3 FOR UPDATE",
        after[0],
        after[1],
        limit,
    )
    return [
        ((r["source_system"], r["source_id"]), MatchFeatures.from_json(from_json(r["features"] or "{}"))) for r in rows
    ]


async def add_blocking_keys(conn: asyncpg.Connection, records: Sequence[tuple[SourceKey, Sequence[str]]]) -> int:
    """Store these keys of these records where they are missing; how many were."""
    rows = sorted({(key_hash(k), sys, sid) for (sys, sid), ks in records for k in ks})
    if not rows:
        return 0
    added = await conn.fetchval(
        "WITH t AS (INSERT INTO blocking_key_hashes (key_hash, source_system, source_id)"
        " SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING RETURNING 1)"
        " SELECT count(*) FROM t",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
    )
    return int(added)
