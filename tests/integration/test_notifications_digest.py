"""Digests and languages on the real broker, database and SMTP server.

A window is closed by making its digest due (the dispatcher takes it like any due message),
so nothing here waits for a clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from services.kit.contracts.bookings import FlightSegmentV1
from services.kit.contracts.customers import ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.notifications import DeliverySentV1
from services.kit.contracts.value import ChurnV1, CustomerValueSnapshotV1, RfmV1
from services.kit.runtime import ServiceRuntime
from services.kit.view import lookup
from services.notifications.adapters import repository as repo
from services.notifications.entrypoints.api import create_notifications_app
from tests.harness import SmtpServer, TestEnv, wait_until
from tests.integration.test_notifications_service import (
    BOOKINGS,
    CUSTOMERS,
    DELIVERIES,
    SURVEYS,
    customer_id,
    delivery_rows,
    link_of,
    question,
    service,
    settings,
    snapshot,
    survey,
    text_of,
)

pytestmark = pytest.mark.integration

PREFERENCES = "preferences.changes.v1"

HOUR = 3600.0


async def _rows(runtime: ServiceRuntime, cid: str, **where: str) -> list[asyncpg.Record]:
    rows = await delivery_rows(runtime, cid)
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


async def _close_window(runtime: ServiceRuntime, digest_id: str) -> None:
    """The window's time is up (what the clock would do in four hours)."""
    async with repo.connect(runtime.pool) as conn:
        await conn.execute(
            "UPDATE deliveries SET next_attempt_at = now() WHERE delivery_id = $1 AND hold_reason = 'digest_window'",
            digest_id,
        )
        await conn.execute("SELECT pg_notify(current_schema() || '_deliveries', '')")


async def test_three_non_urgent_messages_arrive_as_one_email(env: TestEnv, smtp: SmtpServer) -> None:
    cid = customer_id()
    quiet = {"default_quiet_hours_start": datetime.min.time(), "default_quiet_hours_end": datetime.min.time()}
    s = settings(env, smtp.port, digest_window_seconds=4 * HOUR, dispatch_poll_seconds=0.2, **quiet)
    first, second = survey(cid), survey(cid)
    asked = question(cid, token="tok-digest")
    async with service(env, s) as runtime:
        await env.publish(CUSTOMERS, snapshot(cid, time_zone="Asia/Shanghai"))
        for event in (first, second):
            await env.publish(SURVEYS, event)
        await env.publish(PREFERENCES, asked)
        # All three wait in one digest, and nothing was sent.
        waiting = await wait_until(lambda: _three_waiting(runtime, cid))
        [digest] = await _rows(runtime, cid, template="digest")
        assert digest["hold_reason"] == "digest_window"
        assert {r["digest_id"] for r in waiting} == {digest["delivery_id"]}
        assert not [m for m in smtp.messages if m["To"] == f"{cid}@example.com"]

    # A restart loses nothing: the window and its items are rows.
    async with service(env, s) as runtime:
        await _close_window(runtime, digest["delivery_id"])
        msg = await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com")
        text = text_of(msg)
        assert msg["Subject"].startswith("3 updates from")
        for link in (link_of(first), link_of(second), "/confirmations/tok-digest"):
            assert link in text
        assert "(Shanghai, CST)" in text, "when each came, where the traveller is, labelled"

        rows = await wait_until(lambda: _all_sent(runtime, cid))
        items = [r for r in rows if r["template"] != "digest"]
        assert len(items) == 3
        assert {r["digest_id"] for r in items} == {digest["delivery_id"]}
        assert all(r["channel_note"] == f"in digest {digest['delivery_id']}" for r in items)

        # Each item reports for its own cause, once: feedback learns its invitations went out.
        causes = {str(first.event_id), str(second.event_id), str(asked.event_id)}

        def sent_reports(events: list[Envelope[Any]]) -> list[DeliverySentV1]:
            return [e.payload for e in events if isinstance(e.payload, DeliverySentV1) and e.payload.customer_id == cid]

        events = await env.events(DELIVERIES, until=lambda ev: len(sent_reports(ev)) >= 3)
        reports = sent_reports(events)
        assert sorted(r.cause_event_id or "" for r in reports) == sorted(causes)
        assert len({r.delivery_id for r in reports}) == 3

        # The traveller's page shows each item in its digest.
        app = create_notifications_app(runtime, workers=False)
        app.state.runtime = runtime
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as client:
            r = await client.get("/v1/deliveries", params={"customer_id": cid}, headers={"X-API-Key": "dev-agent-key"})
            assert r.status_code == 200
            shown = {d["template"]: d for d in r.json()["items"]}
            assert shown["survey_invitation"]["digest_id"] == digest["delivery_id"]
            assert shown["digest"]["status"] == "sent"

        # Delivered again, the causes plan nothing more: still one email.
        for event in (first, second):
            await env.publish(SURVEYS, event)
        await env.publish(PREFERENCES, asked)
        later = survey(cid)
        await env.publish(SURVEYS, later)
        await wait_until(lambda: _rows(runtime, cid, cause_id=str(later.event_id)))
        assert len([m for m in smtp.messages if m["To"] == f"{cid}@example.com"]) == 1
        assert len(await _rows(runtime, cid, template="survey_invitation")) == 3


