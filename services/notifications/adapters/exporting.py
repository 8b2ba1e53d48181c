"""What notifications holds about a traveller, for the export (GDPR art. 15/20): every message with its
channel, purpose and outcome, consents, quiet hours and the itineraries it was told of."""

from __future__ import annotations

import asyncpg

from services.kit.exporting import Section, section


async def collect(conn: asyncpg.Connection, ids: list[str]) -> list[Section]:
    """Every section notifications exports for the traveller's ids."""
    deliveries = await conn.fetch(
        "SELECT delivery_id, customer_id, resolved_customer_id, channel, template, purpose, status, hold_reason,"
        " recipient, language, subject, context, cause_id, cause_event_type, attempts, last_error, next_attempt_at,"
        " expires_at, send_now_by, send_now_at, created_at, updated_at, sent_at, failed_at FROM deliveries"
        " WHERE customer_id = ANY($1::text[]) OR resolved_customer_id = ANY($1::text[]) ORDER BY created_at",
        ids,
    )
    consents = await conn.fetch(
        "SELECT customer_id, purpose, channel, granted, source, updated_by, updated_at FROM consents"
        " WHERE customer_id = ANY($1::text[]) ORDER BY updated_at, purpose, channel",
        ids,
    )
    quiet = await conn.fetch(
        "SELECT customer_id, enabled, start_local, end_local, updated_by, updated_at FROM quiet_hours"
        " WHERE customer_id = ANY($1::text[]) ORDER BY updated_at",
        ids,
    )
    itineraries = await conn.fetch(
        "SELECT source_system, booking_id, customer_id, status, segments, span_start, span_end, occurred_at,"
        " updated_at FROM bookings WHERE customer_id = ANY($1::text[]) ORDER BY occurred_at, source_system, booking_id",
        ids,
    )
    alerts = await conn.fetch(
        "SELECT alert_id, case_id, customer_id, recipient, email, subject, body, status, attempts, created_at,"
        " sent_at FROM staff_alerts WHERE customer_id = ANY($1::text[]) ORDER BY created_at, alert_id",
        ids,
    )
    posts = await conn.fetch(
        "SELECT w.webhook_delivery_id, w.endpoint_id, e.url AS endpoint_url, w.event_id, w.event_type,"
        " w.delivery_id, w.customer_id, w.body, w.status, w.attempts, w.last_status_code, w.created_at, w.sent_at,"
        " w.failed_at FROM webhook_deliveries w JOIN webhook_endpoints e USING (endpoint_id)"
        " WHERE w.customer_id = ANY($1::text[]) ORDER BY w.created_at, w.webhook_delivery_id",
        ids,
    )
    return [
        section("deliveries", deliveries, table="deliveries", times=("created_at", "updated_at"),
                topic="notifications.deliveries.v1", source_field=None,
                note="every message planned for the traveller: channel, purpose, status (sent, failed, suppressed "
                     "for lack of consent, held for quiet hours), recipient and subject; context is the template "
                     "data; link credentials in it stay sealed (encrypted)"),
        section("consents", consents, table="consents", times=("updated_at",), source_field=None,
                note="consents recorded through this service; consents stated as preferences are in the "
                     "preferences export"),
        section("quiet_hours", quiet, table="quiet_hours", times=("updated_at",), source_field=None,
                note="start_local and end_local are the traveller's local time"),
        section("itineraries", itineraries, table="bookings", times=("occurred_at", "updated_at"),
                topic="profile.bookings.v1", note="segments as sent, with the places and time zones they imply"),
        section("staff_alerts", alerts, table="staff_alerts", times=("created_at", "sent_at"),
                topic="feedback.cases.v1", source_field=None,
                note="emails to staff about the traveller's escalated cases (recipient: an agent, a team or "
                     "the supervisors, at their work address)"),
        section("webhook_posts", posts, table="webhook_deliveries", times=("created_at", "sent_at"),
                source_field=None,
                note="message events about the traveller posted to the company's own tools (body as posted)"),
    ]  # fmt: skip
