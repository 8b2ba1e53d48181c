"""The one place that wires the trips service's handlers to real adapters.

Journey definitions are read and validated here, before anything starts: a definition that
names an unknown trigger, fact or template stops the service with the file and the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.kit.consumer import ConsumerSpec
from services.kit.contracts.customers import ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.feedback import CaseOpenedV1, SurveyAnsweredV1, SurveyInvitedV1
from services.kit.contracts.notifications import DeliveryFailedV1, DeliveryHeldV1, DeliverySentV1
from services.kit.contracts.privacy import CustomerErasedV1
from services.kit.erasure import guarded, skip_erased
from services.kit.runtime import ServiceDefinition
from services.kit.view import customer_view_consumer
from services.trips.adapters.definitions import load_definitions
from services.trips.entrypoints.jobs import journey_job
from services.trips.service_layer.activity import handle_activity
from services.trips.service_layer.erasure import handle_customer_erased
from services.trips.service_layer.trips import handle_resolved_booking
from services.trips.settings import TripsSettings


def build_definition(settings: TripsSettings | None = None) -> ServiceDefinition:
    s = settings or TripsSettings()
    definitions = load_definitions(s.journeys_dir)  # refuses to start on an invalid definition
    digest_key = s.erasure_key.get_secret_value().encode()

    async def on_booking(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        await handle_resolved_booking(conn, event, definitions=definitions, now=datetime.now(UTC))

    async def on_activity(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        await handle_activity(conn, event, definitions=definitions, now=datetime.now(UTC))

    async def on_erased(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        await handle_customer_erased(conn, event, digest_key=digest_key, now=datetime.now(UTC))

    return ServiceDefinition(
        settings=s,
        migrations="services.trips.migrations",
        consumers=[
            # Tiers, consents and preferences for the journeys' conditions.
            guarded(customer_view_consumer(include_preferences=True, include_value=True), key=digest_key),
            # Every consumer that could bring an erased traveller back drops events about their ids.
            ConsumerSpec(
                name="bookings",
                topics=("profile.bookings.v1",),
                handler=skip_erased(on_booking, key=digest_key),
                event_types=frozenset({ResolvedBookingV1.event_type}),
            ),
            ConsumerSpec(
                name="activity",
                topics=("notifications.deliveries.v1", "feedback.surveys.v1", "feedback.cases.v1"),
                handler=skip_erased(on_activity, key=digest_key),
                event_types=frozenset(
                    {
                        DeliverySentV1.event_type,
                        DeliveryHeldV1.event_type,
                        DeliveryFailedV1.event_type,
                        SurveyInvitedV1.event_type,
                        SurveyAnsweredV1.event_type,
                        CaseOpenedV1.event_type,
                    }
                ),
            ),
            # Trips' step of an erasure: rows deleted, each trip tombstoned, the step reported to privacy.
            ConsumerSpec(
                name="erasures",
                topics=("profile.erasures.v1",),
                handler=on_erased,
                event_types=frozenset({CustomerErasedV1.event_type}),
            ),
        ],
        background=[
            journey_job(
                definitions=definitions, interval_seconds=s.journey_interval_seconds, batch_size=s.journey_batch_size
            ),
        ],
        extras={"definitions": definitions},
    )
