"""What the console offers and how it says things: only what the role may do, readable validation
messages, codes with their names, where a value comes from, and a page that fits a phone.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests import builders
from tests.browser.console import (
    AGENT,
    SUPERVISOR,
    WAIT_MS,
    Stack,
    Traveller,
    customer_with_email,
    open_customer,
    sign_in,
    source_record,
    surname,
    watched_page,
)
from tests.harness import TestEnv, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.browser]

ADMIN = {"X-API-Key": "dev-admin-key"}
PHONE = {"width": 390, "height": 844}  # a common phone's CSS viewport


async def test_an_agent_is_offered_no_merge_split_or_undo_but_a_supervisor_is(browser: Browser, stack: Stack) -> None:
    family = surname()
    async with httpx.AsyncClient(base_url=stack.api["profile"], headers=SUPERVISOR, timeout=10) as client:
        keeper = await source_record(client, "Henrike", family)
        absorbed = await source_record(client, "Wendelin", surname())
        r = await client.post("/v1/merges", json={"survivor_id": keeper, "absorbed_id": absorbed})
        assert r.status_code == 201, r.text

    async with watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await open_customer(page, stack, "dev-agent-key", keeper)
        sources = page.get_by_role("region", name="Source records")
        history = page.get_by_role("region", name="History")
        await expect(sources.get_by_role("row")).to_have_count(3, timeout=WAIT_MS)  # header and two records
        await expect(history.get_by_role("row").filter(has_text="Merged")).to_have_count(1, timeout=WAIT_MS)
        assert await page.get_by_role("button", name="Merge into this traveller").count() == 0
        assert await sources.get_by_role("button", name="Split off").count() == 0
        assert await history.get_by_role("button", name="Undo merge").count() == 0
        await expect(sources).to_contain_text("A supervisor can split")

        # What an agent may do stays: compare the traveller with another one.
        compare = page.get_by_role("region", name="Compare with a suspected duplicate")
        other = await _other_traveller(stack)
        await compare.get_by_label("Other traveller id").fill(other)
        await compare.get_by_role("button", name="Compare").click()
        await expect(compare.get_by_role("table", name=f"Comparison with {other}")).to_be_visible(timeout=WAIT_MS)
        await page.get_by_role("button", name="Sign out").click()

        await open_customer(page, stack, "dev-supervisor-key", keeper)
        await expect(page.get_by_role("button", name="Merge into this traveller")).to_be_visible(timeout=WAIT_MS)
        await expect(
            page.get_by_role("region", name="Source records").get_by_role("button", name="Split off").first
        ).to_be_visible(timeout=WAIT_MS)
        await expect(
            page.get_by_role("region", name="History").get_by_role("button", name=f"Undo merge of {absorbed}")
        ).to_be_visible()
        assert watch.problems == []


async def _other_traveller(stack: Stack) -> str:
    async with httpx.AsyncClient(base_url=stack.api["profile"], headers=SUPERVISOR, timeout=10) as client:
        return await source_record(client, "Rosalind", surname())


async def test_a_signed_in_tab_learns_again_what_its_key_may_do_when_reloaded(browser: Browser, stack: Stack) -> None:
    async with watched_page(browser) as (page, watch):
        await sign_in(page, stack.console_url, "dev-supervisor-key")
        # A tab signed in before the console knew the key's roles (or whose key changed role) asks again.
        await page.evaluate("() => sessionStorage.removeItem('itinera.console.actsAs')")
        await page.reload()
        await expect(page.locator("#session-role")).to_contain_text("role: supervisor", timeout=WAIT_MS)
        acts_as = await page.evaluate("() => JSON.parse(sessionStorage.getItem('itinera.console.actsAs'))")
        assert sorted(acts_as) == ["agent", "supervisor"]
        assert watch.problems == []


READABLE = [
    ("not a valid phone number: (1) The string supplied did not seem to be a phone number.", "phone number."),
    ("not a valid phone number: (0) Missing or invalid default region.", "Not a valid phone number: add the country"),
    ("not a valid phone number: (3) The string supplied is too short to be a phone number.", "number: too short."),
    ("(4) The string supplied is too long to be a phone number.", "Not a valid phone number: too long."),
    ("not a valid phone number", "Not a valid phone number."),
    (
        "not a valid email address: The email address is not valid. It must have exactly one @-sign.",
        "Not a valid email address: it must have exactly one @-sign.",
    ),
    ("not a valid date of birth: unrecognised date format", "write it as 1984-03-27"),
    ("not a known country: unknown country", "Not a known country: use a code like DE"),
    ("String should have at most 500 characters", "Too long: at most 500 characters."),
    ("String should have at least 1 character", "Required."),
    ("Field required", "Required."),
    ("Input should be a valid time", "Enter a time as HH:MM"),
    ("Input should be 'complaint' or 'request'", "Choose complaint or request."),
    ("Value error, start and end must differ; set enabled=false for no quiet hours", "untick the box"),
    ("'7' is not a star class between 1 and 5", "'7' is not a star class between 1 and 5."),
]


async def test_validation_messages_are_put_in_words(browser: Browser, stack: Stack, traveller: Traveller) -> None:
    async with watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await sign_in(page, stack.console_url, "dev-agent-key")
        shown = await page.evaluate(
            "async (messages) => { const m = await import('/static/js/messages.js');"
            " return messages.map((text) => m.readable(text)); }",
            [raw for raw, _ in READABLE],
        )
        for (raw, expected), text in zip(READABLE, shown, strict=True):
            assert expected in text, (raw, text)
            assert "(1)" not in text
            assert "string supplied" not in text.lower()

        # The phone library's own words never reach the agent: the field says what is wrong.
        await page.goto(f"{stack.console_url}/#/customers/{traveller.customer_id}")
        golden = page.get_by_role("region", name="Golden record")
        await golden.get_by_role("button", name="Correct Phone").click()
        await golden.get_by_label("Correct value").fill("call me maybe")
        await golden.get_by_role("button", name="Save correction").click()
        error = page.locator("#correct-value-error")
        await expect(error).to_have_text("Not a valid phone number.", timeout=WAIT_MS)
        assert watch.problems == []


async def test_codes_are_shown_with_their_names(browser: Browser, stack: Stack, traveller: Traveller) -> None:
    async with watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await open_customer(page, stack, "dev-agent-key", traveller.customer_id)
        bookings = page.get_by_role("region", name="Recent bookings")
        await expect(bookings).to_contain_text("LH 400 FRA → JFK · Lufthansa", timeout=WAIT_MS)
        await expect(bookings).to_contain_text("chain MC (Marriott Hotels)")

        prefs = page.get_by_role("region", name="Preferences")
        await prefs.get_by_label("Preference", exact=True).select_option("car.vendors.preferred")
        await prefs.get_by_label("Value", exact=True).fill("ZE, SX")
        await prefs.get_by_role("button", name="Save preference").click()
        vendors = prefs.get_by_role("row").filter(has_text="car.vendors.preferred")
        await expect(vendors).to_contain_text("ZE (Hertz), SX (Sixt)", timeout=WAIT_MS)
        await page.get_by_role("button", name="Sign out").click()

        # A supervisor sees meal codes named, in the form and in the table.
        await open_customer(page, stack, "dev-supervisor-key", traveller.customer_id)
        prefs = page.get_by_role("region", name="Preferences")
        await prefs.get_by_label("Preference", exact=True).select_option("air.meal")
        meal = prefs.get_by_label("Value", exact=True)
        await expect(meal.locator("option", has_text="AVML (Asian vegetarian)")).to_have_count(1)
        await meal.select_option("AVML")
        await prefs.get_by_role("button", name="Save preference").click()
        row = prefs.get_by_role("row").filter(has_text="air.meal")
        await expect(row).to_contain_text("AVML (Asian vegetarian)", timeout=WAIT_MS)
        assert watch.problems == []


async def test_set_and_policy_values_say_where_they_come_from_not_a_confidence(
    env: TestEnv, browser: Browser, stack: Stack
) -> None:
    company = f"Initrode {surname()}"
    person = builders.traveller(given_name="Leopoldine", family_name=surname())
    await env.publish(
        "booking.events.v1",
        builders.booking_created(traveller=person, company={"name": company, "email_domain": "initrode.example"}),
    )
    async with httpx.AsyncClient(headers=AGENT, timeout=10) as client:
        cid = await customer_with_email(client, stack, person.email)
        effective = f"{stack.api['preferences']}/v1/customers/{cid}/preferences/effective"

        async def known() -> dict[str, Any] | None:
            r = await client.get(effective)
            return r.json() if r.status_code == 200 and r.json()["preferences"] else None

        company_id = (await wait_until(known))["company_id"]
        assert company_id
        r = await client.put(
            f"{stack.api['preferences']}/v1/companies/{company_id}/policy",
            headers=ADMIN,
            json={"advance_booking_days": 14},
        )
        assert r.status_code == 200, r.text
        r = await client.put(
            f"{stack.api['preferences']}/v1/customers/{cid}/preferences",
            json={"values": {"car.transmission": "automatic"}, "source": "agent"},
        )
        assert r.status_code == 200, r.text

    async with watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await open_customer(page, stack, "dev-agent-key", cid)
        prefs = page.get_by_role("region", name="Preferences")
        agent_set = prefs.get_by_role("row").filter(has_text="car.transmission")
        await expect(agent_set).to_contain_text("set by an agent", timeout=WAIT_MS)
        await expect(agent_set).to_contain_text("since")
        policy = prefs.get_by_role("row").filter(has_text="policy.advance_booking_days")
        await expect(policy).to_contain_text("company travel policy")
        inferred = prefs.get_by_role("row").filter(has_text="air.cabin.long_haul")
        await expect(inferred).to_contain_text("confidence")
        await expect(inferred).to_contain_text("observation")
        for row in (agent_set, policy):
            text = await row.inner_text()
            assert "%" not in text, text
            assert "observation" not in text, text
        assert watch.problems == []


async def _overflow(page: Page) -> dict[str, Any]:
    """How wide the page is against the viewport, and the visible text that reaches past its edges."""
    result: dict[str, Any] = await page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const outside = [];
          const hidden = ".visually-hidden, [hidden], .skip-link, thead, option";
          const check = (box, holder, text) => {
            if (box.width === 0 || box.height === 0 || (box.right <= width + 1 && box.left >= -1)) return;
            const where = `${Math.round(box.left)}-${Math.round(box.right)}`;
            outside.push(`${holder.tagName.toLowerCase()}.${holder.className} ${where} ${text.trim().slice(0, 40)}`);
          };
          // Boxes (controls, tables, images) and the text in them (a long word overflows its box).
          for (const el of document.body.querySelectorAll("*")) {
            if (!el.closest(hidden)) check(el.getBoundingClientRect(), el, el.textContent || "");
          }
          const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            if (!node.textContent.trim() || node.parentElement.closest(hidden)) continue;
            const range = document.createRange();
            range.selectNodeContents(node);
            check(range.getBoundingClientRect(), node.parentElement, node.textContent);
          }
          return { width, scrollWidth: document.documentElement.scrollWidth, outside: outside.slice(0, 15) };
        }"""
    )
    return result