async def _three_waiting(runtime: ServiceRuntime, cid: str) -> list[asyncpg.Record]:
    rows = [r for r in await delivery_rows(runtime, cid) if r["hold_reason"] == "digest"]
    return rows if len(rows) == 3 else []


async def _all_sent(runtime: ServiceRuntime, cid: str) -> list[asyncpg.Record]:
    rows = await delivery_rows(runtime, cid)
    return rows if len(rows) == 4 and all(r["status"] == "sent" for r in rows) else []


async def test_a_lone_message_in_a_window_goes_as_itself(env: TestEnv, smtp: SmtpServer) -> None:
    cid = customer_id()
    quiet = {"default_quiet_hours_start": datetime.min.time(), "default_quiet_hours_end": datetime.min.time()}
    s = settings(env, smtp.port, digest_window_seconds=4 * HOUR, dispatch_poll_seconds=0.2, **quiet)
    invitation = survey(cid)
    async with service(env, s) as runtime:
        await env.publish(CUSTOMERS, snapshot(cid))
        await env.publish(SURVEYS, invitation)
        [item] = await wait_until(lambda: _rows(runtime, cid, hold_reason="digest"))
        await _close_window(runtime, item["digest_id"])
        msg = await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com")
        assert msg["Subject"] == "How was your trip? Tell us in two minutes"
        assert link_of(invitation) in text_of(msg)
        [digest] = await wait_until(lambda: _rows(runtime, cid, template="digest", status="suppressed"))
        assert digest["sent_at"] is None


async def test_a_gold_travellers_messages_are_never_digested(env: TestEnv, smtp: SmtpServer) -> None:
    cid = customer_id()
    quiet = {"default_quiet_hours_start": datetime.min.time(), "default_quiet_hours_end": datetime.min.time()}
    s = settings(env, smtp.port, digest_window_seconds=4 * HOUR, dispatch_poll_seconds=0.2, **quiet)
    gold = CustomerValueSnapshotV1(
        customer_id=cid, version=1, tier="gold", tier_label="Gold",
        rfm=RfmV1(recency_days=3, frequency=14, monetary=Decimal("30000"), currency="EUR", window_days=365,
                  r_score=5, f_score=5, m_score=5),
        churn=ChurnV1(risk="low", stage="active", reason="travels as usual"), updated_at=datetime.now(UTC),
    )  # fmt: skip
    async with service(env, s) as runtime:
        await env.publish(CUSTOMERS, snapshot(cid))
        await env.publish("value.customers.v1", Envelope.new(gold, producer="value", subject_id=cid))

        async def known_gold() -> bool:
            async with repo.connect(runtime.pool) as conn:
                return await lookup(conn, "value", cid) is not None

        await wait_until(known_gold)
        invitation = survey(cid)
        await env.publish(SURVEYS, invitation)
        msg = await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com")
        assert link_of(invitation) in text_of(msg)
        assert not await _rows(runtime, cid, template="digest")


