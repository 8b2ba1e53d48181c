"""The notifications service on the real broker, database and an SMTP server."""

from __future__ import annotations

import asyncio
import email.message
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from services.kit.contracts.bookings import CarSegmentV1, FlightSegmentV1, HotelSegmentV1, RailSegmentV1
from services.kit.contracts.customers import BookingKind, CustomerSnapshotV1, ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.feedback import SurveyInvitedV1
from services.kit.contracts.notifications import DeliveryFailedV1, DeliverySentV1
from services.kit.contracts.preferences import PreferenceConfirmationRequestedV1, PreferenceSnapshotV1, PreferenceV1
from services.kit.runtime import ServiceRuntime
from services.kit.sealing import ANSWER_TOKEN, SURVEY_LINK, Sealer
from services.kit.settings import DEV_LINK_KEY
from services.notifications.adapters import consents as consents_repo
from services.notifications.adapters import repository as repo
from services.notifications.bootstrap import build_definition
from services.notifications.domain.model import DeliveryPlan
from services.notifications.entrypoints.api import create_notifications_app
from services.notifications.service_layer.planning import new_delivery_id, plan_delivery
from services.notifications.settings import NotificationsSettings
from tests.harness import SmtpServer, TestEnv, wait_until

pytestmark = pytest.mark.integration

CUSTOMERS = "profile.customers.v1"
BOOKINGS = "profile.bookings.v1"
SURVEYS = "feedback.surveys.v1"
DELIVERIES = "notifications.deliveries.v1"
CET = timezone(timedelta(hours=1))
EST = timezone(timedelta(hours=-5))


# Builders


def customer_id() -> str:
    return f"cus_{uuid.uuid4().hex}"


def snapshot(cid: str, **overrides: Any) -> Envelope[CustomerSnapshotV1]:
    values: dict[str, Any] = {
        "customer_id": cid,
        "version": 1,
        "given_name": "Ann",
        "family_name": "Lee",
        "display_name": "Ann Lee",
        "email": f"{cid}@example.com",
        "language": "en",
        "time_zone": "Europe/Berlin",
        "updated_at": datetime.now(UTC),
    }
    values.update(overrides)
    return Envelope.new(CustomerSnapshotV1(**values), producer="profile", subject_id=cid)


def booking(
    cid: str, *, booking_id: str | None = None, kind: BookingKind = "created", source_event_id: str | None = None
) -> Envelope[ResolvedBookingV1]:
    departure = datetime(2026, 12, 1, 10, 15, tzinfo=CET)
    payload = ResolvedBookingV1(
        customer_id=cid,
        kind=kind,
        source_event_id=source_event_id or str(uuid.uuid4()),
        source_system="acme-gds",
        booking_id=booking_id or f"ACME-{uuid.uuid4().hex[:6].upper()}",
        segments=(
            FlightSegmentV1(
                carrier="LH",
                flight_number="400",
                origin="FRA",
                destination="JFK",
                departure_at=departure,
                arrival_at=datetime(2026, 12, 1, 13, 5, tzinfo=EST),
            ),
            HotelSegmentV1(
                hotel_name="Marriott Marquis",
                city="New York",
                country="US",
                check_in=departure.date(),
                check_out=departure.date() + timedelta(days=3),
            ),
            CarSegmentV1(
                vendor="ZE",
                pickup_location="JFK Airport",
                dropoff_location="JFK Airport",
                pickup_at=datetime(2026, 12, 1, 14, 30, tzinfo=EST),
                dropoff_at=datetime(2026, 12, 4, 9, 0, tzinfo=EST),
            ),
            RailSegmentV1(
                operator="Amtrak",
                origin="New York Penn",
                destination="Washington Union",
                departure_at=datetime(2026, 12, 2, 8, 0, tzinfo=EST),
                arrival_at=datetime(2026, 12, 2, 11, 0, tzinfo=EST),
            ),
        ),
        total_price=3617,
        currency="EUR",
        occurred_at=datetime.now(UTC),
    )
    return Envelope.new(payload, producer="profile", subject_id=cid)


# The link keys the test settings use (the development key), as feedback and preferences seal with them.
SEALER = Sealer([DEV_LINK_KEY])


def survey(cid: str, *, sealed: bool = True) -> Envelope[SurveyInvitedV1]:
    """A survey invitation as feedback sends it: its link sealed (or, from an older producer, in clear)."""
    survey_id = f"srv_{uuid.uuid4().hex[:8]}"
    url = f"https://feedback.example/s/{survey_id}?lang=en&src=mail&t={uuid.uuid4().hex}"
    payload = SurveyInvitedV1(
        survey_id=survey_id,
        customer_id=cid,
        booking_id="ACME-SURVEY",
        source_system="acme-gds",
        survey_url=None if sealed else url,
        sealed_survey_url=SEALER.seal(url, purpose=SURVEY_LINK, subject=survey_id) if sealed else None,
        expires_at=datetime.now(UTC) + timedelta(days=14),
    )
    return Envelope.new(payload, producer="feedback", subject_id=cid)


