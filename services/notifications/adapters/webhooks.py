"""Webhooks: the endpoints' table, the posts owed to them, and posting one (httpx)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import orjson

from services.notifications.domain.webhooks import SIGNATURE_HEADER, private_address, signature

ENDPOINT_COLUMNS = (
    "endpoint_id, owner_kind, owner_id, url, purposes, description, active, created_by, created_at, updated_at"
)


async def insert_endpoint(
    conn: asyncpg.Connection,
    *,
    owner_kind: str,
    owner_id: str,
    url: str,
    secret_sealed: str,
    purposes: list[str],
    description: str | None,
    created_by: str,
    endpoint_id: str,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        INSERT INTO webhook_endpoints (endpoint_id, owner_kind, owner_id, url, secret_sealed, purposes, description,
                                       created_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        RETURNING {ENDPOINT_COLUMNS}
        """,  # constant column list
        endpoint_id,
        owner_kind,
        owner_id,
        url,
        secret_sealed,
        purposes,
        description,
        created_by,
    )
    assert row is not None
    return row


async def list_endpoints(conn: asyncpg.Connection, *, owner_kind: str | None, owner_id: str | None) -> list[Any]:
    return await conn.fetch(
        f"""
        SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints
         WHERE active AND ($1::text IS NULL OR owner_kind = $1) AND ($2::text IS NULL OR owner_id = $2)
         ORDER BY created_at, endpoint_id
        """,  # constant column list
        owner_kind,
        owner_id,
    )


async def deactivate_endpoint(conn: asyncpg.Connection, endpoint_id: str) -> asyncpg.Record | None:
    """Stop posting to an endpoint (kept, so what was posted to it stays explainable); pending posts fail."""
    row = await conn.fetchrow(
        f"UPDATE webhook_endpoints SET active = false, updated_at = now() WHERE endpoint_id = $1 AND active"
        f" RETURNING {ENDPOINT_COLUMNS}",  # constant column list
        endpoint_id,
    )
    if row is not None:
        await conn.execute(
            "UPDATE webhook_deliveries SET status = 'failed', failed_at = now(), last_error = 'endpoint removed'"
            " WHERE endpoint_id = $1 AND status = 'pending'",
            endpoint_id,
        )
    return row


async def enqueue_posts(
    conn: asyncpg.Connection,
    *,
    event_id: uuid.UUID,
    event_type: str,
    delivery_id: str,
    customer_id: str,
    company_id: str | None,
    purpose: str,
    body: dict[str, Any],
) -> int:
    """Owe one post of a message event to each active endpoint of the traveller or their company for its purpose."""
    status = await conn.execute(
        """
        INSERT INTO webhook_deliveries (webhook_delivery_id, endpoint_id, event_id, event_type, delivery_id,
                                        customer_id, body)
        SELECT 'whd_' || md5(e.endpoint_id || ':' || ($1::uuid)::text), e.endpoint_id, $1::uuid, $2, $3, $4, $7
          FROM webhook_endpoints e
         WHERE e.active AND $6 = ANY(e.purposes)
           AND ((e.owner_kind = 'customer' AND e.owner_id = $4) OR (e.owner_kind = 'company' AND e.owner_id = $5))
        ON CONFLICT DO NOTHING
        """,
        event_id,
        event_type,
        delivery_id,
        customer_id,
        company_id,
        purpose,
        body,
    )
    return int(status.rsplit(" ", 1)[-1])


@dataclass(frozen=True)
class DuePost:
    webhook_delivery_id: str
    endpoint_id: str
    url: str
    secret_sealed: str
    event_id: uuid.UUID
    event_type: str
    body: dict[str, Any]
    attempts: int


