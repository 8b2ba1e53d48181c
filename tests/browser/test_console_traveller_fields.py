"""The golden record page shows what travel profiles and HR feeds carry: each address as one block
with its source, the employee number, gender, other emails and phones — and identity numbers only
as "on file", never a number."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, Locator, expect

from tests.browser.console import AGENT, BOOKING_SYSTEM, WAIT_MS, Stack, open_customer, surname, watched_page

pytestmark = [pytest.mark.integration, pytest.mark.browser]

NATIONAL_ID = "65929970489"
KTN = "TT1234567"


async def test_the_golden_record_shows_addresses_hr_data_and_identity_numbers_only_as_on_file(
    browser: Browser, stack: Stack
) -> None:
    family = surname()
    body = {
        "source_system": "hr",
        "source_id": f"hr-{family}".lower(),
        "traveller": {
            "given_name": "Edda",
            "family_name": family,
            "email": f"edda.{family}@initech.example".lower(),
            "home_address": {"line": "Hauptstr. 5, 10115 Berlin", "country": "DE"},
            "business_address": {
                "street": "1 Main Street",
                "postcode": "62704",
                "city": "Springfield",
                "region": "IL",
                "country": "US",
            },
            "employee_number": "E-4711",
            "gender": "female",
            "secondary_emails": ["edda@private.example"],
            "secondary_phones": ["+44 20 7946 0958"],
            "national_id_number": NATIONAL_ID,
            "national_id_country": "DE",
            "known_traveller_number": KTN,
        },
    }
    async with httpx.AsyncClient(base_url=stack.api["profile"], timeout=10) as client:
        r = await client.post("/v1/source-records", json=body, headers=BOOKING_SYSTEM)
        assert r.status_code == 200, r.text
        customer_id = str(r.json()["customer_id"])
    async with watched_page(browser) as (page, watch):
        await open_customer(page, stack, AGENT["X-API-Key"], customer_id)
        golden = page.get_by_role("region", name="Golden record")

        def row(label: str) -> Locator:
            return golden.get_by_role("row").filter(has=page.get_by_role("rowheader", name=label, exact=True))

        home = row("Home address")
        await expect(home.locator("address .address-line")).to_have_text(["Hauptstr. 5", "10115 Berlin", "DE"])
        await expect(home).to_contain_text("hr")
        await expect(row("Business address").locator("address .address-line")).to_have_text(
            ["1 Main Street", "62704 Springfield", "IL", "US"], timeout=WAIT_MS
        )
        await expect(row("Employee number")).to_contain_text("E-4711")
        await expect(row("Gender")).to_contain_text("female")
        await expect(row("Other emails")).to_contain_text("edda@private.example")
        await expect(row("Other phones")).to_contain_text("+442079460958")
        await expect(row("Identity numbers")).to_contain_text(
            "on file: known traveller number, national identity number"
        )
        text = await page.locator("main").inner_text()
        assert NATIONAL_ID not in text
        assert KTN not in text
        assert watch.problems == []
