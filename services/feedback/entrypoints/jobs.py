"""Background jobs run by the worker processes (kit `ServiceDefinition.background`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from services.feedback.service_layer.handlers import SurveyConfig, escalate_due_cases
from services.feedback.service_layer.trip_surveys import settle_open_trips
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


def trip_settle_job(
    *, config: SurveyConfig, settle: timedelta, interval_seconds: float, batch_size: int = 200
) -> Callable[[ServiceRuntime], Awaitable[None]]:
    """A job that surveys trips whose open bookings ended `settle` ago without reporting completion.

    Several workers may run it: trip decisions hold a per-customer lock and a trip gets one survey.
    """

    async def settle_trips(runtime: ServiceRuntime) -> None:
        # A fault ends this run; the runtime's supervisor starts it again with backoff.
        worker = runtime.health.worker("settle_trips")
        while True:
            worker.busy()
            invited = await settle_open_trips(
                runtime.pool, public_base_url=config.public_base_url, ttl=config.ttl, settle=settle,
                now=datetime.now(UTC), limit=batch_size,
            )  # fmt: skip
            worker.progressed()
            if invited:
                log.info("invited %d trip(s) to their survey after their last booking ended", invited)
            await asyncio.sleep(interval_seconds)

    return settle_trips
