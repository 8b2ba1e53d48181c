"""A traveller whose booking system says they read Chinese gets their messages in Chinese, end to end.

BookingCreatedV1 with `language: zh-CN` → profile's golden record → notifications' view →
a confirmation written in Simplified Chinese, each time labelled with where it happens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.kit.runtime import ServiceRuntime
from tests import builders
from tests.e2e.system import four_services
from tests.harness import SmtpServer, TestEnv, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
async def system(env: TestEnv, smtp: SmtpServer) -> AsyncIterator[dict[str, ServiceRuntime]]:
    async with four_services(env, smtp) as runtimes:
        yield runtimes


async def test_a_chinese_travellers_confirmation_is_in_chinese_with_labelled_local_times(
    env: TestEnv, smtp: SmtpServer, system: dict[str, ServiceRuntime]
) -> None:
    created = builders.booking_created(
        traveller=builders.traveller(given_name="Wei", family_name="Wang", language="zh-CN", nationality="CN")
    )
    booking_id = created.payload.booking_id
    recipient = created.payload.traveller.email
    assert recipient is not None
    await env.publish("booking.events.v1", created)

    msg = await smtp.wait_for(lambda m: booking_id in str(m["Subject"]) and recipient in str(m["To"]))
    assert msg["Subject"] == f"您的预订 {booking_id} 已确认"
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    text = str(body.get_content())
    assert text.startswith("Wei Wang，您好：")
    assert "航班 LH 400：FRA → JFK，起飞" in text
    assert "（Frankfurt am Main当地时间，UTC+1）" in text or "（Frankfurt am Main当地时间，UTC+2）" in text
    assert "（纽约当地时间，UTC-5）" in text or "（纽约当地时间，UTC-4）" in text

    async def sent_row() -> object:
        async with system["notifications"].pool.acquire() as conn:
            return await conn.fetchrow(
                "SELECT language, language_note FROM deliveries WHERE template = 'booking_confirmation'"
                " AND context->>'booking_id' = $1 AND status = 'sent'",
                booking_id,
            )

    row = await wait_until(sent_row)
    assert (row["language"], row["language_note"]) == ("zh", "zh (profile)")  # type: ignore[index]
