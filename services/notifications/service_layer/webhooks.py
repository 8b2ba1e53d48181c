"""Webhooks for a company's own tools: every message event posted, signed, to the endpoints registered for it.

When the dispatcher records what became of a message (sent, failed, suppressed), it owes one post
of that event to each active endpoint of the traveller or their company that chose the message's
purpose, in the same transaction (`enqueue_posts`). `WebhookSender` posts what is due, signed
with the endpoint's secret (opened from its sealed form only to sign), and retries a failure
with the send retry policy's back-off until it gives up; every attempt's outcome is recorded.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from prometheus_client import Counter

from services.kit.sealing import Sealer, SealError
from services.kit.supervision import Worker
from services.notifications.adapters import webhooks as store
from services.notifications.adapters.repository import connect
from services.notifications.domain.model import RetryPolicy

log = logging.getLogger(__name__)

WEBHOOK_POSTS = Counter(
    "itinera_notifications_webhook_posts_total", "Webhook posts by outcome (sent, retry, failed)", ["outcome"]
)
SECRET_PURPOSE = "webhook-secret"  # noqa: S105  # the sealing purpose, not a secret


@dataclass(frozen=True)
class WebhookConfig:
    retry: RetryPolicy
    batch_size: int = 20
    poll_seconds: float = 2.0
    lease_seconds: float = 60.0


def new_secret() -> str:
    """A signing secret for an endpoint that was registered without one."""
    return f"whsec_{secrets.token_urlsafe(32)}"


def new_endpoint_id() -> str:
    return f"whe_{uuid.uuid4().hex}"


def seal_secret(sealer: Sealer, secret: str, endpoint_id: str) -> str:
    """The secret as stored: sealed and bound to its endpoint, so a copied row opens nowhere else."""
    return sealer.seal(secret, purpose=SECRET_PURPOSE, subject=endpoint_id)


async def owe_posts(
    conn: asyncpg.Connection,
    *,
    envelope: dict[str, Any],
    delivery_id: str,
    customer_id: str,
    company_id: str | None,
    purpose: str,
) -> int:
    """Owe the event of a message's outcome to the endpoints that asked for its purpose (caller's transaction)."""
    return await store.enqueue_posts(
        conn,
        event_id=uuid.UUID(str(envelope["event_id"])),
        event_type=str(envelope["event_type"]),
        delivery_id=delivery_id,
        customer_id=customer_id,
        company_id=company_id,
        purpose=purpose,
        body=envelope,
    )


class WebhookSender:
    """Posts due webhook events until cancelled; more processes share the work (rows are leased)."""

    def __init__(
        self, *, pool: asyncpg.Pool, poster: store.HttpWebhookPoster, sealer: Sealer, config: WebhookConfig
    ) -> None:
        self._pool = pool
        self._poster = poster
        self._sealer = sealer
        self._config = config

    async def run(self, worker: Worker | None = None) -> None:
        worker = worker or Worker("notifications", "webhooks")
        while True:
            worker.busy()
            claimed = await self.post_once()
            worker.progressed()
            if claimed < self._config.batch_size:
                await asyncio.sleep(self._config.poll_seconds)

    async def post_once(self) -> int:
        """Claims one batch of due posts and makes them, concurrently; returns how many were claimed."""
        async with connect(self._pool) as conn:
            due = await store.claim_due(conn, limit=self._config.batch_size, lease_seconds=self._config.lease_seconds)
        await asyncio.gather(*(self._post(p) for p in due))
        return len(due)

    async def _post(self, post: store.DuePost) -> None:
        status_code: int | None = None
        error: store.PostError | None = None
        try:
            secret = self._sealer.open(post.secret_sealed, purpose=SECRET_PURPOSE, subject=post.endpoint_id)
            status_code = await self._poster.post(
                url=post.url,
                secret=secret,
                body=store.encode_body(post.body),
                event_id=str(post.event_id),
                event_type=post.event_type,
                now=int(time.time()),
            )
        except SealError as exc:
            error = store.PostError(f"the endpoint's secret cannot be opened: {exc}", permanent=True)
        except store.PostError as exc:
            error = exc
        now = datetime.now(UTC)
        async with connect(self._pool) as conn:
            if error is None:
                assert status_code is not None
                await store.mark_posted(conn, post.webhook_delivery_id, status_code=status_code, at=now)
                WEBHOOK_POSTS.labels("sent").inc()
                return
            attempts = post.attempts + 1
            give_up = error.permanent or self._config.retry.exhausted(attempts)
            retry_at = None if give_up else now + self._config.retry.delay(attempts)
            await store.mark_post_failed(
                conn,
                post.webhook_delivery_id,
                error=str(error),
                status_code=error.status_code,
                retry_at=retry_at,
                at=now,
            )
        WEBHOOK_POSTS.labels("failed" if give_up else "retry").inc()
        log.info("webhook post %s to %s failed (attempt %d): %s", post.webhook_delivery_id, post.url, attempts, error)