async def test_transactional_messages_are_never_digested(env: TestEnv, smtp: SmtpServer) -> None:
    cid = customer_id()
    s = settings(env, smtp.port, digest_window_seconds=4 * HOUR, dispatch_poll_seconds=0.2)
    async with service(env, s) as runtime:
        await env.publish(CUSTOMERS, snapshot(cid))
        await env.publish(BOOKINGS, zh_booking(cid))
        await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com")
        assert not await _rows(runtime, cid, template="digest")


def zh_booking(cid: str) -> Envelope[ResolvedBookingV1]:
    """Frankfurt to Shanghai, the times as the booking system sent them (UTC)."""
    payload = ResolvedBookingV1(
        customer_id=cid,
        kind="created",
        source_event_id=customer_id(),
        source_system="acme-gds",
        booking_id="ACME-ZH1",
        segments=(
            FlightSegmentV1(
                carrier="LH",
                flight_number="728",
                origin="FRA",
                destination="PVG",
                departure_at=datetime(2026, 12, 1, 16, 45, tzinfo=UTC),
                arrival_at=datetime(2026, 12, 2, 3, 30, tzinfo=timezone(timedelta(0))),
            ),
        ),
        total_price=5120,
        currency="CNY",
        occurred_at=datetime.now(UTC),
    )
    return Envelope.new(payload, producer="profile", subject_id=cid)


async def test_a_chinese_traveller_gets_the_message_in_chinese_with_labelled_local_times(
    env: TestEnv, smtp: SmtpServer
) -> None:
    cid = customer_id()
    async with service(env, settings(env, smtp.port, dispatch_poll_seconds=0.2)) as runtime:
        await env.publish(CUSTOMERS, snapshot(cid, language="zh-CN", given_name="伟", display_name="王伟"))
        await env.publish(BOOKINGS, zh_booking(cid))
        msg = await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com")
        assert msg["Subject"] == "您的预订 ACME-ZH1 已确认"
        text = text_of(msg)
        assert text.startswith("王伟，您好：")
        assert "起飞2026年12月1日（周二）17:45（Frankfurt am Main当地时间，UTC+1）" in text
        assert "到达2026年12月2日（周三）11:30（上海当地时间，UTC+8）" in text
        assert "总价：5,120.00 CNY" in text
        [row] = await wait_until(lambda: _rows(runtime, cid, status="sent"))
        assert row["language"] == "zh"
        assert row["language_note"] == "zh (profile)"


async def test_an_agent_takes_one_message_out_of_a_digest_and_the_rest_still_go_together(
    env: TestEnv, smtp: SmtpServer
) -> None:
    cid = customer_id()
    quiet = {"default_quiet_hours_start": datetime.min.time(), "default_quiet_hours_end": datetime.min.time()}
    s = settings(env, smtp.port, digest_window_seconds=4 * HOUR, dispatch_poll_seconds=0.2, **quiet)
    invitations = [survey(cid) for _ in range(3)]
    async with service(env, s) as runtime:
        await env.publish(CUSTOMERS, snapshot(cid))
        for event in invitations:
            await env.publish(SURVEYS, event)
        waiting = await wait_until(lambda: _three_waiting(runtime, cid))
        urgent = next(r for r in waiting if r["cause_id"] == str(invitations[0].event_id))
        app = create_notifications_app(runtime, workers=False)
        app.state.runtime = runtime
        agent = {"X-API-Key": "dev-agent-key"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as client:
            r = await client.post(f"/v1/deliveries/{urgent['delivery_id']}/send-now", headers=agent)
            assert r.status_code == 200, r.text
        alone = await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com")
        assert alone["Subject"] == "How was your trip? Tell us in two minutes"
        assert link_of(invitations[0]) in text_of(alone)

        await _close_window(runtime, urgent["digest_id"])
        digest = await smtp.wait_for(lambda m: m["To"] == f"{cid}@example.com" and "2 updates" in str(m["Subject"]))
        assert link_of(invitations[0]) not in text_of(digest)
        assert all(link_of(i) in text_of(digest) for i in invitations[1:])
        assert len([m for m in smtp.messages if m["To"] == f"{cid}@example.com"]) == 2
