"""The one place that wires the feedback service's handlers to real adapters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.feedback.adapters.erasure import erase_customers
from services.feedback.entrypoints.jobs import sla_escalation_job, trip_settle_job
from services.feedback.service_layer.handlers import SurveyConfig, handle_resolved_booking
from services.feedback.service_layer.journey_cases import handle_journey_case
from services.feedback.service_layer.trip_surveys import handle_delivery_report
from services.feedback.settings import FeedbackSettings
from services.kit import sealing
from services.kit.consumer import ConsumerSpec
from services.kit.contracts.customers import ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.notifications import DeliveryFailedV1, DeliveryHeldV1, DeliverySentV1
from services.kit.erasure import erasure_consumer, guarded, skip_erased
from services.kit.runtime import ServiceDefinition
from services.kit.view import customer_view_consumer


def build_definition(settings: FeedbackSettings | None = None) -> ServiceDefinition:
    s = settings or FeedbackSettings()
    sealing.configure(s.link_keys)  # survey and answer links travel sealed on topics
    surveys = SurveyConfig(public_base_url=s.public_base_url, ttl=s.survey_ttl)
    digest_key = s.erasure_key.get_secret_value().encode()

    async def on_journey_case(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        await handle_journey_case(conn, event, policy=s.sla_policy(), now=datetime.now(UTC))

    async def on_resolved_booking(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        await handle_resolved_booking(conn, event, config=surveys, now=datetime.now(UTC), settle=s.trip_settle)

    return ServiceDefinition(
        settings=s,
        migrations="services.feedback.migrations",
        consumers=[
            # Current customer ids and names (merges) come from the shared view, not from calls to profile;
            # tiers and account managers (SLAs and routing of cases) from the value service's snapshots in it.
            guarded(customer_view_consumer(include_preferences=False, include_value=True), key=digest_key),
            ConsumerSpec(
                name="bookings",
                topics=("profile.bookings.v1",),
                # A booking of an erased traveller still in flight is dropped (it would bring them back).
                handler=skip_erased(on_resolved_booking, key=digest_key),
                event_types=frozenset({ResolvedBookingV1.event_type}),
            ),
            # What became of survey invitations (held for quiet hours, sent, suppressed, failed).
            ConsumerSpec(
                name="deliveries",
                topics=("notifications.deliveries.v1",),
                handler=skip_erased(handle_delivery_report, key=digest_key),
                event_types=frozenset(
                    {DeliverySentV1.event_type, DeliveryHeldV1.event_type, DeliveryFailedV1.event_type}
                ),
            ),
            # Cases and call-back tasks the trips service's journeys ask for.
            ConsumerSpec(
                name="journey-cases",
                topics=("trips.journeys.v1",),
                handler=skip_erased(on_journey_case, key=digest_key),
                event_types=frozenset({"journey.case_requested"}),
            ),
            erasure_consumer(service="feedback", erase_rows=erase_customers, digest_key=digest_key),
        ],
        background=[
            sla_escalation_job(interval_seconds=s.escalation_interval_seconds, batch_size=s.escalation_batch_size),
            trip_settle_job(config=surveys, settle=s.trip_settle, interval_seconds=s.trip_settle_interval_seconds),
        ],
    )
