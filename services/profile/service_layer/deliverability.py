"""Whether a customer's email address receives mail: marked by bounces, cleared by agents.

A mark is a fact about an address, not about a customer's consent: only a failure that shows
the address cannot receive mail (`domain.deliverability`) sets it. An agent clears it by
saving the address again (the traveller confirmed it) or explicitly; either is recorded in the
customer's history, and the customer's snapshot says `email_deliverable` again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from services.kit.contracts.envelope import Envelope
from services.kit.contracts.notifications import DeliveryFailedV1
from services.kit.db import Connection
from services.kit.outbox import enqueue_many
from services.profile.adapters import customers as customers_db
from services.profile.adapters import history as history_db
from services.profile.domain.deliverability import address_failed
from services.profile.domain.resolution import ProfileConfig
from services.profile.service_layer.recompute import refresh_customers

log = logging.getLogger(__name__)

_REASON_MAX = 500


class NotMarkedError(Exception):
    """The customer's email address is not marked undeliverable (nothing to clear)."""


async def handle_delivery_failed(conn: Connection, event: Envelope[Any], *, config: ProfileConfig) -> None:
    """A bounce (or a permanent refusal of the recipient) marks the customer's current email undeliverable.

    Every other failure (no consent, expired, not rendered, already marked…) leaves the address as it is.
    """
    p = event.payload
    if not isinstance(p, DeliveryFailedV1):
        return
    if p.status == "suppressed" or p.reason_code is not None:
        # The producer says what happened in so many words (status and reason code): trust that.
        if not p.address_failed:
            return
    elif not address_failed(channel=p.channel, permanent=p.permanent, reason=p.reason):
        return  # an older producer: only its free-text reason tells
    customer_id = await customers_db.follow_redirects(conn, p.customer_id)
    if customer_id is None:
        log.info("bounce for unknown customer %s ignored", p.customer_id)
        return
    row = await customers_db.get_customer(conn, customer_id)
    email = ((row["golden"] or {}).get("email") or {}).get("value") if row else None
    if not email:
        return
    reason = p.reason[:_REASON_MAX]
    await customers_db.mark_undeliverable(conn, email=email, reason=reason, at=p.failed_at)
    detail = {"email": email, "reason": reason}
    await history_db.add_history(conn, customer_id=customer_id, change="email-undeliverable", actor=None, detail=detail)
    events = await refresh_customers(conn, {customer_id: event}, config=config, now=datetime.now(UTC))
    await enqueue_many(conn, events)


async def clear_mark(conn: Connection, *, customer_id: str, email: str, actor: str, how: str) -> bool:
    """Clear the undeliverable mark of `email` (if any), recorded in the customer's history; True if it had one.

    The caller republishes the customer (its snapshot's `email_deliverable` changes)."""
    reason = await customers_db.clear_undeliverable(conn, email)
    if reason is None:
        return False
    await history_db.add_history(
        conn,
        customer_id=customer_id,
        change="email-deliverable",
        actor=actor,
        detail={"email": email, "how": how, "was": reason},
    )
    return True


async def clear_undeliverable(conn: Connection, *, customer_id: str, actor: str, config: ProfileConfig) -> None:
    """An agent says the customer's email address receives mail again (e.g. the traveller confirmed it).

    Raises NotMarkedError when the address is not marked; the caller has resolved and row-locked the customer.
    """
    row = await customers_db.get_customer(conn, customer_id)
    email = ((row["golden"] or {}).get("email") or {}).get("value") if row else None
    if not email or not await clear_mark(conn, customer_id=customer_id, email=email, actor=actor, how="agent"):
        raise NotMarkedError(customer_id)
    now = datetime.now(UTC)
    await enqueue_many(conn, await refresh_customers(conn, {customer_id: None}, config=config, now=now))
