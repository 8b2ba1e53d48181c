"""Messages the trips service's journeys ask for (`JourneyMessageRequestedV1` on `trips.journeys.v1`).

Planned like every other message (consent, the traveller's language and channel order, one channel),
rendered from the journey templates in English and German. A `critical` request (a disruption) is
not held by quiet hours; consent still decides. One message per request id, however often the
request is delivered.
"""

from __future__ import annotations

from typing import Any, cast

import asyncpg

from services.kit.consumer import PermanentError
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.trips import JourneyMessageRequestedV1
from services.notifications.adapters import journeys
from services.notifications.domain.model import DeliveryPlan, TemplateName
from services.notifications.service_layer.planning import new_delivery_id, plan_delivery


async def handle_journey_message(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    """Plan the message a journey asked for."""
    p = event.payload
    if not isinstance(p, JourneyMessageRequestedV1):
        raise PermanentError(f"expected JourneyMessageRequestedV1, got {type(p).__name__}")
    context: dict[str, Any] = {
        **p.data, "trip_id": p.trip_id, "journey": p.journey, "journey_version": p.journey_version,
        "source_system": p.source_system, "booking_id": p.booking_id,
    }  # fmt: skip
    plan = DeliveryPlan(
        delivery_id=new_delivery_id(),
        customer_id=p.customer_id,
        # The journey templates are a closed set in the contract (JourneyTemplate), packaged here.
        template=cast(TemplateName, p.template),
        purpose=p.purpose,
        cause_id=p.request_id,
        cause_event_id=str(event.event_id),
        cause_event_type=event.event_type,
        correlation_id=str(event.correlation_id),
        context=context,
    )
    if await plan_delivery(conn, plan) and p.criticality == "critical":
        await journeys.release_from_quiet_hours(conn, plan.delivery_id, by=f"journey:{p.journey}")
