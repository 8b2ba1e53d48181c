"""Escalated cases told to their owners: the consumer that records an alert, the worker that sends it.

`handle_case_escalated` turns `CaseEscalatedV1` (feedback routes an escalation without an
assignee to the traveller's account manager) into one alert row, addressed through the staff
directory. `StaffAlertSender` sends due alerts over the same SMTP server as travellers' messages,
retrying temporary failures with the send retry policy; each alert goes once (its Message-ID is
the alert id, so a resend after a crash is recognisably the same message).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

import asyncpg
from prometheus_client import Counter

from services.kit.consumer import PermanentError
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.feedback import CaseEscalatedV1
from services.kit.supervision import Worker
from services.kit.view import lookup
from services.notifications.adapters import staff_alerts as alerts
from services.notifications.adapters.mailer import Mailer, SendError
from services.notifications.adapters.repository import connect
from services.notifications.domain.model import RetryPolicy
from services.notifications.domain.staff import Escalation, address_for, escalation_message

log = logging.getLogger(__name__)

STAFF_ALERTS = Counter(
    "itinera_notifications_staff_alerts_total",
    "Alerts to staff by outcome (recorded, unaddressed, sent, retry, failed)",
    ["outcome"],
)


@dataclass(frozen=True)
class StaffConfig:
    directory: Mapping[str, str]  # assignee (agent name or `team:<name>`) -> work address
    fallback_email: str | None  # the supervisors' address
    console_url: str
    mail_from: str
    retry: RetryPolicy
    batch_size: int = 20
    poll_seconds: float = 5.0
    lease_seconds: float = 120.0


def case_escalated_handler(config: StaffConfig) -> Callable[[asyncpg.Connection, Envelope[Any]], Awaitable[None]]:
    async def handle_case_escalated(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        p = event.payload
        if not isinstance(p, CaseEscalatedV1):
            raise PermanentError(f"expected CaseEscalatedV1, got {type(p).__name__}")
        target = address_for(p.assignee, config.directory, config.fallback_email)
        if target is None:
            STAFF_ALERTS.labels("unaddressed").inc()
            log.warning("case %s escalated: nobody to tell (no staff directory entry, no fallback)", p.case_id)
            return
        entry = await lookup(conn, "customer", p.customer_id)
        name = entry.snapshot.get("display_name") if entry is not None else None
        escalation = Escalation(
            case_id=p.case_id, customer_id=entry.customer_id if entry else p.customer_id, kind=p.kind,
            priority=p.priority, assignee=p.assignee, missed_targets=p.missed_targets,
            first_response_due=p.first_response_due, resolution_due=p.resolution_due,
            escalated_at=p.escalated_at, booking_id=p.booking_id,
        )  # fmt: skip
        message = escalation_message(
            escalation,
            recipient=target[0],
            email=target[1],
            customer_name=name if isinstance(name, str) else None,
            console_url=config.console_url,
        )
        added = await alerts.record(
            conn, alert_id=str(event.event_id), case_id=p.case_id, customer_id=escalation.customer_id, message=message
        )
        if added:
            STAFF_ALERTS.labels("recorded").inc()

    return handle_case_escalated


def staff_email(alert: alerts.ClaimedAlert, *, mail_from: str) -> EmailMessage:
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "itinera.invalid"
    msg = EmailMessage()
    msg["Subject"] = alert.subject
    msg["From"] = mail_from
    msg["To"] = alert.email
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = f"<{alert.alert_id}.staff@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Itinera-Case-Id"] = alert.case_id
    msg.set_content(alert.body)
    return msg


class StaffAlertSender:
    """Sends due staff alerts until cancelled; more processes share the work (rows are leased)."""

    def __init__(self, *, pool: asyncpg.Pool, mailer: Mailer, config: StaffConfig) -> None:
        self._pool = pool
        self._mailer = mailer
        self._config = config

    async def run(self, worker: Worker | None = None) -> None:
        worker = worker or Worker("notifications", "staff-alerts")
        while True:
            worker.busy()
            sent = await self.send_once()
            worker.progressed()
            if sent < self._config.batch_size:
                async with connect(self._pool) as conn:
                    due_in = await alerts.seconds_until_due(conn)
                wait = self._config.poll_seconds if due_in is None else min(due_in, self._config.poll_seconds)
                await asyncio.sleep(wait)

    async def send_once(self) -> int:
        """Claims one batch of due alerts and sends them; returns how many were claimed."""
        now = datetime.now(UTC)
        async with connect(self._pool) as conn:
            claimed = await alerts.claim_due(
                conn, now=now, limit=self._config.batch_size, lease_seconds=self._config.lease_seconds
            )
        for alert in claimed:
            await self._send(alert)
        return len(claimed)

    async def _send(self, alert: alerts.ClaimedAlert) -> None:
        error: SendError | None = None
        try:
            await self._mailer.send(staff_email(alert, mail_from=self._config.mail_from))
        except SendError as exc:
            error = exc
        now = datetime.now(UTC)
        async with connect(self._pool) as conn:
            if error is None:
                await alerts.mark_sent(conn, alert.alert_id, now=now)
                STAFF_ALERTS.labels("sent").inc()
                return
            attempts = alert.attempts + 1
            if error.permanent or self._config.retry.exhausted(attempts):
                await alerts.mark_failed(conn, alert.alert_id, error=str(error))
                STAFF_ALERTS.labels("failed").inc()
                log.error("staff alert %s to %s failed: %s", alert.alert_id, alert.recipient, error)
                return
            await alerts.mark_retry(conn, alert.alert_id, at=now + self._config.retry.delay(attempts), error=str(error))
            STAFF_ALERTS.labels("retry").inc()