async def claim_due(conn: asyncpg.Connection, *, limit: int, lease_seconds: float) -> list[DuePost]:
    """Due posts, leased: their next attempt moves past the lease, so a crashed worker's come back."""
    rows = await conn.fetch(
        """
        WITH due AS (
            SELECT w.webhook_delivery_id FROM webhook_deliveries w
             WHERE w.status = 'pending' AND w.next_attempt_at <= now()
             ORDER BY w.next_attempt_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED
        )
        UPDATE webhook_deliveries w SET next_attempt_at = now() + make_interval(secs => $2)
          FROM due, webhook_endpoints e
         WHERE w.webhook_delivery_id = due.webhook_delivery_id AND e.endpoint_id = w.endpoint_id
        RETURNING w.webhook_delivery_id, w.endpoint_id, e.url, e.secret_sealed, w.event_id, w.event_type, w.body,
                  w.attempts
        """,
        limit,
        lease_seconds,
    )
    return [DuePost(**dict(r)) for r in rows]


async def mark_posted(conn: asyncpg.Connection, webhook_delivery_id: str, *, status_code: int, at: datetime) -> None:
    await conn.execute(
        "UPDATE webhook_deliveries SET status = 'sent', attempts = attempts + 1, sent_at = $3, last_status_code = $2,"
        " last_error = NULL WHERE webhook_delivery_id = $1",
        webhook_delivery_id,
        status_code,
        at,
    )


async def mark_post_failed(
    conn: asyncpg.Connection,
    webhook_delivery_id: str,
    *,
    error: str,
    status_code: int | None,
    retry_at: datetime | None,
    at: datetime,
) -> None:
    """A failed attempt: tried again at `retry_at`, or given up (None)."""
    await conn.execute(
        """
        UPDATE webhook_deliveries
           SET attempts = attempts + 1, last_error = $2, last_status_code = $3,
               status = CASE WHEN $4::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
               next_attempt_at = COALESCE($4, next_attempt_at),
               failed_at = CASE WHEN $4::timestamptz IS NULL THEN $5::timestamptz ELSE NULL END
         WHERE webhook_delivery_id = $1
        """,
        webhook_delivery_id,
        error[:500],
        status_code,
        retry_at,
        at,
    )


async def posts_for(conn: asyncpg.Connection, *, customer_id: str, limit: int) -> list[Any]:
    return await conn.fetch(
        """
        SELECT w.webhook_delivery_id, w.endpoint_id, e.url, w.event_id, w.event_type, w.delivery_id, w.status,
               w.attempts, w.next_attempt_at, w.last_status_code, w.last_error, w.created_at, w.sent_at, w.failed_at
          FROM webhook_deliveries w JOIN webhook_endpoints e USING (endpoint_id)
         WHERE w.customer_id = $1
         ORDER BY w.created_at DESC
         LIMIT $2
        """,
        customer_id,
        limit,
    )


class PostError(Exception):
    """The endpoint did not take the post. `permanent`: the address itself is refused (no retry helps)."""

    def __init__(self, message: str, *, status_code: int | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.permanent = permanent


def encode_body(body: dict[str, Any]) -> bytes:
    """The exact bytes posted and signed."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


class HttpWebhookPoster:
    """Posts signed JSON; any 2xx is taken, anything else is retried by the caller's policy.

    `guard_private`: refuse a host that resolves to a loopback, private or link-local address
    (production), checked at each post since a name can change what it points to. Redirects are
    not followed (a redirect to an internal address would pass the guard).
    """

    def __init__(self, *, timeout: float, guard_private: bool, client: httpx.AsyncClient | None = None) -> None:
        self._guard = guard_private
        self._client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post(self, *, url: str, secret: str, body: bytes, event_id: str, event_type: str, now: int) -> int:
        if self._guard:
            await self._refuse_private(url)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(secret, now, body),
            "X-Itinera-Event-Id": event_id,
            "X-Itinera-Event-Type": event_type,
            "User-Agent": "Itinera-Webhooks/1",
        }
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise PostError(f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise PostError(f"endpoint answered {response.status_code}", status_code=response.status_code)
        return response.status_code

    async def _refuse_private(self, url: str) -> None:
        host = urlsplit(url).hostname or ""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise PostError(f"cannot resolve {host}: {exc}") from exc
        if any(private_address(str(info[4][0])) for info in infos):
            raise PostError(f"{host} resolves to a private address", permanent=True)
