"""Background jobs run by the worker processes (kit `ServiceDefinition.background`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from services.feedback.service_layer.handlers import escalate_due_cases
from services.kit.runtime import ServiceRuntime

log = logging.getLogger(__name__)


def sla_escalation_job(*, interval_seconds: float, batch_size: int) -> Callable[[ServiceRuntime], Awaitable[None]]:
    """A job that escalates cases past their SLA every `interval_seconds`.

    Several workers may run it: each case is locked while it is escalated, and a case
    is escalated once per missed target, so running it twice changes nothing.
    """

    async def escalate_overdue_cases(runtime: ServiceRuntime) -> None:
        # A fault ends this run; the runtime's supervisor starts it again with backoff, and /readyz
        # reports the job stalled while a pass keeps failing.
        worker = runtime.health.worker("escalate_overdue_cases")
        while True:
            worker.busy()
            escalated = await escalate_due_cases(runtime.pool, now=datetime.now(UTC), batch_size=batch_size)
            worker.progressed()
            if escalated:
                log.info("escalated %d case(s) past their SLA", len(escalated))
            await asyncio.sleep(interval_seconds)

    return escalate_overdue_cases
