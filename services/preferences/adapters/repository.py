"""PostgreSQL persistence of the preferences service (asyncpg, inside the caller's transaction).

Bulk by design: a batch of bookings loads every customer it touches in one query and
writes them back in one statement. A customer's state and published form are JSON kept in
text columns (read and written whole, never queried inside), parsed with pydantic-core's JSON
(several times faster than the stdlib's on these documents) and written with orjson where it
spells them exactly as pydantic-core does (`kit.jsontext.json_bytes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from pydantic_core import from_json

from services.kit.jsontext import json_bytes
from services.preferences.domain.model import CustomerPreferences


@dataclass
class CustomerRow:
    """A customer's stored preferences plus what was last published for them."""

    prefs: CustomerPreferences
    status: str = "active"
    merged_into: str | None = None
    version: int = 0
    published: dict[str, Any] | None = None
    policy_version: int | None = None
    exists: bool = False


_COLUMNS = "customer_id, company_id, status, merged_into, state, version, published, policy_version, last_event_at"


def _json_text(value: Any) -> str:
    return json_bytes(value).decode()


def _row(r: asyncpg.Record) -> CustomerRow:
    prefs = CustomerPreferences.from_json(
        r["customer_id"], from_json(r["state"]), company_id=r["company_id"], last_event_at=r["last_event_at"]
    )
    published = r["published"]
    return CustomerRow(
        prefs=prefs,
        status=r["status"],
        merged_into=r["merged_into"],
        version=r["version"],
        published=None if published is None else from_json(published),
        policy_version=r["policy_version"],
        exists=True,
    )


