"""The one place that wires the preferences service's handlers to real adapters."""

from __future__ import annotations

from services.kit.consumer import ConsumerSpec
from services.kit.runtime import ServiceDefinition
from services.preferences.service_layer.handlers import (
    handle_customer_event,
    handle_customer_tombstone,
    handle_resolved_booking,
)
from services.preferences.settings import PreferencesSettings


def build_definition(settings: PreferencesSettings | None = None) -> ServiceDefinition:
    s = settings or PreferencesSettings()
    return ServiceDefinition(
        settings=s,
        migrations="services.preferences.migrations",
        consumers=[
            ConsumerSpec(
                name="bookings",
                topics=("profile.bookings.v1",),
                handler=handle_resolved_booking,
                event_types=frozenset({"booking.resolved"}),
            ),
            ConsumerSpec(
                name="customers",
                topics=("profile.customers.v1",),
                handler=handle_customer_event,
                tombstone_handler=handle_customer_tombstone,
            ),
        ],
    )
