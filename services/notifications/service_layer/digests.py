"""Digests in the dispatcher: a non-urgent message joining its traveller's window, and a closing window
going out as one message whose outcome each of its items takes (with its own report)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.kit.sealing import SealError
from services.notifications.adapters import digests as store
from services.notifications.domain.digest import DIGEST, Composition, DigestItem, compose, digestible, first_link
from services.notifications.domain.messages import MessageRenderer, RenderedMessage, RenderError
from services.notifications.domain.model import (
    PRIMARY,
    QUIET_HOURS,
    Decision,
    Defer,
    DeliveryPlan,
    Drop,
    PendingDelivery,
    Send,
)
from services.notifications.service_layer import links
from services.notifications.service_layer.reports import DeliveryReport, delivery_report


def joins_digest(d: PendingDelivery, decision: Decision, *, window_seconds: float) -> bool:
    """Whether a due message waits for its traveller's digest instead of going now.

    Only a message that would go (or wait for quiet hours, which the digest keeps too) and can
    wait: non-urgent, its primary leg, not released by an agent, with digests switched on.
    """
    if d.digest_id is not None or window_seconds <= 0 or d.send_now or d.leg != PRIMARY:
        return False
    if not digestible(d.template, d.purpose):
        return False
    return isinstance(decision, Send) or (isinstance(decision, Defer) and decision.reason == QUIET_HOURS)


async def join(
    conn: asyncpg.Connection, d: PendingDelivery, *, token: Any, correlation_id: str, window_seconds: float
) -> bool:
    """Put a claimed message into its traveller's open digest (opening one); False when no longer held."""
    window = DeliveryPlan(
        delivery_id=d.delivery_id, customer_id=d.customer_id, template=DIGEST, purpose=d.purpose, cause_id="",
        cause_event_id="", cause_event_type="", correlation_id=correlation_id, context={},
    )  # fmt: skip
    digest_id, closes_at = await store.open_window(conn, window, window_seconds=window_seconds)
    return await store.join(conn, delivery_id=d.delivery_id, token=token, digest_id=digest_id, until=closes_at)


async def closing(conn: asyncpg.Connection, digest_id: str, *, now: datetime) -> Composition:
    """What a due digest's items become: combined, or released to go on their own."""
    return compose(await store.items_of(conn, digest_id), now=now)


@dataclass(frozen=True)
class RenderedDigest:
    message: RenderedMessage
    items: tuple[DigestItem, ...]  # the items the message lists
    unrenderable: tuple[DigestItem, ...]  # items left to fail on their own


def render(renderer: MessageRenderer, items: tuple[DigestItem, ...], decision: Send) -> RenderedDigest:
    """The digest in the traveller's language: each item's subject, when it came, and its link."""
    listed: list[dict[str, Any]] = []
    shown: list[DigestItem] = []
    failed: list[DigestItem] = []
    for item in items:
        try:
            context = links.opened(dict(item.context))
            own = renderer.render(
                template=item.template, language=decision.language, context=context, recipient=decision.recipient,
                where=decision.where,
            )  # fmt: skip
        except (RenderError, SealError):
            failed.append(item)
            continue
        listed.append({"subject": own.subject, "link": first_link(context), "planned_at": item.created_at.isoformat()})
        shown.append(item)
    if not listed:
        raise RenderError("no item of the digest could be rendered")
    message = renderer.render(
        template=DIGEST, language=decision.language, context={"items": listed}, recipient=decision.recipient,
        where=decision.where,
    )  # fmt: skip
    return RenderedDigest(message, tuple(shown), tuple(failed))


async def record_items(
    conn: asyncpg.Connection,
    *,
    digest_id: str,
    items: tuple[DigestItem, ...],
    decision: Decision,
    customer_id: str,
    at: datetime,
    channel: Any,
    address: str | None,
    language: str | None,
    language_note: str | None,
) -> list[tuple[DigestItem, DeliveryReport]]:
    """The digest's outcome for each item it carried, in the digest's transaction, with the report each owes."""
    ids = [i.delivery_id for i in items]
    if isinstance(decision, Send):
        assert address is not None
        done = await store.items_sent(
            conn, digest_id=digest_id, item_ids=ids, channel=channel, recipient=address, language=language or "en",
            language_note=language_note or "", sent_at=at, resolved_customer_id=customer_id,
        )  # fmt: skip
    elif isinstance(decision, Defer):
        if decision.reason != QUIET_HOURS:
            return []
        await store.items_wait_until(conn, digest_id=digest_id, until=decision.until)
        done = ids
    else:
        assert isinstance(decision, Drop)
        done = await store.items_dropped(
            conn, digest_id=digest_id, item_ids=ids, status=decision.status, reason=decision.reason, at=at
        )
    reports: list[tuple[DigestItem, DeliveryReport]] = []
    for item in items:
        if item.delivery_id not in done:
            continue
        pending = PendingDelivery(
            delivery_id=item.delivery_id, customer_id=customer_id, channel=channel or "email", template=item.template,
            purpose=item.purpose, created_at=item.created_at,
        )  # fmt: skip
        report = delivery_report(
            pending, decision, customer_id=customer_id, cause_event_id=item.cause_event_id, at=at, channel=channel
        )
        if report is not None:
            reports.append((item, report))
    return reports