async def load_for_update(conn: asyncpg.Connection, customer_ids: Iterable[str]) -> dict[str, CustomerRow]:
    """Lock and load customers; sorted so concurrent batches cannot deadlock."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM customers WHERE customer_id = ANY($1::text[]) ORDER BY customer_id FOR UPDATE", ids
    )
    return {r["customer_id"]: _row(r) for r in rows}


async def load_or_create_for_update(conn: asyncpg.Connection, customer_ids: Iterable[str]) -> dict[str, CustomerRow]:
    """Lock and load customers, creating the missing ones first (empty, version 0).

    Locking a row that does not exist locks nothing: two transactions writing one new customer (a first
    booking and an agent's stated preferences) would each build it from scratch, and the later commit
    would erase the other's values. Inserting the key first makes the second wait on the first's row.
    """
    ids = sorted(set(customer_ids))
    rows = await load_for_update(conn, ids)
    if missing := [i for i in ids if i not in rows]:
        await conn.execute(
            "INSERT INTO customers (customer_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", missing
        )
        rows.update(await load_for_update(conn, missing))
    return rows


async def merged_into(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, str | None]:
    """Where each known customer redirects: the customer it was merged into, else None."""
    rows = await conn.fetch(
        "SELECT customer_id, status, merged_into FROM customers WHERE customer_id = ANY($1::text[])", list(ids)
    )
    return {r["customer_id"]: (r["merged_into"] or None) if r["status"] == "merged" else None for r in rows}


async def load(conn: asyncpg.Connection, customer_id: str) -> CustomerRow | None:
    r = await conn.fetchrow(f"SELECT {_COLUMNS} FROM customers WHERE customer_id = $1", customer_id)
    return _row(r) if r is not None else None


async def save_many(conn: asyncpg.Connection, rows: Sequence[CustomerRow]) -> None:
    """Insert or update customers in one statement, in key order (as `load_for_update` locks them): two
    transactions writing overlapping new customers in different orders would deadlock on the key."""
    if not rows:
        return
    rows = sorted(rows, key=lambda r: r.prefs.customer_id)
    await conn.execute(
        """
        INSERT INTO customers AS c (customer_id, company_id, status, merged_into, state, version, published,
                                    policy_version, last_event_at, updated_at)
        SELECT u.customer_id, u.company_id, u.status, u.merged_into, u.state, u.version, u.published,
               u.policy_version, u.last_event_at, now()
          FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::int[],
                      $9::timestamptz[])
               AS u(customer_id, company_id, status, merged_into, state, version, published, policy_version,
                    last_event_at)
        ON CONFLICT (customer_id) DO UPDATE
           SET company_id = EXCLUDED.company_id, status = EXCLUDED.status, merged_into = EXCLUDED.merged_into,
               state = EXCLUDED.state, version = EXCLUDED.version, published = EXCLUDED.published,
               policy_version = EXCLUDED.policy_version, last_event_at = EXCLUDED.last_event_at, updated_at = now()
        """,
        [r.prefs.customer_id for r in rows],
        [r.prefs.company_id for r in rows],
        [r.status for r in rows],
        [r.merged_into for r in rows],
        [_json_text(r.prefs.to_json()) for r in rows],
        [r.version for r in rows],
        [None if r.published is None else _json_text(r.published) for r in rows],
        [r.policy_version for r in rows],
        [r.prefs.last_event_at for r in rows],
    )


@dataclass(frozen=True)
class PolicyRow:
    company_id: str
    version: int
    policy: dict[str, Any]
    deleted: bool
    updated_by: str
    updated_at: datetime


async def load_policies(conn: asyncpg.Connection, company_ids: Iterable[str | None]) -> dict[str, PolicyRow]:
    ids = sorted({c for c in company_ids if c})
    if not ids:
        return {}
    rows = await conn.fetch(
        "SELECT company_id, version, policy, deleted, updated_by, updated_at FROM policies"
        " WHERE company_id = ANY($1::text[])",
        ids,
    )
    return {r["company_id"]: PolicyRow(**dict(r)) for r in rows}


async def save_policy(
    conn: asyncpg.Connection, *, company_id: str, policy: dict[str, Any], deleted: bool, updated_by: str
) -> int:
    """Create or replace a company's policy; returns its new version."""
    version: int = await conn.fetchval(
        """
        INSERT INTO policies (company_id, version, policy, deleted, updated_by) VALUES ($1, 1, $2, $3, $4)
        ON CONFLICT (company_id) DO UPDATE
           SET version = policies.version + 1, policy = EXCLUDED.policy, deleted = EXCLUDED.deleted,
               updated_by = EXCLUDED.updated_by, updated_at = now()
        RETURNING version
        """,
        company_id,
        policy,
        deleted,
        updated_by,
    )
    return version


async def list_policies(conn: asyncpg.Connection) -> list[PolicyRow]:
    rows = await conn.fetch(
        "SELECT company_id, version, policy, deleted, updated_by, updated_at FROM policies"
        " WHERE NOT deleted ORDER BY company_id"
    )
    return [PolicyRow(**dict(r)) for r in rows]


async def customers_behind_policy(conn: asyncpg.Connection, *, limit: int) -> list[str]:
    """Active customers resolved against an older version of their company's policy."""
    rows = await conn.fetch(
        """
        SELECT c.customer_id FROM customers c JOIN policies p USING (company_id)
         WHERE c.status = 'active' AND c.policy_version IS DISTINCT FROM p.version
         ORDER BY c.customer_id LIMIT $1
        """,
        limit,
    )
    return [r["customer_id"] for r in rows]


async def policy_versions(conn: asyncpg.Connection) -> dict[str, int]:
    """Each company's policy version (deleted policies too: their travellers are resolved without them)."""
    return {r["company_id"]: r["version"] for r in await conn.fetch("SELECT company_id, version FROM policies")}


async def company_customers_behind(conn: asyncpg.Connection, company_id: str, version: int, *, limit: int) -> list[str]:
    """Active customers of one company resolved against another version of its policy (by the
    company index: the company's customers, not every customer)."""
    rows = await conn.fetch(
        """
        SELECT customer_id FROM customers
         WHERE company_id = $1 AND status = 'active' AND policy_version IS DISTINCT FROM $2
         ORDER BY customer_id LIMIT $3
        """,
        company_id,
        version,
        limit,
    )
    return [r["customer_id"] for r in rows]


