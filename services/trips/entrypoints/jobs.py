"""Background jobs run by the worker processes (kit `ServiceDefinition.background`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from services.kit.runtime import ServiceRuntime
from services.trips.domain.definitions import JourneyDefinition
from services.trips.service_layer.engine import fire_due

log = logging.getLogger(__name__)


def journey_job(
    *, definitions: Mapping[str, JourneyDefinition], interval_seconds: float, batch_size: int
) -> Callable[[ServiceRuntime], Awaitable[None]]:
    """Fire the journeys' waits that are over. Runs persist in PostgreSQL, so a wait survives restarts;
    due runs are taken with SKIP LOCKED and advanced in the same transaction, so each fires once."""

    async def journeys(runtime: ServiceRuntime) -> None:
        worker = runtime.health.worker("journeys")
        while True:
            worker.busy()
            fired = await fire_due(runtime.pool, definitions, now=datetime.now(UTC), batch_size=batch_size)
            worker.progressed()
            if fired:
                log.info("fired %d journey wait(s)", fired)
            else:
                await asyncio.sleep(interval_seconds)

    return journeys
