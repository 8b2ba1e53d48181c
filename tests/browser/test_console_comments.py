"""The console shows what feedback read in a traveller's survey comment, on the survey and on its case."""

from __future__ import annotations

import email.message
import random
import re

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests import builders
from tests.browser.console import AGENT, WAIT_MS, Stack, customer_with_email, open_customer, surname, watched_page
from tests.harness import SmtpServer, TestEnv

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def _text(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert isinstance(part, email.message.EmailMessage)
    return str(part.get_content())


async def test_agent_sees_the_sentiment_and_topics_of_a_comment_and_the_case_it_opened(
    browser: Browser, stack: Stack, env: TestEnv, smtp: SmtpServer
) -> None:
    # A traveller and company of its own: answering the shared traveller's survey would give other tests
    # a case, and a booking for the shared company would rename it.
    family = surname()
    created = builders.booking_created(
        traveller=builders.traveller(
            given_name="Wendelin",
            family_name=family,
            phone=f"+49 40 {random.randrange(1_000_000, 9_999_999)}",
        ),
        company={"name": f"{family} Consulting", "email_domain": f"{family.lower()}.example"},
    )
    address = created.payload.traveller.email
    assert address is not None
    await env.publish("booking.events.v1", created)
    await smtp.wait_for(lambda m: created.payload.booking_id in str(m["Subject"]))
    async with httpx.AsyncClient(headers=AGENT, timeout=10) as client:
        customer_id = await customer_with_email(client, stack, address)
        # Whatever the hour, the invitation goes out at once.
        quiet = await client.put(
            f"{stack.api['notifications']}/v1/customers/{customer_id}/quiet-hours",
            json={"enabled": False, "start": "22:00", "end": "07:00"},
        )
        assert quiet.status_code == 200, quiet.text
        await env.publish("booking.events.v1", builders.trip_completed(created))
        invitation = await smtp.wait_for(lambda m: address in str(m["To"]) and "/surveys/" in _text(m))
        match = re.search(r"/surveys/([A-Za-z0-9_-]+)", _text(invitation))
        assert match is not None
        answered = await client.post(
            f"{stack.api['feedback']}/v1/surveys/{match.group(1)}/answers",
            json={"csat": 4, "comment": "The flight was delayed by three hours and the hotel room was dirty."},
        )
        assert answered.status_code == 201, answered.text

    async with watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await open_customer(page, stack, "dev-agent-key", customer_id)

        surveys = page.get_by_role("region", name="Surveys")
        await expect(surveys).to_contain_text("negative", timeout=WAIT_MS)
        await expect(surveys).to_contain_text("Hotel, Delay, Cleanliness")
        cases = page.get_by_role("region", name="Cases")
        await expect(cases).to_contain_text("Negative post-trip comment about hotel, delay, cleanliness")
        await expect(cases).to_contain_text("Traveller's comment: negative")
        assert watch.problems == []
