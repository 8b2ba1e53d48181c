"""Escalated cases reach their owners by email: the real broker, database and an SMTP server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.kit.contracts.customers import CustomerSnapshotV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.feedback import CaseEscalatedV1
from services.notifications.adapters import repository as repo
from services.notifications.bootstrap import build_definition
from services.notifications.settings import NotificationsSettings
from tests.harness import SmtpServer, TestEnv, wait_until

pytestmark = pytest.mark.integration

CASES = "feedback.cases.v1"
CUSTOMERS = "profile.customers.v1"


def _escalation(cid: str, case_id: str, assignee: str | None) -> Envelope[CaseEscalatedV1]:
    now = datetime.now(UTC)
    payload = CaseEscalatedV1(
        case_id=case_id, customer_id=cid, kind="complaint", status="open", priority="high", assignee=assignee,
        first_response_due=now - timedelta(hours=1), resolution_due=now + timedelta(days=1), escalated=True,
        missed_targets=("first_response",), escalated_at=now,
    )  # fmt: skip
    return Envelope.new(payload, producer="feedback", subject_id=cid)


def _snapshot(cid: str) -> Envelope[CustomerSnapshotV1]:
    payload = CustomerSnapshotV1(
        customer_id=cid, version=1, given_name="Nadia", family_name="Okafor", display_name="Nadia Okafor",
        email=f"{cid}@traveller.example", updated_at=datetime.now(UTC),
    )  # fmt: skip
    return Envelope.new(payload, producer="profile", subject_id=cid)


async def _alerts(pool: asyncpg.Pool, case_id: str) -> list[asyncpg.Record]:
    async with repo.connect(pool) as conn:
        return await conn.fetch("SELECT * FROM staff_alerts WHERE case_id = $1", case_id)


async def test_an_escalation_emails_the_account_manager_once_and_an_unknown_one_the_supervisors(
    env: TestEnv, smtp: SmtpServer
) -> None:
    cid, managed, unowned = f"cus_{uuid.uuid4().hex}", f"cas_{uuid.uuid4().hex}", f"cas_{uuid.uuid4().hex}"
    s = env.settings(
        NotificationsSettings,
        smtp_port=smtp.port,
        staff_directory={"maria": "maria@agency.example"},
        staff_fallback_email="supervisors@agency.example",
        console_public_base_url="https://console.agency.example",
    )
    async with env.running(build_definition(s)) as runtime:
        await env.publish(CUSTOMERS, _snapshot(cid))
        escalated = _escalation(cid, managed, "maria")
        await env.publish(CASES, escalated)
        await env.publish(CASES, escalated)  # delivered twice: one alert
        await env.publish(CASES, _escalation(cid, unowned, None))

        mine = await smtp.wait_for(lambda m: m["X-Itinera-Case-Id"] == managed)
        assert mine["To"] == "maria@agency.example"
        assert mine["Subject"].startswith("Escalated high complaint: first response overdue")
        body = mine.get_content()
        assert "You are its assignee." in body
        assert f"https://console.agency.example/#/customers/{cid}" in body

        theirs = await smtp.wait_for(lambda m: m["X-Itinera-Case-Id"] == unowned)
        assert theirs["To"] == "supervisors@agency.example"
        assert "It has no assignee" in theirs.get_content()

        async def sent() -> list[asyncpg.Record]:
            return [r for r in await _alerts(runtime.pool, managed) if r["status"] == "sent"]

        [row] = await wait_until(sent)
        assert row["attempts"] == 1
        assert len(await _alerts(runtime.pool, managed)) == 1
        # Both deliveries of the managed case's event were handled (the second as a duplicate)
        # before the unowned one, which is on the same partition: one row, one message.
        assert len([m for m in smtp.collector.messages if m["X-Itinera-Case-Id"] == managed]) == 1
