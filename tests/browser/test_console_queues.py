"""The console's work queues, company page, ops dashboard and next best actions, in Debian's chromium.

The stack and the traveller (a booking, a completed trip, an unassigned high-priority case) come
from `conftest.py`.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.browser.console import AGENT, WAIT_MS, Stack, Traveller, open_customer, sign_in, watched_page
from tests.harness import wait_until

pytestmark = pytest.mark.browser
SUPERVISOR = "dev-supervisor-key"


async def company_of(stack: Stack, traveller: Traveller) -> str:
    """The traveller's company id, once the value service has valued the traveller."""
    async with httpx.AsyncClient(headers=AGENT, timeout=10) as client:
        found: dict[str, str] = {}

        async def valued() -> bool:
            r = await client.get(f"{stack.api['value']}/v1/customers/{traveller.customer_id}/value")
            if r.status_code == 200 and r.json()["value"]["company_id"]:
                found["company"] = r.json()["value"]["company_id"]
            return "company" in found

        await wait_until(valued)
    return found["company"]


async def test_queues_list_filter_and_link_to_the_traveller_and_company(
    browser: Browser, stack: Stack, traveller: Traveller
) -> None:
    company = await company_of(stack, traveller)
    async with watched_page(browser) as (page, watch):
        await sign_in(page, stack.console_url, SUPERVISOR)
        await page.get_by_role("link", name="Queues").click()
        tabs = page.get_by_role("navigation", name="Queues")
        for label in ("My cases", "Unassigned", "Overdue or escalated", "Low scores to follow up",
                      "Suspected duplicates", "Data quality", "At-risk accounts"):  # fmt: skip
            await expect(tabs.get_by_role("link", name=label)).to_be_visible(timeout=WAIT_MS)

        # The traveller's unassigned case, in the queue of their company.
        await tabs.get_by_role("link", name="Unassigned").click()
        await page.get_by_label("Company").select_option(company)
        queue = page.get_by_role("region", name="Unassigned")
        row = queue.get_by_role("row").filter(has_text="Lost luggage at JFK")
        await expect(row).to_have_count(1, timeout=WAIT_MS)
        await expect(tabs.locator('[data-queue-count="unassigned"]')).to_have_text("1", timeout=WAIT_MS)

        # A tier the traveller is not in empties the queue; the filter is in the address.
        await page.get_by_label("Tier").select_option("gold")
        await expect(queue.get_by_text("Nothing in this queue.")).to_be_visible(timeout=WAIT_MS)
        assert "tier=gold" in page.url
        assert f"company_id={company}" in page.url
        await page.get_by_label("Tier").select_option("")
        await expect(row).to_have_count(1, timeout=WAIT_MS)

        # One click to the company page, and back to the queue and on to the traveller.
        await row.get_by_role("link").last.click()
        await expect(page.get_by_role("region", name="Account")).to_contain_text("Globex", timeout=WAIT_MS)
        await expect(page.get_by_role("region", name="Travellers")).to_contain_text(traveller.name, timeout=WAIT_MS)
        await page.go_back()
        await page.get_by_role("region", name="Unassigned").get_by_role("link", name=traveller.name).click()
        await expect(page.get_by_role("region", name="Golden record").get_by_role("table")).to_be_visible(
            timeout=WAIT_MS
        )
        assert traveller.customer_id in page.url
        assert watch.problems == []


async def test_next_best_actions_show_each_reason(browser: Browser, stack: Stack, traveller: Traveller) -> None:
    async with watched_page(browser) as (page, watch):
        await open_customer(page, stack, "dev-agent-key", traveller.customer_id)
        panel = page.get_by_role("region", name="Next best actions")
        actions = panel.locator(".next-action")
        await expect(actions.first).to_be_visible(timeout=WAIT_MS)
        # Every action says why; the facts behind it are one click away.
        count = await actions.count()
        for i in range(count):
            await expect(actions.nth(i).locator(".action-reason")).not_to_be_empty()
        await actions.first.get_by_text("Facts").click()
        await expect(actions.first.locator("dl")).to_be_visible()
        await expect(panel).not_to_contain_text("Not every service answered")
        assert watch.problems == []


async def test_dashboard_draws_its_charts_for_a_supervisor_and_is_hidden_from_agents(
    browser: Browser, stack: Stack, traveller: Traveller
) -> None:
    await company_of(stack, traveller)  # the value service knows at least this traveller
    async with watched_page(browser) as (page, watch):
        await sign_in(page, stack.console_url, "dev-agent-key")
        await expect(page.get_by_role("link", name="Dashboard")).to_be_hidden()
    async with watched_page(browser) as (page, watch):
        await sign_in(page, stack.console_url, SUPERVISOR)
        await page.get_by_role("link", name="Dashboard").click()
        distribution = page.get_by_role("region", name="Tier distribution")
        await expect(distribution.locator("canvas[data-rendered=true]")).to_have_count(1, timeout=WAIT_MS)
        await expect(distribution.get_by_role("table")).to_contain_text("regular")
        for region in ("NPS and CSAT by tier", "NPS and CSAT by month", "SLA breaches", "Churn watch list",
                       "Tier movement", "NPS and CSAT by company"):  # fmt: skip
            await expect(page.get_by_role("region", name=region).locator(".loading")).to_have_count(0, timeout=WAIT_MS)
        # The traveller's case was opened today: it is counted in the breach report of its tier.
        await expect(page.get_by_role("region", name="SLA breaches").get_by_role("table").first).to_contain_text(
            "regular", timeout=WAIT_MS
        )
        assert watch.problems == [], watch.problems
