"""Texts and webhooks on the real broker and database, with the development channel sink as provider and receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from deploy.local.sinks import ChannelSink
from services.kit.runtime import ServiceRuntime
from services.notifications.adapters import consents as consents_repo
from services.notifications.adapters import repository as repo
from services.notifications.domain.webhooks import verify
from services.notifications.entrypoints.api import create_notifications_app
from services.notifications.settings import NotificationsSettings
from tests.harness import SmtpServer, TestEnv, wait_until
from tests.integration.test_notifications_service import (
    BOOKINGS,
    CUSTOMERS,
    SURVEYS,
    booking,
    customer_id,
    delivery_events,
    delivery_rows,
    preferences_snapshot,
    service,
    snapshot,
    survey,
)

pytestmark = pytest.mark.integration

PHONE = "+4915112345678"
SUPERVISOR = {"X-API-Key": "dev-supervisor-key"}


@pytest.fixture
def sink() -> Iterator[ChannelSink]:
    server = ChannelSink()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def texting(env: TestEnv, smtp: SmtpServer, sink: ChannelSink, **overrides: Any) -> NotificationsSettings:
    values: dict[str, Any] = {
        "smtp_port": smtp.port,
        "sms_provider": "http",
        "sms_api_url": sink.url,
        "send_retry_base_seconds": 0.2,
        "send_retry_max_seconds": 0.5,
        "webhook_retry_base_seconds": 0.2,
        "webhook_retry_max_seconds": 0.5,
        "webhook_poll_seconds": 0.2,
        # No quiet hours: a survey sent between 22:00 and 07:00 UTC was held, and the test failed by night.
        "default_quiet_hours_start": time(0, 0),
        "default_quiet_hours_end": time(0, 0),
    }
    return env.settings(NotificationsSettings, **(values | overrides))


async def prefers_sms(
    env: TestEnv, runtime: ServiceRuntime, cid: str, *, consent: bool = True, **customer: Any
) -> None:
    """A traveller with a mobile number who put SMS first and (unless `consent` is False) opted in to texts."""
    if consent:
        async with repo.connect(runtime.pool) as conn:
            await consents_repo.upsert_consent(
                conn,
                customer_id=cid,
                purpose="transactional",
                channel="sms",
                granted=True,
                source="app",
                updated_by="t",
            )
    await env.publish(CUSTOMERS, snapshot(cid, **({"phone": PHONE} | customer)))
    at = datetime.now(UTC) - timedelta(minutes=1)
    await env.publish(
        "preferences.snapshots.v1", preferences_snapshot(cid, ("comms.channels", ["sms", "email"], "stated"), at=at)
    )
    await wait_until(lambda: _in_view(runtime, cid))


async def _in_view(runtime: ServiceRuntime, cid: str) -> bool:
    async with repo.connect(runtime.pool) as conn:
        kinds = await conn.fetchval("SELECT count(*) FROM customer_view WHERE customer_id = $1", cid)
    return bool(kinds == 2)


async def final_rows(runtime: ServiceRuntime, cid: str, count: int = 1) -> list[asyncpg.Record]:
    rows = [r for r in await delivery_rows(runtime, cid) if r["status"] in ("sent", "failed", "suppressed")]
    return rows if len(rows) >= count else []


async def test_a_traveller_who_prefers_sms_gets_one_text_and_a_cancellation_on_both_channels(
    env: TestEnv, smtp: SmtpServer, sink: ChannelSink
) -> None:
    cid = customer_id()
    async with service(env, texting(env, smtp, sink)) as runtime:
        await prefers_sms(env, runtime, cid)
        created = booking(cid, booking_id="ACME-SMS")
        await env.publish(BOOKINGS, created)

        text = await sink.wait_for(lambda r: r.kind == "sms" and r.form.get("To") == PHONE)
        assert text.form["Body"] == "Itinera Travel: Your booking ACME-SMS is confirmed"
        assert text.form["From"] == "Itinera"
        [row] = await wait_until(lambda: final_rows(runtime, cid))
        assert (row["status"], row["channel"], row["recipient"]) == ("sent", "sms", PHONE)
        assert row["provider_message_id"].startswith("SM")
        assert row["channel_note"] == "sms (order: sms, email)"
        [sent] = await delivery_events(env, row["delivery_id"])
        assert sent.payload.channel == "sms"

        # A cancellation is a disruption: it goes by text and by email, each recorded on its own.
        await env.publish(BOOKINGS, booking(cid, booking_id="ACME-SMS", kind="cancelled"))
        await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com" and "ACME-SMS" in str(m["Subject"]))
        rows = await wait_until(lambda: final_rows(runtime, cid, 3))
        cancelled = sorted((r["channel"], r["leg"], r["status"]) for r in rows if r["template"] == "booking_cancelled")
        assert cancelled == [("email", "email", "sent"), ("sms", "primary", "sent")]
        # One message, one channel: the confirmation never went by email.
        assert not [m for m in smtp.messages if "is confirmed" in str(m["Subject"]) and m["To"] == f"{cid}@example.com"]
        assert len([r for r in sink.of("sms") if r.form.get("To") == PHONE]) == 2


async def test_without_any_consent_the_message_is_suppressed_with_the_reason(
    env: TestEnv, smtp: SmtpServer, sink: ChannelSink
) -> None:
    cid = customer_id()
    async with service(env, texting(env, smtp, sink)) as runtime:
        async with repo.connect(runtime.pool) as conn:
            await consents_repo.upsert_consent(
                conn, customer_id=cid, purpose="transactional", channel="email", granted=False, source="web",
                updated_by="t",
            )  # fmt: skip
        await prefers_sms(env, runtime, cid, consent=False)
        await env.publish(BOOKINGS, booking(cid, booking_id="ACME-NONE"))
        [row] = await wait_until(lambda: final_rows(runtime, cid))
        assert row["status"] == "suppressed"
        assert row["last_error"] == (
            "no consent for transactional messages by sms; no consent for transactional messages by email"
        )
        assert [r for r in sink.of("sms") if r.form.get("To") == PHONE] == []


async def test_a_provider_5xx_is_retried_and_a_4xx_fails_with_its_reason(
    env: TestEnv, smtp: SmtpServer, sink: ChannelSink
) -> None:
    retried, refused = customer_id(), customer_id()
    async with service(env, texting(env, smtp, sink)) as runtime:
        sink.fail_next("sms", 503)
        await prefers_sms(env, runtime, retried)
        await env.publish(BOOKINGS, booking(retried, booking_id="ACME-503"))
        [row] = await wait_until(lambda: final_rows(runtime, retried))
        assert (row["status"], row["channel"], row["attempts"]) == ("sent", "sms", 2)
        answers = [r.status for r in sink.of("sms") if "ACME-503" in r.form.get("Body", "")]
        assert answers == [503, 201]

        # The provider refuses the number (Twilio's 21211): no retry, and no fault of the email address.
        await prefers_sms(env, runtime, refused, phone="+0123")
        await env.publish(BOOKINGS, booking(refused, booking_id="ACME-400"))
        rows = await wait_until(lambda: final_rows(runtime, refused, 2))
        [row] = [r for r in rows if r["leg"] == "primary"]
        assert (row["status"], row["channel"], row["attempts"]) == ("failed", "sms", 1)
        assert "provider answered 400: Invalid 'To' Phone Number (code 21211)" in row["last_error"]
        assert row["channel_note"].endswith("; sms failed, trying email")
        [failed] = await delivery_events(env, row["delivery_id"])
        assert failed.payload.reason_code == "message_rejected"
        assert not failed.payload.address_failed
        # Failed for good on the first channel: the next one carries it, once.
        [fallback] = [r for r in rows if r["leg"] == "email"]
        assert (fallback["status"], fallback["channel"]) == ("sent", "email")
        await smtp.wait_for(lambda m: m["To"] == f"{refused}@example.com" and "ACME-400" in str(m["Subject"]))
        assert len([m for m in smtp.messages if m["To"] == f"{refused}@example.com"]) == 1


async def test_a_survey_goes_on_the_first_consented_channel_only(
    env: TestEnv, smtp: SmtpServer, sink: ChannelSink
) -> None:
    cid = customer_id()
    async with service(env, texting(env, smtp, sink, digest_window_seconds=0)) as runtime:
        async with repo.connect(runtime.pool) as conn:
            for channel in ("sms", "email"):
                await consents_repo.upsert_consent(
                    conn, customer_id=cid, purpose="service", channel=channel, granted=True, source="app",
                    updated_by="t",
                )  # fmt: skip
        await prefers_sms(env, runtime, cid)
        await env.publish(SURVEYS, survey(cid))
        text = await sink.wait_for(lambda r: r.kind == "sms" and r.form.get("To") == PHONE)
        assert text.form["Body"].startswith("Itinera Travel: How was your trip?")
        [row] = await wait_until(lambda: final_rows(runtime, cid))
        assert (row["status"], row["channel"], row["leg"]) == ("sent", "sms", "primary")
        # Consent on both channels is not a request for both: no email about the same survey.
        assert [r["delivery_id"] for r in await delivery_rows(runtime, cid)] == [row["delivery_id"]]
        assert not [m for m in smtp.messages if m["To"] == f"{cid}@example.com"]


async def test_a_company_webhook_gets_every_message_event_signed_and_retried_after_a_500(
    env: TestEnv, smtp: SmtpServer, sink: ChannelSink
) -> None:
    cid, company = customer_id(), f"co_{customer_id()}"
    secret = "whsec_" + "s" * 32
    async with service(env, texting(env, smtp, sink)) as runtime:
        app = create_notifications_app(runtime, workers=False)
        app.state.runtime = runtime  # ASGITransport runs no lifespan; the runtime is already started
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as client:
            hook = {"owner_id": company, "url": f"{sink.url}/webhooks/{company}", "purposes": ["transactional"]}
            r = await client.post(
                "/v1/webhooks", json=hook | {"secret": secret}, headers={"X-API-Key": "dev-agent-key"}
            )
            assert r.status_code == 403
            r = await client.post("/v1/webhooks", json=hook | {"secret": secret}, headers=SUPERVISOR)
            assert r.status_code == 201, r.text
            created = r.json()
            assert created["secret"] == secret
            r = await client.get("/v1/webhooks", params={"owner_id": company}, headers=SUPERVISOR)
            assert [e["endpoint_id"] for e in r.json()["items"]] == [created["endpoint_id"]]
            assert "secret" not in r.json()["items"][0]

        async with repo.connect(runtime.pool) as conn:
            stored = await conn.fetchval("SELECT secret_sealed FROM webhook_endpoints WHERE owner_id = $1", company)
            audited = await conn.fetchval(
                "SELECT count(*) FROM audit_log WHERE action = 'webhook.create' AND subject_id = $1", company
            )
        assert secret not in stored
        assert audited == 1

        sink.fail_next("webhook", 500)
        await env.publish(CUSTOMERS, snapshot(cid, company_id=company))
        await env.publish(BOOKINGS, booking(cid, booking_id="ACME-HOOK"))
        await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com")
        posts = await wait_until(
            lambda: [p for p in sink.of("webhook") if p.path.endswith(company)][1:] and sink.of("webhook")
        )
        mine = [p for p in posts if p.path.endswith(company)]
        assert [p.status for p in mine] == [500, 204]
        first, second = mine
        assert first.body == second.body, "a retry posts the same event"
        header = second.headers["X-Itinera-Signature"]
        assert verify(secret, header, second.body, now=int(datetime.now(UTC).timestamp()))
        event = json.loads(second.body)
        assert event["event_type"] == "delivery.sent"
        assert event["payload"]["customer_id"] == cid
        assert event["payload"]["channel"] == "email"
        assert second.headers["X-Itinera-Event-Id"] == event["event_id"]

        async def posted() -> list[asyncpg.Record]:
            async with repo.connect(runtime.pool) as conn:
                return await conn.fetch(
                    "SELECT status, attempts, last_status_code FROM webhook_deliveries WHERE customer_id = $1"
                    " AND status = 'sent'", cid
                )  # fmt: skip

        [row] = await wait_until(posted)
        assert (row["attempts"], row["last_status_code"]) == (2, 204)
