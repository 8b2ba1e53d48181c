"""The dispatcher: turns due deliveries into messages, and records what happened.

One pass claims a small batch of due deliveries (`FOR UPDATE SKIP LOCKED`, so any
number of workers share the work) and marks them `sending` under a lease. Each claimed
delivery is then decided (contact data, consent, quiet hours), rendered and sent with
no database transaction open; the outcome is written together with its
DeliverySentV1/DeliveryFailedV1 outbox row in one transaction (`outcomes`). A worker that dies
mid-pass leaves its deliveries to be taken over when the lease runs out.

A message the SMTP server accepted must not go out again, so its outcome is never given up:
recording it is retried through database hiccups for most of the lease, and a dispatcher that
is stopped lets the deliveries already under way finish sending and recording (for up to
`stop_grace_seconds`) before it hands the rest back. Only a process killed between the
server's acceptance and the commit of the outcome (a few milliseconds) can still lead to a
second copy; it carries the same Message-ID, so receiving systems can discard it.

The dispatcher sleeps until the next delivery comes due, and wakes at once when new
deliveries are planned or a waiting customer's contact data arrives (LISTEN/NOTIFY).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from services.kit.logging import log_context
from services.kit.sealing import SealError
from services.kit.supervision import Worker
from services.kit.transient import is_transient
from services.kit.view import lookup_kinds
from services.notifications.adapters import consents as consents_repo
from services.notifications.adapters import itineraries
from services.notifications.adapters import repository as repo
from services.notifications.adapters.mailer import Mailer, SendError, build_email
from services.notifications.adapters.metrics import SEND_SECONDS
from services.notifications.adapters.sms import SmsSender, TextMessage
from services.notifications.domain.channels import sms_text
from services.notifications.domain.digest import DIGEST, DigestItem
from services.notifications.domain.itinerary import marks_of
from services.notifications.domain.messages import MessageRenderer, RenderedMessage, RenderError
from services.notifications.domain.model import (
    Channel,
    CommunicationPreferences,
    DispatchRules,
    Drop,
    Recipient,
    RetryPolicy,
    Send,
    after_failed_send,
    decide,
    effective_quiet_hours,
)
from services.notifications.service_layer import digests, links
from services.notifications.service_layer.outcomes import NO_CHANNEL, Outcome, OutcomeRecorder, chosen_of

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DispatchConfig:
    rules: DispatchRules
    send_retry: RetryPolicy
    mail_from: str
    batch_size: int = 20
    poll_seconds: float = 1.0
    lease_seconds: float = 300.0
    stop_grace_seconds: float = 20.0  # a stopping dispatcher waits this long for sends under way
    brand_name: str = "Itinera Travel"  # starts every text message
    sms_max_segments: int = 2  # a text longer than this many parts is cut (see `sms_text`)
    digest_window_seconds: float = 0.0  # > 0: non-urgent messages wait this long to go out as one digest


class Dispatcher:
    """Sends due deliveries; run one per worker process (more processes share the work)."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        mailer: Mailer,
        renderer: MessageRenderer,
        config: DispatchConfig,
        clock: Callable[[], datetime] = utcnow,
        sms: SmsSender | None = None,
    ) -> None:
        self._pool = pool
        self._mailer = mailer
        self._sms = sms  # None: no SMS provider is configured, texts are not an available channel
        self._available: frozenset[Channel] = frozenset({"email", "sms"} if sms is not None else {"email"})
        self._renderer = renderer
        self._config = config
        self._channel = ""  # `<schema>_deliveries`, learnt from the listening connection
        self._clock = clock
        self._wake = asyncio.Event()
        self._recorder = OutcomeRecorder(pool=pool, clock=clock, digest_window_seconds=config.digest_window_seconds)

    def wake(self) -> None:
        """Look for due deliveries now."""
        self._wake.set()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def run(self, worker: Worker | None = None) -> None:
        """Dispatch until cancelled. A fault ends the run (the runtime's supervisor starts it again with
        backoff): the listening connection is then a new one — after a database restart the old one is
        gone, and asking it anything only raises."""
        worker = worker or Worker("notifications", "dispatcher")
        listener = await self._pool.acquire()
        try:
            # The planning trigger notifies `<schema>_deliveries`; the pool's search_path names the schema.
            self._channel = f"{await listener.fetchval('SELECT current_schema()')}_deliveries"
            await listener.add_listener(self._channel, self._on_notify)
            while True:
                self._wake.clear()
                worker.busy()
                claimed = await self.dispatch_once()
                timeout = 0.0 if claimed >= self._config.batch_size else await self._idle_seconds()
                worker.progressed()
                if timeout > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=timeout)
        finally:
            with contextlib.suppress(Exception):
                await listener.remove_listener(self._channel, self._on_notify)
            with contextlib.suppress(Exception):
                await self._pool.release(listener)

    async def _idle_seconds(self) -> float:
        async with repo.connect(self._pool) as conn:
            due_in = await repo.seconds_until_due(conn)
        if due_in is None:
            return self._config.poll_seconds
        return max(0.0, min(due_in, self._config.poll_seconds))

    async def dispatch_once(self) -> int:
        """Claim one batch of due deliveries and handle them concurrently; returns how many."""
        async with repo.connect(self._pool) as conn, conn.transaction():
            claimed = await repo.claim_due(
                conn, limit=self._config.batch_size, lease_seconds=self._config.lease_seconds
            )
        if not claimed:
            return 0
        handling = [asyncio.ensure_future(self._handle(c)) for c in claimed]
        try:
            await asyncio.shield(asyncio.gather(*handling))
        except asyncio.CancelledError:
            # Stopping: deliveries under way finish (a message cut off mid-send, or sent and not
            # recorded, would go out again), then what was not finished is handed back at once
            # so the next worker need not wait for the lease.
            _, unfinished = await asyncio.wait(handling, timeout=self._config.stop_grace_seconds)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            async with repo.connect(self._pool) as conn:
                await repo.release_claims(conn, claimed[0].token)
            raise
        return len(claimed)

    async def _handle(self, claimed: repo.ClaimedDelivery) -> None:
        """Decide, send and record one delivery; never raises (the lease covers what is left undone)."""
        claimed_at = time.monotonic()
        with log_context(correlation_id=str(claimed.correlation_id)):
            try:
                outcome = await self._attempt(claimed)
            except Exception as exc:
                if is_transient(exc):
                    # The database is unreachable (or restarting): the lease brings the delivery back later.
                    log.warning("could not handle delivery %s: %s", claimed.delivery.delivery_id, exc)
                    return
                # A bug must not loop forever: count it as a failed attempt, bounded by the retry policy.
                log.exception("delivery %s crashed", claimed.delivery.delivery_id)
                error = f"internal error: {type(exc).__name__}: {exc}"
                outcome = Outcome(
                    after_failed_send(
                        attempts=claimed.delivery.attempts + 1,
                        error=error,
                        permanent=False,
                        policy=self._config.send_retry,
                        now=self._clock(),
                    ),
                    attempted=True,
                    error=error,
                )
            await self._record_durably(claimed, outcome, claimed_at=claimed_at)

    async def _record_durably(self, claimed: repo.ClaimedDelivery, outcome: Outcome, *, claimed_at: float) -> None:
        """Record an outcome, retrying database hiccups while this pass still holds the lease.

        Giving up on a sent message would let the lease hand it to another pass, which would
        send it again; so the outcome is retried for most of the lease (with backoff) first.
        """
        deadline = claimed_at + self._config.lease_seconds * 0.8
        backoff = 0.2
        while True:
            try:
                await self._recorder.record(claimed, outcome)
                return
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("could not record the outcome of delivery %s", claimed.delivery.delivery_id)
                    return
                if time.monotonic() + backoff >= deadline:
                    log.error(
                        "could not record the outcome of delivery %s before its lease ends: %s",
                        claimed.delivery.delivery_id,
                        exc,
                    )
                    return
                log.warning(
                    "recording delivery %s failed, retrying in %.1fs: %s", claimed.delivery.delivery_id, backoff, exc
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _attempt(self, claimed: repo.ClaimedDelivery) -> Outcome:
        d = claimed.delivery
        items: tuple[DigestItem, ...] = ()
        release: tuple[DigestItem, ...] = ()
        if d.template == DIGEST:
            async with repo.connect(self._pool) as conn:
                composition = await digests.closing(conn, d.delivery_id, now=self._clock())
            items, release = composition.combined, composition.release
            if not items:  # none or one left: each goes as itself, the digest ends without a message
                reason = "window closed with fewer than two messages: each goes on its own"
                return Outcome(Drop("suppressed", reason, permanent=False, code="cancelled"), release=release)
        async with repo.connect(self._pool) as conn:
            view = await lookup_kinds(conn, d.customer_id, ("customer", "preferences", "value"))
            entry, stated, value = view["customer"], view["preferences"], view["value"]
            recipient = Recipient.from_snapshot(entry.snapshot) if entry is not None else None
            preferences = CommunicationPreferences.from_snapshot(stated.snapshot) if stated is not None else None
            # The survivor's settings first, then those recorded under the id the message was planned for.
            ids = [recipient.customer_id] if recipient is not None else []
            ids += [d.customer_id] if d.customer_id not in ids else []
            consents = await consents_repo.consents_for(conn, ids)
            own_quiet_hours, own_quiet_hours_at = await consents_repo.quiet_hours_for(conn, ids)
            now = self._clock()
            trips = await itineraries.itineraries_around(conn, ids, now) if d.purpose != "transactional" else []
        decision = decide(
            delivery=d,
            recipient=recipient,
            consents=consents,
            quiet_hours=effective_quiet_hours(own_quiet_hours, own_quiet_hours_at, preferences),
            rules=self._config.rules,
            now=now,
            preferences=preferences,
            itinerary=[mark for segments in trips for mark in marks_of(segments)],
            available=self._available,
        )
        gold = value is not None and value.snapshot.get("tier") == "gold"
        if not gold and digests.joins_digest(d, decision, window_seconds=self._config.digest_window_seconds):
            return Outcome(decision, recipient=recipient, join_digest=True)
        if isinstance(decision, Drop) and decision.code in NO_CHANNEL:
            return Outcome(decision, recipient=recipient, note=decision.reason, items=items, release=release)
        if not isinstance(decision, Send):
            return Outcome(decision, recipient=recipient, items=items, release=release)
        try:
            if d.template == DIGEST:
                digest = digests.render(self._renderer, items, decision)
                rendered, items, release = digest.message, digest.items, (*release, *digest.unrenderable)
            else:
                context = links.opened(claimed.context)  # the links' credentials, in clear only for the message
                rendered = self._renderer.render(
                    template=d.template, language=decision.language, context=context, recipient=decision.recipient,
                    where=decision.where,
                )  # fmt: skip
        except (RenderError, SealError) as exc:
            dropped = Drop("failed", f"could not render: {exc}", permanent=True, code="render_failed")
            return Outcome(dropped, recipient=recipient, items=items, release=release, **chosen_of(decision))
        started = time.perf_counter()
        provider_id: str | None = None
        try:
            provider_id = await self._send(claimed, decision, rendered)
        except SendError as exc:
            log.info("sending %s failed (attempt %d): %s", d.delivery_id, d.attempts + 1, exc)
            failed = after_failed_send(
                attempts=d.attempts + 1,
                error=str(exc),
                permanent=exc.permanent,
                policy=self._config.send_retry,
                now=self._clock(),
                recipient_refused=exc.recipient_refused,
            )
            chosen = chosen_of(decision)
            if isinstance(failed, Drop) and decision.fallbacks and d.template != DIGEST:
                # Failed for good on this channel: the message goes on the traveller's next one instead.
                fallback = decision.fallbacks[0]
                chosen["also"] = (fallback,)
                chosen["note"] = f"{decision.note}; {decision.channel} failed, trying {fallback}"
            return Outcome(
                failed,
                attempted=True,
                recipient=recipient,
                address=decision.address,
                error=str(exc),
                items=items,
                release=release,
                **chosen,
            )
        finally:
            SEND_SECONDS.labels(decision.channel).observe(time.perf_counter() - started)
        return Outcome(
            decision,
            attempted=True,
            recipient=recipient,
            address=decision.address,
            language=rendered.language,
            subject=rendered.subject,
            sent_at=self._clock(),
            provider_id=provider_id,
            language_note=decision.language_note,
            items=items,
            release=release,
            **chosen_of(decision),
        )

    async def _send(self, claimed: repo.ClaimedDelivery, decision: Send, rendered: RenderedMessage) -> str | None:
        """Hand the message to its channel's server; the provider's id of a text, if it gave one."""
        d = claimed.delivery
        if decision.channel == "sms":
            assert self._sms is not None  # sms is available only with a sender
            body = sms_text(
                brand=self._config.brand_name,
                subject=rendered.subject,
                body=rendered.text,
                max_segments=self._config.sms_max_segments,
            )
            return await self._sms.send(TextMessage(to=decision.address, body=body, delivery_id=d.delivery_id))
        message = build_email(
            rendered=rendered,
            to=decision.address,
            mail_from=self._config.mail_from,
            delivery_id=d.delivery_id,
            correlation_id=str(claimed.correlation_id),
        )
        await self._mailer.send(message)
        return None
