"""Recording what became of a delivery: its row and its report (outbox) in one transaction, then its metrics.

Split from the dispatcher, which decides and sends; a digest's outcome is each of its items' too.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

import asyncpg

from services.kit.contracts.envelope import Envelope
from services.kit.outbox import enqueue
from services.notifications.adapters import channel_store
from services.notifications.adapters import digests as digest_store
from services.notifications.adapters import repository as repo
from services.notifications.adapters.metrics import DELIVERIES, DELIVERY_LATENCY
from services.notifications.domain.digest import DIGEST, DigestItem
from services.notifications.domain.model import RETRY, Channel, Decision, Defer, Recipient, Send
from services.notifications.service_layer import digests
from services.notifications.service_layer.reports import DeliveryReport, delivery_report
from services.notifications.service_layer.webhooks import owe_posts

log = logging.getLogger(__name__)

PRODUCER = "notifications"
DELIVERIES_TOPIC = "notifications.deliveries.v1"


# Drops that say why no channel could carry the message (kept as its channel note).
NO_CHANNEL = frozenset({"no_consent", "no_address", "address_undeliverable", "channel_unavailable"})


class Chosen(TypedDict):
    channel: Channel
    note: str
    also: tuple[Channel, ...]


def chosen_of(send: Send) -> Chosen:
    """What an outcome keeps of the channel decision."""
    return {"channel": send.channel, "note": send.note, "also": send.also}


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    attempted: bool = False
    recipient: Recipient | None = None
    address: str | None = None
    language: str | None = None
    subject: str | None = None
    sent_at: datetime | None = None
    error: str | None = None  # why the last send attempt failed
    channel: Channel | None = None  # the channel decided (and tried)
    note: str | None = None  # the channel decision in words
    also: tuple[Channel, ...] = ()  # further channels the message goes on
    provider_id: str | None = None  # the SMS provider's id of a sent text
    language_note: str | None = None  # where the language came from
    join_digest: bool = False  # the message waits in its traveller's digest
    items: tuple[DigestItem, ...] = ()  # a digest: the items this outcome is theirs too
    release: tuple[DigestItem, ...] = ()  # a digest: items that go on their own instead


class OutcomeRecorder:
    """Writes outcomes of the dispatcher's deliveries (each in one transaction with its events)."""

    def __init__(self, *, pool: asyncpg.Pool, clock: Callable[[], datetime], digest_window_seconds: float) -> None:
        self._pool = pool
        self._clock = clock
        self._digest_window_seconds = digest_window_seconds

    async def record(self, claimed: repo.ClaimedDelivery, outcome: Outcome) -> None:
        """Write the outcome and its event in one transaction, then count it."""
        d = claimed.delivery
        decision = outcome.decision
        resolved_id = outcome.recipient.customer_id if outcome.recipient is not None else None
        customer_id = resolved_id or d.customer_id
        if outcome.join_digest:
            await self._join_digest(claimed)
            return
        async with repo.connect(self._pool) as conn, conn.transaction():
            if isinstance(decision, Send):
                assert outcome.sent_at is not None
                assert outcome.address is not None
                held = await repo.mark_sent(
                    conn,
                    claimed=claimed,
                    resolved_customer_id=customer_id,
                    recipient=outcome.address,
                    language=outcome.language or "en",
                    subject=outcome.subject or "",
                    sent_at=outcome.sent_at,
                    language_note=outcome.language_note,
                )
                at = outcome.sent_at
            elif isinstance(decision, Defer):
                held = await repo.mark_deferred(
                    conn,
                    claimed=claimed,
                    until=decision.until,
                    reason=decision.reason,
                    attempted=outcome.attempted,
                    error=outcome.error,
                    resolved_customer_id=resolved_id,
                    recipient=outcome.address,
                )
                at = self._clock()
            else:
                failed_at = self._clock()
                held = await repo.mark_dropped(
                    conn,
                    claimed=claimed,
                    status=decision.status,
                    reason=decision.reason,
                    attempted=outcome.attempted,
                    failed_at=failed_at,
                    resolved_customer_id=resolved_id,
                    recipient=outcome.address,
                )
                at = failed_at
            payload = delivery_report(
                d,
                decision,
                customer_id=customer_id,
                cause_event_id=str(claimed.cause_event_id),
                at=at,
                channel=outcome.channel,
            )
            if held:
                await self._record_channel(conn, claimed, outcome)
            reports = [(d.delivery_id, claimed.cause_event_id, payload)] if payload is not None else []
            if held and d.template == DIGEST:
                # The digest itself was caused by nothing: each item it carried reports for its own cause.
                await digest_store.release(conn, d.delivery_id, [i.delivery_id for i in outcome.release])
                carried = await digests.record_items(
                    conn, digest_id=d.delivery_id, items=outcome.items, decision=decision, customer_id=customer_id,
                    at=at, channel=outcome.channel, address=outcome.address, language=outcome.language,
                    language_note=outcome.language_note,
                )  # fmt: skip
                reports = [(i.delivery_id, uuid.UUID(i.cause_event_id), report) for i, report in carried]
            for delivery_id, cause_event_id, report in reports if held else []:
                envelope = self._envelope(report, customer_id, claimed).model_copy(
                    update={"causation_id": cause_event_id}
                )
                await enqueue(conn, topic=DELIVERIES_TOPIC, envelope=envelope)
                if not isinstance(decision, Defer):
                    company_id = outcome.recipient.company_id if outcome.recipient is not None else None
                    await owe_posts(
                        conn,
                        envelope=envelope.model_dump(mode="json"),
                        delivery_id=delivery_id,
                        customer_id=customer_id,
                        company_id=company_id,
                        purpose=d.purpose,
                    )
        if not held:
            log.warning("delivery %s was taken over by another worker; outcome dropped", d.delivery_id)
            return
        self._count(claimed, outcome)

    async def _join_digest(self, claimed: repo.ClaimedDelivery) -> None:
        """The message waits in its traveller's digest (opened now if none is open)."""
        d = claimed.delivery
        async with repo.connect(self._pool) as conn, conn.transaction():
            held = await digests.join(
                conn, d, token=claimed.token, correlation_id=str(claimed.correlation_id),
                window_seconds=self._digest_window_seconds,
            )  # fmt: skip
        if held:
            DELIVERIES.labels(d.channel, d.template, "digested").inc()
            log.info("%s %s waits in the digest of %s", d.template, d.delivery_id, d.customer_id)

    @staticmethod
    async def _record_channel(conn: asyncpg.Connection, claimed: repo.ClaimedDelivery, outcome: Outcome) -> None:
        """Keep the channel decision with the delivery, and plan the further channels a disruption goes on."""
        delivery_id = claimed.delivery.delivery_id
        if outcome.channel is not None:
            await channel_store.record_channel(
                conn,
                delivery_id=delivery_id,
                channel=outcome.channel,
                note=outcome.note or "",
                provider_message_id=outcome.provider_id,
            )
        elif outcome.note is not None:
            await channel_store.record_note(conn, delivery_id=delivery_id, note=outcome.note)
        if outcome.also:
            planned = await channel_store.plan_legs(conn, delivery_id=delivery_id, channels=outcome.also)
            for leg in planned:
                log.info("%s also goes by %s as %s", delivery_id, ", ".join(outcome.also), leg)

    def _count(self, claimed: repo.ClaimedDelivery, outcome: Outcome) -> None:
        d = claimed.delivery
        decision = outcome.decision
        channel = outcome.channel or d.channel
        if isinstance(decision, Send):
            DELIVERIES.labels(channel, d.template, "sent").inc()
            assert outcome.sent_at is not None
            DELIVERY_LATENCY.labels(channel, d.template).observe(
                max(0.0, (outcome.sent_at - claimed.created_at).total_seconds())
            )
            log.info("sent %s %s to %s", d.template, d.delivery_id, d.customer_id)
        elif isinstance(decision, Defer):
            DELIVERIES.labels(channel, d.template, "retried" if decision.reason == RETRY else "deferred").inc()
            log.info(
                "%s %s waits until %s (%s)", d.template, d.delivery_id, decision.until.isoformat(), decision.reason
            )
        else:
            DELIVERIES.labels(channel, d.template, decision.status).inc()
            log.info("%s %s %s: %s", d.template, d.delivery_id, decision.status, decision.reason)

    @staticmethod
    def _envelope(payload: DeliveryReport, customer_id: str, claimed: repo.ClaimedDelivery) -> Envelope[Any]:
        envelope = Envelope.new(
            payload, producer=PRODUCER, subject_id=customer_id, correlation_id=claimed.correlation_id
        )
        return envelope.model_copy(update={"causation_id": claimed.cause_event_id})