ConfirmationRow = tuple[str, str, str, Any, float, datetime, bytes, datetime]


async def add_confirmation_requests(conn: asyncpg.Connection, rows: Sequence[ConfirmationRow]) -> None:
    """(request_id, customer_id, key, value, confidence, asked_at, token_hash, expires_at) rows; older
    pending asks are superseded."""
    if not rows:
        return
    await conn.execute(
        """
        UPDATE confirmation_requests SET status = 'superseded'
         WHERE status = 'pending' AND (customer_id, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
        """,
        [r[1] for r in rows],
        [r[2] for r in rows],
    )
    await conn.execute(
        """
        INSERT INTO confirmation_requests (request_id, customer_id, key, value, confidence, asked_at, token_hash,
                                           expires_at)
        SELECT u.request_id::uuid, u.customer_id, u.key, u.value::jsonb, u.confidence, u.asked_at, u.token_hash,
               u.expires_at
          FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::real[], $6::timestamptz[], $7::bytea[],
                      $8::timestamptz[])
               AS u(request_id, customer_id, key, value, confidence, asked_at, token_hash, expires_at)
        """,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [_json_text(r[3]) for r in rows],
        [r[4] for r in rows],
        [r[5] for r in rows],
        [r[6] for r in rows],
        [r[7] for r in rows],
    )


async def get_confirmation(
    conn: asyncpg.Connection, request_id: str, *, for_update: bool = False
) -> asyncpg.Record | None:
    """A confirmation request; locked with `for_update`, so two answers to it take turns."""
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT * FROM confirmation_requests WHERE request_id = $1::uuid{lock}", request_id)


async def confirmation_by_token(
    conn: asyncpg.Connection, token_hash: bytes, *, for_update: bool = False
) -> asyncpg.Record | None:
    """The request an answer link's token (by its digest) belongs to."""
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT * FROM confirmation_requests WHERE token_hash = $1{lock}", token_hash)


async def list_confirmations(conn: asyncpg.Connection, customer_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT * FROM confirmation_requests WHERE customer_id = $1 ORDER BY asked_at DESC LIMIT 100", customer_id
        )
    )


async def answer_confirmation(conn: asyncpg.Connection, request_id: str, *, accepted: bool, answered_by: str) -> None:
    await conn.execute(
        "UPDATE confirmation_requests SET status = $2, answered_at = now(), answered_by = $3"
        " WHERE request_id = $1::uuid",
        request_id,
        "accepted" if accepted else "declined",
        answered_by,
    )


async def close_confirmations(
    conn: asyncpg.Connection, customer_id: str, key: str, *, value: Any, accepted: bool, answered_by: str
) -> int:
    """Close the pending requests about `key` of a customer and of the customers merged into it.

    A request about `value` is answered (accepted or declined); one about another value is superseded.
    Returns how many were closed.
    """
    closed: str = await conn.execute(
        """
        WITH RECURSIVE ids(id) AS (
            SELECT $1::text
            UNION
            SELECT c.customer_id FROM customers c JOIN ids ON c.merged_into = ids.id WHERE c.status = 'merged'
        )
        UPDATE confirmation_requests
           SET status = CASE WHEN value = $3::text::jsonb THEN $4 ELSE 'superseded' END,
               answered_at = CASE WHEN value = $3::text::jsonb THEN now() END,
               answered_by = CASE WHEN value = $3::text::jsonb THEN $5 END
         WHERE status = 'pending' AND key = $2 AND customer_id IN (SELECT id FROM ids)
        """,
        customer_id,
        key,
        _json_text(value),
        "accepted" if accepted else "declined",
        answered_by,
    )
    return int(closed.rsplit(" ", 1)[-1])
