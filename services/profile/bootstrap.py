"""The one place that wires the profile service's handlers to real adapters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.kit.consumer import ConsumerSpec
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.privacy import ErasureRequestedV1
from services.kit.erasure import guarded, skip_erased, skip_erased_batch
from services.kit.runtime import ServiceDefinition, ServiceRuntime
from services.kit.view import customer_view_consumer
from services.profile.adapters.shredding import trim_again
from services.profile.domain.resolution import ProfileConfig
from services.profile.service_layer.erasure import handle_erasure_requested, trim_landing_topic_job
from services.profile.service_layer.handlers import handle_booking_event, handle_booking_events, handle_delivery_failed
from services.profile.service_layer.parameters import estimate_weights_job
from services.profile.service_layer.search import keep_search_documents
from services.profile.settings import ProfileSettings


def profile_config(s: ProfileSettings) -> ProfileConfig:
    """The domain/service configuration taken from settings."""
    return ProfileConfig(
        phone_region=s.default_phone_region,
        passport_pepper=s.passport_pepper.get_secret_value(),
        source_trust=dict(s.source_trust),
        verified_trust=s.verified_trust,
        upper_threshold=s.match_upper_threshold,
        lower_threshold=s.match_lower_threshold,
        candidates_per_key=s.candidates_per_key,
        stale_after_days=s.stale_after_days,
    )


def build_definition(settings: ProfileSettings | None = None) -> ServiceDefinition:
    s = settings or ProfileSettings()
    config = profile_config(s)

    async def on_booking(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        await handle_booking_event(conn, event, config=config)

    async def on_bookings(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
        await handle_booking_events(conn, events, config=config)

    digest_key = s.erasure_key.get_secret_value().encode()

    async def on_erasure(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        await handle_erasure_requested(conn, event, digest_key=digest_key, now=datetime.now(UTC))

    async def on_late_bookings(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
        # Booking events of an erased traveller, dropped: they are in clear on the landing topic.
        await trim_again(conn, [e.subject_id for e in events], now=datetime.now(UTC))

    async def on_delivery_failed(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        await handle_delivery_failed(conn, event, config=config)

    # The value snapshots too: the work queues filter by tier.
    view = customer_view_consumer(include_value=True)
    return ServiceDefinition(
        settings=s,
        migrations="services.profile.migrations",
        consumers=[
            # The high-volume input: whole fetched batches from aiokafka (the kit's batch consumer).
            ConsumerSpec(
                name="bookings",
                topics=("booking.events.v1",),
                # Events of a booking erased earlier (arriving late) are dropped: they would bring the traveller back.
                handler=skip_erased(on_booking, key=digest_key, on_dropped=on_late_bookings),
                batch_handler=skip_erased_batch(on_bookings, key=digest_key, on_dropped=on_late_bookings),
                batch_fetch=True,
            ),
            ConsumerSpec(
                name="erasures",
                topics=("privacy.erasures.v1",),
                handler=on_erasure,
                event_types=frozenset({ErasureRequestedV1.event_type}),
            ),
            ConsumerSpec(
                name="deliveries",
                topics=("notifications.deliveries.v1",),
                # A bounce reported for an erased traveller must not mark their address again.
                handler=skip_erased(on_delivery_failed, key=digest_key),
                event_types=frozenset({"delivery.failed"}),
            ),
            # The 360° view shows effective preferences from the shared view, not by calling preferences;
            # the work queues filter by the value snapshots' tier and account manager. (Profile owns the
            # customers: its view holds the others' snapshots only.)
            guarded(
                ConsumerSpec(
                    name="preference-view",
                    topics=tuple(t for t in view.topics if t != "profile.customers.v1"),
                    handler=view.handler,
                    tombstone_handler=view.tombstone_handler,
                    batch_handler=view.batch_handler,
                ),
                key=digest_key,
            ),
        ],
        background=[search_documents_job, trim_landing_topic_job, estimate_weights_job],
        extras={"config": config},
    )


async def search_documents_job(runtime: ServiceRuntime) -> None:
    """Search documents for customers written without one (service_layer/search.py)."""
    await keep_search_documents(runtime.pool)
