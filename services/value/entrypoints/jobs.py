"""Background jobs run by the worker processes (kit `ServiceDefinition.background`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from services.kit.runtime import ServiceRuntime
from services.value.service_layer.evaluation import ValueConfig
from services.value.service_layer.handlers import review_due

log = logging.getLogger(__name__)


def review_job(
    *, config: ValueConfig, interval_seconds: float, batch_size: int
) -> Callable[[ServiceRuntime], Awaitable[None]]:
    """Re-evaluate customers and companies whose value changes with time (a trip leaves the window, a
    cadence is overdue) or after a change elsewhere (a company's bookings, its manager, a rate).

    Several workers may run it: due reviews are taken with SKIP LOCKED and each evaluation holds its
    subject's lock, so nothing is evaluated twice at once.
    """

    async def review_value(runtime: ServiceRuntime) -> None:
        # A fault ends this run; the runtime's supervisor starts it again with backoff.
        worker = runtime.health.worker("review_value")
        while True:
            worker.busy()
            done = await review_due(runtime.pool, config=config, now=datetime.now(UTC), batch_size=batch_size)
            worker.progressed()
            if done:
                log.debug("reviewed the value of %d customer(s) and companies", done)
            await asyncio.sleep(interval_seconds)

    return review_value
