"""The one place that wires the profile service's handlers to real adapters."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.kit.consumer import ConsumerSpec
from services.kit.contracts.envelope import Envelope
from services.kit.runtime import ServiceDefinition
from services.kit.view import customer_view_consumer
from services.profile.service_layer.handlers import ProfileConfig, handle_booking_event
from services.profile.settings import ProfileSettings


def build_definition(settings: ProfileSettings | None = None) -> ServiceDefinition:
    s = settings or ProfileSettings()
    config = ProfileConfig(phone_region=s.default_phone_region, passport_pepper=s.passport_pepper.get_secret_value())

    async def on_booking(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        await handle_booking_event(conn, event, config=config)

    return ServiceDefinition(
        settings=s,
        migrations="services.profile.migrations",
        consumers=[
            ConsumerSpec(name="bookings", topics=("booking.events.v1",), handler=on_booking),
            # The 360° view shows effective preferences from the shared view, not by calling preferences.
            ConsumerSpec(
                name="preference-view",
                topics=("preferences.snapshots.v1",),
                handler=customer_view_consumer().handler,
                tombstone_handler=customer_view_consumer().tombstone_handler,
            ),
        ],
    )