def link_of(invitation: Envelope[SurveyInvitedV1]) -> str:
    p = invitation.payload
    if p.sealed_survey_url is None:
        assert p.survey_url is not None
        return p.survey_url
    return SEALER.open(p.sealed_survey_url, purpose=SURVEY_LINK, subject=p.survey_id)


def text_of(msg: email.message.EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert isinstance(part, email.message.EmailMessage)
    return str(part.get_content())


def html_of(msg: email.message.EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert isinstance(part, email.message.EmailMessage)
    return str(part.get_content())


def free_port() -> int:
    """A loopback port nobody listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings(env: TestEnv, smtp_port: int, **overrides: Any) -> NotificationsSettings:
    # Each message on its own unless a test is about digests.
    return env.settings(NotificationsSettings, smtp_port=smtp_port, **({"digest_window_seconds": 0} | overrides))


@asynccontextmanager
async def service(env: TestEnv, s: NotificationsSettings) -> AsyncIterator[ServiceRuntime]:
    async with env.running(build_definition(s)) as runtime:
        yield runtime


async def delivery_rows(runtime: ServiceRuntime, cid: str) -> list[asyncpg.Record]:
    async with repo.connect(runtime.pool) as conn:
        return await conn.fetch("SELECT * FROM deliveries WHERE customer_id = $1 ORDER BY created_at", cid)


async def delivery_events(env: TestEnv, delivery_id: str) -> list[Envelope[Any]]:
    def mine(events: list[Envelope[Any]]) -> list[Envelope[Any]]:
        return [e for e in events if getattr(e.payload, "delivery_id", None) == delivery_id]

    return mine(await env.events(DELIVERIES, until=lambda events: bool(mine(events))))


# Tests


async def test_booking_confirmation_reaches_the_traveller(env: TestEnv, smtp: SmtpServer) -> None:
    cid = customer_id()
    async with service(env, settings(env, smtp.port)) as runtime:
        await env.publish(CUSTOMERS, snapshot(cid))
        created = booking(cid, booking_id="ACME-123")
        await env.publish(BOOKINGS, created)

        msg = await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com")
        assert msg["Subject"] == "Your booking ACME-123 is confirmed"
        assert msg["From"] == NotificationsSettings().mail_from
        text = text_of(msg)
        assert "Hello Ann," in text
        # Each time in the zone of the airport (station, desk) it happens at, named.
        assert (
            "Flight LH 400: FRA → JFK, departs Tue 1 Dec 2026, 10:15 local time in Frankfurt am Main (CET),"
            " arrives 13:05 local time in New York (EST)"
        ) in text
        assert "Hotel: Marriott Marquis, New York, 1 Dec 2026 – 4 Dec 2026 (3 nights)" in text
        assert "Car ZE: pick-up JFK Airport Tue 1 Dec 2026, 14:30 local time in New York (EST)" in text
        assert (
            "Train Amtrak: New York Penn → Washington Union, departs Wed 2 Dec 2026, 08:00 local time in New York"
        ) in text
        assert "Flight LH 400" in html_of(msg)
        assert any(rcpts == [f"{cid}@example.com"] for _, rcpts in smtp.collector.envelopes)

        [row] = await wait_until(lambda: _sent_rows(runtime, cid))
        assert row["attempts"] == 1
        assert row["recipient"] == f"{cid}@example.com"
        assert row["template"] == "booking_confirmation"
        assert row["purpose"] == "transactional"
        assert msg["Message-ID"] == f"<{row['delivery_id']}@itinera.example>"

        [sent] = await delivery_events(env, row["delivery_id"])
        assert isinstance(sent.payload, DeliverySentV1)
        assert sent.payload.customer_id == cid
        assert sent.payload.template == "booking_confirmation"
        assert sent.subject_id == cid
        assert sent.correlation_id == created.correlation_id
        assert sent.causation_id == created.event_id
        assert (sent_count("booking_confirmation", "sent") or 0) >= 1


def sent_count(template: str, outcome: str) -> float | None:
    return REGISTRY.get_sample_value(
        "itinera_notification_deliveries_total", {"channel": "email", "template": template, "outcome": outcome}
    )


async def _sent_rows(runtime: ServiceRuntime, cid: str) -> list[asyncpg.Record]:
    return [r for r in await delivery_rows(runtime, cid) if r["status"] == "sent"]


async def test_the_same_booking_twice_gives_one_email(env: TestEnv, smtp: SmtpServer) -> None:
    cid = customer_id()
    async with service(env, settings(env, smtp.port)) as runtime:
        await env.publish(CUSTOMERS, snapshot(cid))
        created = booking(cid, booking_id="ACME-DUP")
        await env.publish(BOOKINGS, created)
        await env.publish(BOOKINGS, created)
        # Profile re-publishing the same booking event under a new envelope plans nothing either.
        again = Envelope.new(created.payload, producer="profile", subject_id=cid)
        await env.publish(BOOKINGS, again)
        # Same key, same partition: once the marker's email is out, the copies were handled.
        await env.publish(BOOKINGS, booking(cid, booking_id="ACME-MARK"))

        await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com" and "ACME-MARK" in str(m["Subject"]))
        await wait_until(lambda: _all_final(runtime, cid))
        mails = [m for m in smtp.messages if m["To"] == f"{cid}@example.com" and "ACME-DUP" in str(m["Subject"])]
        assert len(mails) == 1
        rows = await delivery_rows(runtime, cid)
        assert sorted(r["context"]["booking_id"] for r in rows) == ["ACME-DUP", "ACME-MARK"]


async def test_stopping_while_a_message_is_being_sent_neither_loses_nor_repeats_it(env: TestEnv) -> None:
    """The server is still accepting the message when the service is told to stop: the send
    finishes and is recorded before the dispatcher stops, so a restart does not send it again."""
    slow = SmtpServer(accept_delay=1.5)
    slow.start()
    try:
        cid = customer_id()

        def mails() -> list[email.message.EmailMessage]:
            return [m for m in slow.messages if m["To"] == f"{cid}@example.com"]

        async with service(env, settings(env, slow.port)):
            await env.publish(CUSTOMERS, snapshot(cid))
            await env.publish(BOOKINGS, booking(cid, booking_id="ACME-STOP"))
            await wait_until(lambda: slow.collector.receiving > 0)
            assert mails() == []  # stopping now, while the server has not answered yet
        assert len(mails()) == 1
        async with service(env, settings(env, slow.port)) as runtime:
            [row] = await wait_until(lambda: _sent_rows(runtime, cid))
            assert row["attempts"] == 1
            await asyncio.sleep(1.5)  # the restarted dispatcher passes at start and then every second
        assert len(mails()) == 1
    finally:
        slow.stop()


async def _all_final(runtime: ServiceRuntime, cid: str) -> bool:
    rows = await delivery_rows(runtime, cid)
    return bool(rows) and all(r["status"] in ("sent", "failed", "suppressed") for r in rows)


async def test_a_booking_before_the_snapshot_still_gets_its_email(env: TestEnv, smtp: SmtpServer) -> None:
    cid = customer_id()
    async with service(env, settings(env, smtp.port)) as runtime:
        await env.publish(BOOKINGS, booking(cid, booking_id="ACME-EARLY"))

        async def waiting() -> bool:
            rows = await delivery_rows(runtime, cid)
            return bool(rows) and rows[0]["hold_reason"] == "waiting_for_contact" and rows[0]["lookups"] >= 1

        await wait_until(waiting)
        await env.publish(CUSTOMERS, snapshot(cid, language="de-DE"))

        msg = await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com")
        assert msg["Subject"] == "Ihre Buchung ACME-EARLY ist bestätigt"
        assert (
            "Flug LH 400: FRA → JFK, Abflug Di., 1. Dez. 2026, 10:15 Uhr Ortszeit Frankfurt am Main (CET)"
            in text_of(msg)
        )
        [row] = await wait_until(lambda: _sent_rows(runtime, cid))
        assert row["language"] == "de"


async def test_change_and_cancellation_notices(env: TestEnv, smtp: SmtpServer) -> None:
    cid = customer_id()
    async with service(env, settings(env, smtp.port)):
        await env.publish(CUSTOMERS, snapshot(cid))
        await env.publish(BOOKINGS, booking(cid, booking_id="ACME-CHG", kind="changed"))
        await env.publish(BOOKINGS, booking(cid, booking_id="ACME-CNX", kind="cancelled"))
        await env.publish(BOOKINGS, booking(cid, booking_id="ACME-TRIP", kind="trip_completed"))

        changed = await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com" and "ACME-CHG" in str(m["Subject"]))
        assert changed["Subject"] == "Your booking ACME-CHG has changed"
        cancelled = await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com" and "ACME-CNX" in str(m["Subject"]))
        assert cancelled["Subject"] == "Your booking ACME-CNX has been cancelled"
        assert not [m for m in smtp.messages if "ACME-TRIP" in str(m["Subject"])]


async def test_a_cancellation_stops_a_confirmation_that_has_not_left(env: TestEnv, smtp: SmtpServer) -> None:
    cid = customer_id()
    async with service(env, settings(env, smtp.port)) as runtime:
        # No snapshot yet: the confirmation waits for contact data, then the booking is cancelled.
        await env.publish(BOOKINGS, booking(cid, booking_id="ACME-GONE", kind="created"))
        await env.publish(BOOKINGS, booking(cid, booking_id="ACME-GONE", kind="cancelled"))

        async def statuses() -> dict[str, str] | None:
            async with repo.connect(runtime.pool) as conn:
                rows = await conn.fetch("SELECT template, status FROM deliveries WHERE customer_id = $1", cid)
            found = {r["template"]: r["status"] for r in rows}
            return found if found.get("booking_confirmation") == "suppressed" else None

        assert await wait_until(statuses)
        await env.publish(CUSTOMERS, snapshot(cid))
        cancelled = await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com")
        assert cancelled["Subject"] == "Your booking ACME-GONE has been cancelled"
        assert [m["Subject"] for m in smtp.messages if m["To"] == f"{cid}@example.com"] == [cancelled["Subject"]]


async def test_survey_invitation_respects_quiet_hours(env: TestEnv, smtp: SmtpServer) -> None:
    awake, asleep = customer_id(), customer_id()
    now = datetime.now(UTC)
    async with service(env, settings(env, smtp.port)) as runtime:
        async with repo.connect(runtime.pool) as conn:
            await consents_repo.upsert_quiet_hours(
                conn, customer_id=awake, enabled=False, start=time(22), end=time(7), updated_by="test"
            )
            # A window around now (UTC, the customer's zone): the invitation waits until it ends.
            start, end = (now - timedelta(hours=1)).time(), (now + timedelta(hours=1)).time()
            await consents_repo.upsert_quiet_hours(
                conn, customer_id=asleep, enabled=True, start=start, end=end, updated_by="test"
            )
        await env.publish(CUSTOMERS, snapshot(awake))
        await env.publish(CUSTOMERS, snapshot(asleep, time_zone="UTC"))
        invitation = survey(awake)
        await env.publish(SURVEYS, invitation)
        await env.publish(SURVEYS, survey(asleep))

        msg = await smtp.wait_for(lambda m: m["To"] == f"{awake}@example.com")
        assert msg["Subject"] == "How was your trip? Tell us in two minutes"
        assert link_of(invitation) in text_of(msg)
        assert 'href="https://feedback.example/s/' in html_of(msg)
        # The link's token is a credential: this service keeps it sealed, opened only in the message.
        for row in await delivery_rows(runtime, awake):
            assert link_of(invitation).rsplit("t=", 1)[1] not in str(row["context"])

        async def deferred() -> list[asyncpg.Record]:
            return [r for r in await delivery_rows(runtime, asleep) if r["hold_reason"] == "quiet_hours"]

        [row] = await wait_until(deferred)
        assert row["status"] == "pending"
        assert row["purpose"] == "service"
        assert row["attempts"] == 0
        assert row["next_attempt_at"] > now + timedelta(minutes=30)
        assert not [m for m in smtp.messages if m["To"] == f"{asleep}@example.com"]


async def test_marketing_needs_consent(env: TestEnv, smtp: SmtpServer) -> None:
    cid = customer_id()

    def marketing(cause: str) -> DeliveryPlan:
        return DeliveryPlan(
            delivery_id=new_delivery_id(),
            customer_id=cid,
            template="survey_invitation",
            purpose="marketing",
            cause_id=cause,
            cause_event_id=str(uuid.uuid4()),
            cause_event_type="campaign.test",
            correlation_id=str(uuid.uuid4()),
            context={
                "survey_id": "srv_m",
                "booking_id": "ACME-MKT",
                "source_system": "acme-gds",
                "survey_url": "https://feedback.example/s/mkt",
                "expires_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
            },
        )

    async with service(env, settings(env, smtp.port)) as runtime:
        async with repo.connect(runtime.pool) as conn:
            # Marketing waits for quiet hours too; keep this customer's window out of the way.
            await consents_repo.upsert_quiet_hours(
                conn, customer_id=cid, enabled=False, start=time(22), end=time(7), updated_by="test"
            )
        await env.publish(CUSTOMERS, snapshot(cid))
        await wait_until(lambda: _in_view(runtime, cid))

        unconsented = marketing(f"campaign-1-{cid}")
        async with repo.connect(runtime.pool) as conn, conn.transaction():
            assert await plan_delivery(conn, unconsented)
        [failed] = await delivery_events(env, unconsented.delivery_id)
        assert isinstance(failed.payload, DeliveryFailedV1)
        # The traveller's choice: a suppression, not a fault of the address (a later opt-in lifts it).
        assert (failed.payload.status, failed.payload.reason_code) == ("suppressed", "no_consent")
        assert not failed.payload.permanent
        assert not failed.payload.address_failed
        assert "consent" in failed.payload.reason
        [row] = await delivery_rows(runtime, cid)
        assert row["status"] == "suppressed"

        async with repo.connect(runtime.pool) as conn:
            await consents_repo.upsert_consent(
                conn, customer_id=cid, purpose="marketing", channel="email", granted=True, source="web", updated_by="t"
            )
        consented = marketing(f"campaign-2-{cid}")
        async with repo.connect(runtime.pool) as conn, conn.transaction():
            assert await plan_delivery(conn, consented)
        await smtp.wait_for(lambda m: m["X-Itinera-Delivery-Id"] == consented.delivery_id)
        assert not [m for m in smtp.messages if m["X-Itinera-Delivery-Id"] == unconsented.delivery_id]


async def _in_view(runtime: ServiceRuntime, cid: str) -> bool:
    async with repo.connect(runtime.pool) as conn:
        return bool(await conn.fetchval("SELECT true FROM customer_view WHERE customer_id = $1", cid))


async def test_unusable_email_fails_without_sending(env: TestEnv, smtp: SmtpServer) -> None:
    cid = customer_id()
    async with service(env, settings(env, smtp.port)) as runtime:
        await env.publish(CUSTOMERS, snapshot(cid, email_deliverable=False))
        await env.publish(BOOKINGS, booking(cid))
        [row] = await wait_until(lambda: _final_rows(runtime, cid))
        assert row["status"] == "failed"
        assert "undeliverable" in row["last_error"]
        [failed] = await delivery_events(env, row["delivery_id"])
        assert isinstance(failed.payload, DeliveryFailedV1)
        assert failed.payload.permanent


async def _final_rows(runtime: ServiceRuntime, cid: str) -> list[asyncpg.Record]:
    return [r for r in await delivery_rows(runtime, cid) if r["status"] in ("sent", "failed", "suppressed")]


async def test_a_refusing_smtp_server_means_retries_then_failure(env: TestEnv) -> None:
    cid = customer_id()
    # Nothing listens on the port; a short timeout keeps the test short even if something starts to.
    s = settings(
        env,
        free_port(),
        send_max_attempts=3,
        send_retry_base_seconds=0.05,
        send_retry_max_seconds=0.2,
        smtp_timeout_seconds=2.0,
    )
    async with service(env, s) as runtime:
        await env.publish(CUSTOMERS, snapshot(cid))
        await env.publish(BOOKINGS, booking(cid, booking_id="ACME-DOWN"))

        [row] = await wait_until(lambda: _final_rows(runtime, cid))
        assert row["status"] == "failed"
        assert row["attempts"] == 3
        assert "gave up after 3 attempts" in row["last_error"]
        [failed] = await delivery_events(env, row["delivery_id"])
        assert isinstance(failed.payload, DeliveryFailedV1)
        assert not failed.payload.permanent  # an outage, not a bad address
        assert (sent_count("booking_confirmation", "retried") or 0) >= 2
        assert failed.payload.template == "booking_confirmation"


# HTTP API


async def test_api_roles_problems_consents_and_deliveries(env: TestEnv, smtp: SmtpServer) -> None:
    cid = customer_id()
    agent = {"X-API-Key": "dev-agent-key"}
    async with service(env, settings(env, smtp.port)) as runtime:
        app = create_notifications_app(runtime, workers=False)
        app.state.runtime = runtime  # ASGITransport runs no lifespan; the runtime is already started
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notifications") as client:
            r = await client.get("/v1/deliveries")
            assert r.status_code == 401
            assert r.headers["content-type"] == "application/problem+json"

            r = await client.get("/v1/deliveries", headers={"X-API-Key": "dev-booking-system-key"})
            assert r.status_code == 403
            assert r.headers["content-type"] == "application/problem+json"

            await env.publish(CUSTOMERS, snapshot(cid))
            await wait_until(lambda: _in_view(runtime, cid))

            r = await client.get("/v1/deliveries/dlv_unknown", headers=agent)
            assert r.status_code == 404
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["type"] == "/problems/unknown-delivery"

            bad = {"purpose": "spam", "channel": "email", "granted": True}
            r = await client.put(f"/v1/customers/{cid}/consents", json=bad, headers=agent)
            assert r.status_code == 422
            assert r.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in r.json()["errors"]] == ["purpose"]
            assert "purpose" in r.json()["detail"]
            r = await client.put(
                f"/v1/customers/{cid}/consents",
                json={"purpose": "marketing", "channel": "pigeon", "granted": "perhaps"},
                headers=agent,
            )
            assert r.status_code == 422
            assert {e["field"] for e in r.json()["errors"]} == {"channel", "granted"}

            r = await client.get(f"/v1/customers/{cid}/consents", headers=agent)
            assert r.status_code == 200
            effective = {(e["purpose"], e["channel"]): e["allowed"] for e in r.json()["effective"]}
            assert effective[("transactional", "email")]
            assert not effective[("marketing", "email")]

            grant = {"purpose": "marketing", "channel": "email", "granted": True, "source": "phone call"}
            r = await client.put(f"/v1/customers/{cid}/consents", json=grant, headers=agent)
            assert r.status_code == 200
            body = r.json()
            assert [(c["purpose"], c["channel"], c["granted"], c["updated_by"]) for c in body["consents"]] == [
                ("marketing", "email", True, "dev-agent")
            ]
            assert {(e["purpose"], e["channel"]): e["allowed"] for e in body["effective"]}[("marketing", "email")]
            async with repo.connect(runtime.pool) as conn:
                audited = await conn.fetchval(
                    "SELECT count(*) FROM audit_log WHERE action = 'consent.update' AND subject_id = $1", cid
                )
            assert audited == 1

            r = await client.get(f"/v1/customers/{cid}/quiet-hours", headers=agent)
            assert r.json() == {
                "customer_id": cid,
                "enabled": True,
                "start": "22:00:00",
                "end": "07:00:00",
                "source": "default",
                "updated_by": None,
                "updated_at": None,
            }
            r = await client.put(
                f"/v1/customers/{cid}/quiet-hours", json={"start": "23:30", "end": "06:00"}, headers=agent
            )
            assert r.status_code == 200
            assert (r.json()["start"], r.json()["end"], r.json()["source"]) == ("23:30:00", "06:00:00", "agent")
            r = await client.put(
                f"/v1/customers/{cid}/quiet-hours", json={"start": "23:30", "end": "23:30"}, headers=agent
            )
            assert r.status_code == 422
            # A window follows the traveller's own time zone: a fixed offset is refused, not dropped.
            r = await client.put(
                f"/v1/customers/{cid}/quiet-hours", json={"start": "23:30+02:00", "end": "06:00"}, headers=agent
            )
            assert r.status_code == 422
            assert r.json()["errors"][0]["field"] == "start"
            assert (await client.get(f"/v1/customers/{cid}/quiet-hours", headers=agent)).json()["start"] == "23:30:00"

            await env.publish(BOOKINGS, booking(cid, booking_id="ACME-API"))
            [row] = await wait_until(lambda: _sent_rows(runtime, cid))

            r = await client.get("/v1/deliveries", params={"customer_id": cid, "status": "sent"}, headers=agent)
            assert r.status_code == 200
            [item] = r.json()["items"]
            assert item["delivery_id"] == row["delivery_id"]
            assert item["subject"] == "Your booking ACME-API is confirmed"
            assert item["attempts"] == 1

            r = await client.get(f"/v1/deliveries/{row['delivery_id']}", headers=agent)
            assert r.status_code == 200
            assert r.json()["status"] == "sent"
            assert r.json()["sent_at"] is not None

            r = await client.get("/v1/deliveries", params={"status": "nonsense"}, headers=agent)
            assert r.status_code == 422

            r = await client.get("/metrics", headers={"X-API-Key": "dev-ops-key"})
            assert r.status_code == 200
            assert 'itinera_notification_deliveries_total{channel="email",outcome="sent"' in r.text


def preferences_snapshot(cid: str, *prefs: tuple[str, Any, str], at: datetime) -> Envelope[PreferenceSnapshotV1]:
    payload = PreferenceSnapshotV1(
        customer_id=cid,
        version=1,
        preferences=tuple(
            PreferenceV1(key=key, value=value, source=source, confidence=1.0, first_seen=at, last_seen=at)  # type: ignore[arg-type]
            for key, value, source in prefs
        ),
        updated_at=at,
        last_event_at=at,
    )
    return Envelope.new(payload, producer="preferences", subject_id=cid)


async def test_consent_withdrawn_in_stated_preferences_stops_surveys(env: TestEnv, smtp: SmtpServer) -> None:
    """The traveller said "no service messages" in their preferences: the survey is not sent."""
    cid = customer_id()
    stated_at = datetime.now(UTC) - timedelta(minutes=5)
    async with service(env, settings(env, smtp.port)) as runtime:
        async with repo.connect(runtime.pool) as conn:
            # Surveys wait for quiet hours; keep this customer's window out of the way.
            await consents_repo.upsert_quiet_hours(
                conn, customer_id=cid, enabled=False, start=time(22), end=time(7), updated_by="test"
            )
        await env.publish(CUSTOMERS, snapshot(cid))
        await env.publish(
            "preferences.snapshots.v1",
            preferences_snapshot(
                cid, ("comms.consent.service", False, "stated"), ("comms.language", "de", "stated"), at=stated_at
            ),
        )
        await wait_until(lambda: _in_view_as(runtime, cid, "preferences"))

        withdrawn = survey(cid)
        await env.publish(SURVEYS, withdrawn)
        [row] = await wait_until(lambda: _final_rows(runtime, cid))
        assert row["status"] == "suppressed"
        assert "consent" in row["last_error"]
        assert await _effective_consent(runtime, cid, "service") == {"allowed": False, "decided_in": "preferences"}

        # A later grant recorded through this service's consent API is the traveller's latest word.
        async with repo.connect(runtime.pool) as conn:
            await consents_repo.upsert_consent(
                conn, customer_id=cid, purpose="service", channel="email", granted=True, source="web", updated_by="t"
            )
        assert await _effective_consent(runtime, cid, "service") == {"allowed": True, "decided_in": "consents"}
        assert (await _get(runtime, f"/v1/customers/{cid}/quiet-hours"))["source"] == "agent", "set after"
        regranted = survey(cid)
        await env.publish(SURVEYS, regranted)
        sent = await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com")
        assert sent["Content-Language"] == "de", "the stated language, not the profile's English"
        assert link_of(regranted) in text_of(sent)


async def _in_view_as(runtime: ServiceRuntime, cid: str, kind: str) -> bool:
    async with repo.connect(runtime.pool) as conn:
        return bool(
            await conn.fetchval("SELECT true FROM customer_view WHERE customer_id = $1 AND kind = $2", cid, kind)
        )


async def _effective_consent(runtime: ServiceRuntime, cid: str, purpose: str) -> dict[str, Any]:
    """What the consent API reports for `purpose` by email."""
    app = create_notifications_app(runtime, workers=False)
    app.state.runtime = runtime  # ASGITransport runs no lifespan; the runtime is already started
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        r = await client.get(f"/v1/customers/{cid}/consents", headers={"X-API-Key": "dev-agent-key"})
    assert r.status_code == 200
    [entry] = [e for e in r.json()["effective"] if e["purpose"] == purpose and e["channel"] == "email"]
    return {"allowed": entry["allowed"], "decided_in": entry["decided_in"]}


async def _get(runtime: ServiceRuntime, path: str) -> Any:
    app = create_notifications_app(runtime, workers=False)
    app.state.runtime = runtime  # ASGITransport runs no lifespan; the runtime is already started
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        r = await client.get(path, headers={"X-API-Key": "dev-agent-key"})
    assert r.status_code == 200, r.text
    return r.json()


async def test_quiet_hours_stated_in_preferences_hold_surveys(env: TestEnv, smtp: SmtpServer) -> None:
    """A window around now, stated by the traveller in their preferences, holds a survey back."""
    cid = customer_id()
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=2)).strftime("%H:%M")
    window = {"start": start, "end": end}
    async with service(env, settings(env, smtp.port)) as runtime:
        await env.publish(CUSTOMERS, snapshot(cid, time_zone="UTC"))
        await env.publish(
            "preferences.snapshots.v1", preferences_snapshot(cid, ("comms.quiet_hours", window, "stated"), at=now)
        )
        await wait_until(lambda: _in_view_as(runtime, cid, "preferences"))
        quiet = await _get(runtime, f"/v1/customers/{cid}/quiet-hours")
        assert (quiet["source"], quiet["start"][:5], quiet["end"][:5]) == ("preferences", start, end)

        await env.publish(SURVEYS, survey(cid))
        rows = await wait_until(
            lambda: _rows_with(runtime, cid, lambda r: r["status"] == "pending" and r["hold_reason"] == "quiet_hours")
        )
        assert rows[0]["next_attempt_at"] > now + timedelta(hours=1)
        assert not [m for m in smtp.messages if m["To"] == f"{cid}@example.com"]


async def _rows_with(runtime: ServiceRuntime, cid: str, predicate: Any) -> list[asyncpg.Record]:
    return [r for r in await delivery_rows(runtime, cid) if predicate(r)]


def question(cid: str, *, token: str | None = None, expires_in: timedelta = timedelta(days=30)) -> Envelope[Any]:
    """A confirmation question as preferences sends it: its answer token sealed."""
    request_id = str(uuid.uuid4())
    payload = PreferenceConfirmationRequestedV1(
        customer_id=cid,
        request_id=request_id,
        key="air.seat.short_haul",
        value="aisle",
        confidence=0.6667,
        evidence_count=2,
        question="Seat on short flights: is aisle right for you?",
        questions={
            "en": "Seat on short flights: is aisle right for you?",
            "de": "Sitzplatz auf Kurzstreckenflügen: Ist „Gang“ richtig für Sie?",
        },
        sealed_answer_token=None if token is None else SEALER.seal(token, purpose=ANSWER_TOKEN, subject=request_id),
        expires_at=None if token is None else datetime.now(UTC) + expires_in,
    )
    return Envelope.new(payload, producer="preferences", subject_id=cid)


def throttled_questions() -> float:
    sample = REGISTRY.get_sample_value(
        "itinera_notification_deliveries_total",
        {"channel": "email", "template": "preference_question", "outcome": "throttled"},
    )
    return sample or 0.0


async def test_a_preference_question_reaches_the_traveller_with_its_answer_link(env: TestEnv, smtp: SmtpServer) -> None:
    asked, unlinked = customer_id(), customer_id()
    s = settings(env, smtp.port, preferences_public_base_url="https://prefs.example/")
    async with service(env, s) as runtime:
        async with repo.connect(runtime.pool) as conn:
            for cid in (asked, unlinked):
                await consents_repo.upsert_quiet_hours(
                    conn, customer_id=cid, enabled=False, start=time(22), end=time(7), updated_by="test"
                )
        await env.publish(CUSTOMERS, snapshot(asked, language="de"))
        await env.publish(CUSTOMERS, snapshot(unlinked))
        token = "tok_" + uuid.uuid4().hex
        first = question(asked, token=token)
        await env.publish("preferences.changes.v1", first)
        await env.publish("preferences.changes.v1", question(unlinked))  # no link: nothing to send

        msg = await smtp.wait_for(lambda m: m["To"] == f"{asked}@example.com")
        assert msg["Subject"] == "Eine kurze Frage zu Ihren Reisevorlieben"
        assert "Sitzplatz auf Kurzstreckenflügen: Ist „Gang“ richtig für Sie?" in text_of(msg)
        assert f"https://prefs.example/confirmations/{token}" in text_of(msg)
        assert f'href="https://prefs.example/confirmations/{token}"' in html_of(msg)
        [row] = await wait_until(lambda: _sent_rows(runtime, asked))
        assert (row["template"], row["purpose"]) == ("preference_question", "service")
        assert token not in str(row["context"]), "kept sealed here, opened only in the message"
        assert row["expires_at"] == first.payload.expires_at

        # The same question delivered again is not sent twice, nor a second question the same
        # week (it stays open for agents; one partition: handled in this order), nor one whose
        # link expired on the way.
        before = throttled_questions()
        await env.publish("preferences.changes.v1", first)
        await env.publish("preferences.changes.v1", question(asked, token="tok_" + uuid.uuid4().hex))
        await wait_until(lambda: throttled_questions() > before)
        await env.publish(
            "preferences.changes.v1", question(unlinked, token="tok_" + uuid.uuid4().hex, expires_in=-timedelta(1))
        )
        later_token = "tok_" + uuid.uuid4().hex
        await env.publish("preferences.changes.v1", question(unlinked, token=later_token))
        msg = await smtp.wait_for(lambda m: m["To"] == f"{unlinked}@example.com")
        assert later_token in text_of(msg)
        assert "Seat on short flights: is aisle right for you?" in text_of(msg)  # an English traveller
        assert len(await delivery_rows(runtime, asked)) == 1
        assert len(await delivery_rows(runtime, unlinked)) == 1


async def test_the_dispatcher_rides_out_the_database_dropping_its_connections(env: TestEnv, smtp: SmtpServer) -> None:
    """What a PostgreSQL restart does to the dispatcher (its listening connection and the pool's), without
    stopping the shared server: the server terminates every connection; the next booking's email still goes."""
    cid = customer_id()
    async with service(env, settings(env, smtp.port)) as runtime:
        await env.publish(CUSTOMERS, snapshot(cid))
        await env.publish(BOOKINGS, booking(cid, booking_id="ACME-BEFORE"))
        await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com" and "ACME-BEFORE" in str(m["Subject"]))
        admin = await env.admin_connect()
        try:
            for _ in range(2):
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                await asyncio.sleep(0.5)
        finally:
            await admin.close()
        await env.publish(BOOKINGS, booking(cid, booking_id="ACME-AFTER"))
        await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com" and "ACME-AFTER" in str(m["Subject"]), timeout=60)

        async def ready() -> bool:
            return all((await runtime.readiness()).values())

        await wait_until(ready, timeout=60)


async def test_survey_links_travel_sealed_and_one_that_cannot_be_opened_is_a_dead_letter(
    env: TestEnv, smtp: SmtpServer
) -> None:
    legacy, forged = customer_id(), customer_id()
    async with service(env, settings(env, smtp.port)) as runtime:
        async with repo.connect(runtime.pool) as conn:
            for cid in (legacy, forged):
                await consents_repo.upsert_quiet_hours(
                    conn, customer_id=cid, enabled=False, start=time(22), end=time(7), updated_by="test"
                )
        await env.publish(CUSTOMERS, snapshot(legacy))
        await env.publish(CUSTOMERS, snapshot(forged))
        # Sealed for another survey: moved into this event, it does not open.
        good = survey(forged)
        stolen = good.payload.model_copy(update={"survey_id": "srv_other"})
        moved = Envelope.new(stolen, producer="feedback", subject_id=forged)
        await env.publish(SURVEYS, moved)
        # An older producer's link in clear is still mailed.
        clear = survey(legacy, sealed=False)
        await env.publish(SURVEYS, clear)
        msg = await smtp.wait_for(lambda m: m["To"] == f"{legacy}@example.com")
        assert link_of(clear) in text_of(msg)

        def dead(records: list[tuple[bytes | None, bytes | None, dict[str, bytes]]]) -> bool:
            return any(str(moved.event_id).encode() in (value or b"") for _, value, _ in records)

        records = await env.read_topic("notifications.deadletters.v1", until=dead)
        [(_, _, headers)] = [r for r in records if str(moved.event_id).encode() in (r[1] or b"")]
        assert headers["dlq.reason"] in (b"rejected", b"handler_failed")
        assert b"cannot be opened" in headers["dlq.error"]
        assert await delivery_rows(runtime, forged) == []