async def test_the_console_fits_a_phone_screen(browser: Browser, stack: Stack, traveller: Traveller) -> None:
    async with watched_page(browser, viewport=PHONE, is_mobile=True, has_touch=True) as (page, watch):
        await sign_in(page, stack.console_url, "dev-supervisor-key")
        screens = {
            "search": (f"#/search?q={traveller.name.split()[1]}", page.get_by_role("link", name=traveller.name)),
            "traveller": (
                f"#/customers/{traveller.customer_id}",
                page.get_by_role("region", name="Messages").get_by_role("table"),
            ),
            "reviews": ("#/reviews", page.get_by_role("region", name="Waiting for a decision")),
        }
        for name, (route, ready) in screens.items():
            await page.goto(f"{stack.console_url}/{route}")
            await expect(ready).to_be_visible(timeout=WAIT_MS)
            await expect(page.locator("[aria-busy='true']")).to_have_count(0, timeout=WAIT_MS)
            measured = await _overflow(page)
            assert measured["scrollWidth"] <= measured["width"], (name, measured)
            assert measured["outside"] == [], (name, measured)

        # The confirmation dialog fits too.
        await page.goto(f"{stack.console_url}/#/customers/{traveller.customer_id}")
        merge = page.get_by_role("region", name="Merge a duplicate")
        await merge.get_by_label("Duplicate traveller id").fill(traveller.customer_id)
        await merge.get_by_role("button", name="Merge into this traveller").click()
        dialog = page.get_by_role("dialog")
        await expect(dialog).to_be_visible(timeout=WAIT_MS)
        box = await dialog.bounding_box()
        assert box is not None
        assert box["x"] >= 0, box
        assert box["x"] + box["width"] <= PHONE["width"], box
        await dialog.get_by_role("button", name="Cancel").click()
        assert watch.problems == []
