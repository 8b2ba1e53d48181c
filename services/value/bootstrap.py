"""The one place that wires the value service's handlers to real adapters."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.kit.consumer import ConsumerSpec
from services.kit.contracts.customers import CustomerMergedV1, CustomerUnmergedV1, ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.erasure import erasure_consumer, guarded, skip_erased, skip_erased_batch
from services.kit.runtime import ServiceDefinition
from services.kit.view import customer_view_consumer
from services.value.entrypoints.jobs import review_job
from services.value.service_layer.handlers import (
    erase_customers,
    handle_customer_event,
    handle_resolved_booking,
    handle_resolved_bookings,
    handle_view_tombstone,
)
from services.value.settings import ValueSettings


def build_definition(settings: ValueSettings | None = None) -> ServiceDefinition:
    s = settings or ValueSettings()
    config = s.value_config()
    digest_key = s.erasure_key.get_secret_value().encode()

    async def on_resolved_booking(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        await handle_resolved_booking(conn, event, config=config, now=datetime.now(UTC))

    async def on_resolved_bookings(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
        await handle_resolved_bookings(conn, events, config=config, now=datetime.now(UTC))

    async def on_customer_event(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        await handle_customer_event(conn, event, config=config, now=datetime.now(UTC))

    return ServiceDefinition(
        settings=s,
        migrations="services.value.migrations",
        consumers=[
            # Current customer ids (merges) and company names come from the shared view; an erased
            # traveller's tombstone also erases their ledger and value.
            guarded(
                dataclasses.replace(
                    customer_view_consumer(include_preferences=False), tombstone_handler=handle_view_tombstone
                ),
                key=digest_key,
            ),
            ConsumerSpec(
                name="bookings",
                topics=("profile.bookings.v1",),
                # A booking of an erased traveller still in flight is dropped (it would bring them back).
                handler=skip_erased(on_resolved_booking, key=digest_key),
                batch_handler=skip_erased_batch(on_resolved_bookings, key=digest_key),
                event_types=frozenset({ResolvedBookingV1.event_type}),
                batch_fetch=True,
            ),
            ConsumerSpec(
                name="customer-events",
                topics=("profile.customer-events.v1",),
                handler=skip_erased(on_customer_event, key=digest_key),
                event_types=frozenset({CustomerMergedV1.event_type, CustomerUnmergedV1.event_type}),
            ),
            erasure_consumer(
                service="value",
                erase_rows=erase_customers,
                compacted_topics=("value.customers.v1",),
                digest_key=digest_key,
            ),
        ],
        background=[
            review_job(config=config, interval_seconds=s.review_interval_seconds, batch_size=s.review_batch_size),
        ],
        extras={"config": config},
    )
