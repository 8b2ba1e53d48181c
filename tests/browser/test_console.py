"""The agent web console in a real browser (Debian's chromium), against the four real services.

The stack and the browser come from `conftest.py`; chromium does what an agent does: sign in,
search, open the 360° page and change what needs changing.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests import builders
from tests.browser.console import (
    AGENT,
    BOOKING_SYSTEM,
    SUPERVISOR,
    WAIT_MS,
    Stack,
    Traveller,
    customer_with_email,
    having,
    open_customer,
    sign_in,
    source_record,
    surname,
    watched_page,
)
from tests.harness import TestEnv, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def test_agent_signs_in_searches_and_sees_the_whole_traveller(
    browser: Browser, stack: Stack, traveller: Traveller, tmp_path: Path
) -> None:
    async with watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        # A wrong key is refused with a clear message, and nothing is kept.
        await sign_in(page, stack.console_url, "not-a-real-key", accepted=False)
        await expect(page.get_by_role("alert")).to_contain_text("That API key was not accepted", timeout=WAIT_MS)
        assert await page.evaluate("() => sessionStorage.length") == 0

        await page.get_by_label("API key").fill("dev-agent-key")
        await page.get_by_label("API key").press("Enter")  # the keyboard submits the form
        await expect(page.get_by_role("heading", name="Search travellers")).to_be_visible(timeout=WAIT_MS)
        await expect(page.locator("#session-role")).to_contain_text("Signed in · role: agent")
        # The key lives in this tab's session storage only: never in local storage, cookies or the URL.
        assert await page.evaluate("() => localStorage.length") == 0
        assert await page.context.cookies() == []
        assert "dev-agent-key" not in page.url

        await page.get_by_label("Name, email or phone").fill(traveller.name)
        await page.get_by_label("Name, email or phone").press("Enter")
        results = page.get_by_role("region", name="Results")
        await expect(results.get_by_role("link", name=traveller.name)).to_be_visible(timeout=WAIT_MS)
        await expect(results).to_contain_text(traveller.email)
        await results.get_by_role("link", name=traveller.name).click()

        # The 360° page: golden record with each field's source and last-seen date.
        await expect(page.get_by_role("heading", level=1)).to_have_text(traveller.name, timeout=WAIT_MS)
        golden = page.get_by_role("region", name="Golden record")
        email_row = golden.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Email", exact=True))
        await expect(email_row).to_contain_text(traveller.email)
        await expect(email_row).to_contain_text("acme-gds")
        await expect(email_row.locator("time")).to_have_count(1)
        name_row = golden.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Family name", exact=True))
        await expect(name_row).to_contain_text(traveller.name.split()[1])
        # Markup in a value is shown as text (the company's name under the heading).
        await expect(page.locator("main .subtitle")).to_contain_text("Globex <b>Travel</b> & Co <img src=x>")
        assert await page.locator("main b, main img[src='x']").count() == 0

        # A preference inferred from the booking, with its source.
        preferences = page.get_by_role("region", name="Preferences")
        cabin_row = preferences.get_by_role("row").filter(has_text="air.cabin")
        await expect(cabin_row.first).to_contain_text("business", timeout=WAIT_MS)
        await expect(cabin_row.first).to_contain_text("inferred")

        # The booking, and the confirmation message sent for it.
        bookings = page.get_by_role("region", name="Recent bookings")
        await expect(bookings).to_contain_text(traveller.booking_id)
        await expect(bookings).to_contain_text("LH 400 FRA → JFK")
        messages = page.get_by_role("region", name="Messages")
        await expect(messages).to_contain_text("sent", timeout=WAIT_MS)
        await expect(page.get_by_role("region", name="Source records")).to_contain_text("acme-gds")
        cases = page.get_by_role("region", name="Cases")
        await expect(cases).to_contain_text("Lost luggage at JFK")
        await expect(cases).to_contain_text("high")
        await expect(page.get_by_role("region", name="Surveys")).to_contain_text(traveller.booking_id)
        await expect(page.locator("section[aria-busy='true']")).to_have_count(0)

        await page.screenshot(path=str(tmp_path / "customer-360.png"), full_page=True)
        assert watch.problems == []

        # Signing out forgets the key.
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_label("API key")).to_be_visible()
        assert await page.evaluate("() => sessionStorage.length") == 0


async def test_a_role_without_agent_rights_is_told_it_may_not_see_travellers(
    browser: Browser, stack: Stack, traveller: Traveller
) -> None:
    async with watched_page(browser) as (page, watch):
        await sign_in(page, stack.console_url, "dev-booking-system-key")
        await expect(page.locator("#session-role")).to_contain_text("booking-system", timeout=WAIT_MS)
        # The search screen lists recently updated travellers at once: refused for this role.
        await expect(page.get_by_role("region", name="Recently updated travellers")).to_contain_text(
            "Your role may not see this", timeout=WAIT_MS
        )

        await page.goto(f"{stack.console_url}/#/customers/{traveller.customer_id}")
        for panel in (
            "Golden record", "Preferences", "Cases", "Surveys", "Messages", "Source records", "History",
            "Consents and quiet hours",
        ):  # fmt: skip
            await expect(page.get_by_role("region", name=panel)).to_contain_text(
                "Your role may not see this", timeout=WAIT_MS
            )
        assert traveller.email not in await page.locator("main").inner_text()
        assert watch.problems == []


async def test_a_service_that_does_not_answer_fails_only_its_own_panel(
    browser: Browser, stack: Stack, traveller: Traveller
) -> None:
    async with watched_page(browser) as (page, _):
        await sign_in(page, stack.degraded_console_url, "dev-agent-key")
        await page.goto(f"{stack.degraded_console_url}/#/customers/{traveller.customer_id}")
        await expect(page.get_by_role("region", name="Messages")).to_contain_text(
            "No answer from the service", timeout=WAIT_MS
        )
        await expect(page.get_by_role("region", name="Golden record")).to_contain_text(traveller.email)
        await expect(page.get_by_role("region", name="Recent bookings")).to_contain_text(traveller.booking_id)
        await expect(page.get_by_role("region", name="Cases")).to_contain_text("Lost luggage at JFK")


async def test_supervisor_accepts_a_suspected_duplicate_in_the_review_queue(browser: Browser, stack: Stack) -> None:
    family = surname()
    async with httpx.AsyncClient(base_url=stack.api["profile"], timeout=10) as client:
        ids = []
        for system, nationality in (("crm", "AT"), ("web", "Austria")):
            body = {
                "source_system": system,
                "source_id": f"{system}-{family}",
                "traveller": {"given_name": "Ingrid", "family_name": family, "nationality": nationality},
            }
            r = await client.post("/v1/source-records", json=body, headers=BOOKING_SYSTEM)
            assert r.status_code == 200, r.text
            ids.append(r.json())
    assert ids[1]["review_candidate"] == ids[0]["customer_id"]

    async with watched_page(browser) as (page, watch):
        # An agent sees the queue and the evidence, but is not offered a decision only a supervisor may take.
        await sign_in(page, stack.console_url, "dev-agent-key")
        await page.get_by_role("link", name="Review queue").click()
        card = page.get_by_role("article").filter(has_text=f"web:web-{family}")
        await expect(card).to_contain_text(ids[0]["customer_id"], timeout=WAIT_MS)
        await expect(card).to_contain_text("Waiting for a supervisor to decide")
        await expect(card.get_by_role("button", name="Compare now")).to_be_visible()
        for decision in ("Accept: merge", "Reject: keep apart"):
            assert await card.get_by_role("button", name=decision).count() == 0
        await expect(page.locator("#session-role")).to_contain_text("role: agent")

        await page.get_by_role("button", name="Sign out").click()
        await sign_in(page, stack.console_url, "dev-supervisor-key")
        await page.get_by_role("link", name="Review queue").click()
        card = page.get_by_role("article").filter(has_text=f"web:web-{family}")
        # Accepting merges two travellers: the supervisor is asked first, and may step back.
        await card.get_by_role("button", name="Accept: merge").click()
        dialog = page.get_by_role("dialog", name="Merge these two travellers?")
        await expect(dialog).to_contain_text(f"Ingrid {family}", timeout=WAIT_MS)
        await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
        await page.keyboard.press("Escape")
        await expect(dialog).to_have_count(0)
        await expect(card.get_by_role("button", name="Accept: merge")).to_be_visible()
        await card.get_by_role("button", name="Accept: merge").click()
        await page.get_by_role("dialog").get_by_role("button", name="Accept and merge").click()
        await expect(card).to_contain_text("accepted", timeout=WAIT_MS)
        await expect(card).to_contain_text("dev-supervisor")
        assert watch.problems == []

    async with httpx.AsyncClient(base_url=stack.api["profile"], headers=AGENT, timeout=10) as client:
        merged = (await client.get(f"/v1/customers/{ids[1]['customer_id']}")).json()
    assert merged["customer_id"] == ids[0]["customer_id"]


async def test_console_server_sends_its_config_and_security_headers(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.console_url, timeout=10) as client:
        page = await client.get("/")
        config = await client.get("/config.json")
        script = await client.get("/static/js/main.js")
        missing = await client.get("/static/nothing.js")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    connect = next(d for d in csp.split("; ") if d.startswith("connect-src"))
    assert set(connect.split()[1:]) == {"'self'", *stack.api.values()}
    assert "unsafe-inline" not in csp
    for response in (page, config, script, missing):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert config.json()["apis"] == stack.api
    assert config.json()["permissions"]["merge"] == ["supervisor"]
    assert "javascript" in script.headers["content-type"]
    assert missing.status_code == 404


# --- editing from the console ----------------------------------------------------------------------


async def test_agent_corrects_a_golden_field_and_sees_it_in_the_history(
    browser: Browser, stack: Stack, traveller: Traveller
) -> None:
    async with watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await open_customer(page, stack, "dev-agent-key", traveller.customer_id)
        golden = page.get_by_role("region", name="Golden record")
        await golden.get_by_role("button", name="Correct Nationality").click()
        value = golden.get_by_label("Correct value")
        await expect(value).to_be_focused()

        # Too long a value: the service's validation error is shown on the field itself.
        await value.fill("X" * 501)
        await golden.get_by_role("button", name="Save correction").click()
        await expect(value).to_have_attribute("aria-invalid", "true", timeout=WAIT_MS)
        error = page.locator("#correct-value-error")
        await expect(error).to_contain_text("at most 500 characters")
        assert "correct-value-error" in (await value.get_attribute("aria-describedby") or "")

        # A value that is not what the field holds: the service's reason, on the field.
        await value.fill("Atlantis")
        await golden.get_by_role("button", name="Save correction").click()
        await expect(page.locator("#correct-value-error")).to_contain_text("Not a known country", timeout=WAIT_MS)

        await value.fill("CH")
        await value.press("Enter")  # the keyboard submits the form
        await expect(golden.get_by_role("status")).to_contain_text("Nationality corrected", timeout=WAIT_MS)
        row = golden.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Nationality", exact=True))
        await expect(row).to_contain_text("CH")
        await expect(row).to_contain_text("agent-correction")
        await expect(page.locator("#correct-value-error")).to_have_count(0)
        # The outcome is put into the panel's live region, so screen-reader users hear it.
        assert await golden.locator(".panel-status").get_attribute("aria-live") == "polite"

        history = page.get_by_role("region", name="History")
        corrected = history.get_by_role("row").filter(has_text="Field corrected")
        await expect(corrected.first).to_contain_text("Nationality: CH", timeout=WAIT_MS)
        await expect(corrected.first).to_contain_text("dev-agent")

        # Withdrawn, the field follows the sources again.
        await golden.get_by_role("button", name="Withdraw the correction of Nationality").click()
        status = golden.get_by_role("status")
        await expect(status).to_contain_text("Correction of Nationality withdrawn", timeout=WAIT_MS)
        await expect(row).not_to_contain_text("agent-correction", timeout=WAIT_MS)
        withdrawn = history.get_by_role("row").filter(has_text="Correction withdrawn")
        await expect(withdrawn.first).to_contain_text("Nationality (was CH)", timeout=WAIT_MS)
        assert watch.problems == []


async def test_supervisor_compares_merges_undoes_and_splits_each_after_confirming(
    browser: Browser, stack: Stack
) -> None:
    family = surname()
    async with httpx.AsyncClient(base_url=stack.api["profile"], headers=SUPERVISOR, timeout=10) as client:
        keeper = await source_record(client, "Konstantin", family)
        duplicate = await source_record(client, "Bartholomew", surname())
        another = await source_record(client, "Philippa", surname())
    assert len({keeper, duplicate, another}) == 3

    async with watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await open_customer(page, stack, "dev-supervisor-key", keeper)
        merge = page.get_by_role("region", name="Merge a duplicate")
        sources = page.get_by_role("region", name="Source records")
        history = page.get_by_role("region", name="History")
        await merge.get_by_label("Duplicate traveller id").fill(duplicate)
        await merge.get_by_role("button", name="Compare").click()
        comparison = merge.get_by_role("table", name=f"Comparison with {duplicate}")
        await expect(comparison).to_be_visible(timeout=WAIT_MS)
        await expect(comparison.get_by_role("row").filter(has_text="Given")).to_contain_text("konstantin")

        # Merging asks first, naming both travellers; Cancel changes nothing.
        await merge.get_by_role("button", name="Merge into this traveller").click()
        dialog = page.get_by_role("dialog")
        await expect(dialog).to_contain_text("Merge Bartholomew", timeout=WAIT_MS)
        await expect(dialog).to_contain_text(f"into Konstantin {family}")
        await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
        await dialog.get_by_role("button", name="Cancel").click()
        await expect(dialog).to_have_count(0)
        await expect(page.locator("#live")).to_contain_text("nothing was changed")
        await expect(sources.get_by_role("row")).to_have_count(2)  # header and its own record: not merged
        await merge.get_by_role("button", name="Merge into this traveller").click()
        await page.get_by_role("dialog").get_by_role("button", name="Merge", exact=True).click()
        await expect(merge.get_by_role("status")).to_contain_text(f"{duplicate} was merged", timeout=WAIT_MS)
        await expect(sources.get_by_role("row")).to_have_count(3, timeout=WAIT_MS)  # header and two records

        # Undoing asks too.
        await history.get_by_role("button", name=f"Undo merge of {duplicate}").click()
        dialog = page.get_by_role("dialog", name=f"Undo the merge of {duplicate}?")
        await expect(dialog).to_be_visible(timeout=WAIT_MS)
        await dialog.get_by_role("button", name="Undo merge").click()
        await expect(history.get_by_role("status")).to_contain_text("Merge undone", timeout=WAIT_MS)
        await expect(history.get_by_role("row").filter(has_text="Merge undone")).to_have_count(1)
        await expect(sources.get_by_role("row")).to_have_count(2, timeout=WAIT_MS)

        # Another duplicate merged in, then its record split off again into a traveller of its own: asked first.
        await merge.get_by_label("Duplicate traveller id").fill(another)
        await merge.get_by_role("button", name="Merge into this traveller").click()
        await page.get_by_role("dialog").get_by_role("button", name="Merge", exact=True).click()
        await expect(merge.get_by_role("status")).to_contain_text(f"{another} was merged", timeout=WAIT_MS)
        record = "crm:crm-philippa-"
        split = sources.get_by_role("button", name=re.compile(f"Split off {re.escape(record)}"))
        await split.click()
        dialog = page.get_by_role("dialog", name=re.compile(f"Split {re.escape(record)}"))
        await expect(dialog).to_contain_text("becomes a traveller of its own", timeout=WAIT_MS)
        await dialog.get_by_role("button", name="Split off").click()
        await expect(sources.get_by_role("status")).to_contain_text("is now traveller", timeout=WAIT_MS)
        await expect(sources.get_by_role("row")).to_have_count(2, timeout=WAIT_MS)
        await expect(history.get_by_role("row").filter(has_text="Record split off")).to_have_count(1, timeout=WAIT_MS)
        await sources.get_by_role("link", name="Open the new traveller").click()
        await expect(page.get_by_role("heading", level=1)).to_contain_text("Philippa", timeout=WAIT_MS)
        assert watch.problems == []

    async with httpx.AsyncClient(base_url=stack.api["profile"], headers=AGENT, timeout=10) as client:
        restored = (await client.get(f"/v1/customers/{duplicate}")).json()
    assert restored["customer_id"] == duplicate  # the undone merge gave it back its own id


async def test_preferences_are_edited_with_the_services_validation_and_sensitive_needs_stay_with_supervisors(
    browser: Browser, stack: Stack, traveller: Traveller
) -> None:
    async with watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await open_customer(page, stack, "dev-agent-key", traveller.customer_id)
        prefs = page.get_by_role("region", name="Preferences")
        key = prefs.get_by_label("Preference", exact=True)
        await expect(key).to_be_visible(timeout=WAIT_MS)
        # Agents are not offered sensitive needs.
        assert await key.locator("option", has_text="Dietary needs").count() == 0

        await key.select_option("hotel.star_min")
        await prefs.get_by_label("Value", exact=True).fill("7")
        await prefs.get_by_role("button", name="Save preference").click()
        await expect(prefs.get_by_label("Value", exact=True)).to_have_attribute("aria-invalid", "true", timeout=WAIT_MS)
        await expect(page.locator("#pref-value-error")).to_contain_text("between 1 and 5")

        await prefs.get_by_label("Value", exact=True).fill("4")
        await prefs.get_by_role("button", name="Save preference").click()
        await expect(prefs.get_by_role("status")).to_contain_text("Minimum hotel star class saved", timeout=WAIT_MS)
        row = prefs.get_by_role("row").filter(has_text="hotel.star_min")
        await expect(row).to_contain_text("4", timeout=WAIT_MS)
        await expect(row).to_contain_text("set by an agent")
        # Provenance of the inferred cabin stays visible beside it.
        await expect(prefs.get_by_role("row").filter(has_text="air.cabin").first).to_contain_text(
            "inferred from bookings"
        )
        # Where the inferred cabin comes from: the booking it rests on.
        await prefs.get_by_role("button", name="Why Cabin on long-haul flights?").click()
        why = prefs.get_by_role("group", name="Why Cabin on long-haul flights")
        await expect(why).to_contain_text("recent observations agree", timeout=WAIT_MS)
        await expect(why).to_contain_text(traveller.booking_id)

        # "Change" puts the current value in the form; "Clear" hands the key back to inference.
        await row.get_by_role("button", name="Change Minimum hotel star class").click()
        await expect(prefs.get_by_label("Value", exact=True)).to_have_value("4")
        await expect(prefs.get_by_label("Value", exact=True)).to_be_focused()
        await row.get_by_role("button", name="Clear Minimum hotel star class").click()
        await expect(prefs.get_by_role("status")).to_contain_text("cleared", timeout=WAIT_MS)
        # The booking's own evidence applies again.
        await expect(prefs.get_by_role("row").filter(has_text="hotel.star_min")).to_contain_text(
            "inferred from bookings", timeout=WAIT_MS
        )
        await page.get_by_role("button", name="Sign out").click()

        # A supervisor records a dietary need and sees it; an agent sees only that one is hidden.
        await open_customer(page, stack, "dev-supervisor-key", traveller.customer_id)
        prefs = page.get_by_role("region", name="Preferences")
        await prefs.get_by_label("Preference", exact=True).select_option("needs.dietary")
        await prefs.get_by_label("Value", exact=True).fill("vegetarian")
        await prefs.get_by_label("Source", exact=True).select_option("stated")
        await prefs.get_by_role("button", name="Save preference").click()
        dietary = prefs.get_by_role("row").filter(has_text="needs.dietary")
        await expect(dietary).to_contain_text("vegetarian", timeout=WAIT_MS)
        await expect(dietary).to_contain_text("sensitive")
        await expect(dietary).to_contain_text("stated by the traveller")
        await page.get_by_role("button", name="Sign out").click()

        # Opening the page again, a supervisor asks to see the sensitive needs (the service audits that).
        await open_customer(page, stack, "dev-supervisor-key", traveller.customer_id)
        prefs = page.get_by_role("region", name="Preferences")
        await prefs.get_by_role("button", name="Show sensitive needs").click()
        await expect(prefs.get_by_role("row").filter(has_text="needs.dietary")).to_contain_text(
            "vegetarian", timeout=WAIT_MS
        )
        await page.get_by_role("button", name="Sign out").click()

        await open_customer(page, stack, "dev-agent-key", traveller.customer_id)
        prefs = page.get_by_role("region", name="Preferences")
        await expect(prefs).to_contain_text("hidden", timeout=WAIT_MS)
        assert await prefs.get_by_role("button", name="Show sensitive needs").count() == 0
        await expect(prefs).to_contain_text(re.compile(r"\d+ sensitive preferences? hidden"), timeout=WAIT_MS)
        assert "vegetarian" not in await prefs.inner_text()
        assert watch.problems == []


async def test_agent_edits_consents_and_quiet_hours(browser: Browser, stack: Stack, traveller: Traveller) -> None:
    async with watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await open_customer(page, stack, "dev-agent-key", traveller.customer_id)
        panel = page.get_by_role("region", name="Consents and quiet hours")
        marketing = panel.get_by_role("checkbox", name="Marketing messages by email")
        await expect(marketing).not_to_be_checked(timeout=WAIT_MS)  # marketing needs an opt-in
        await marketing.check()
        await expect(panel.get_by_role("status")).to_contain_text(
            "Marketing messages by email: allowed", timeout=WAIT_MS
        )
        await expect(panel.get_by_role("checkbox", name="Marketing messages by email")).to_be_checked()

        # An empty window is refused by the service, and the reason is shown.
        await panel.get_by_label("From (traveller's local time)").fill("21:00")
        await panel.get_by_label("Until").fill("21:00")
        await panel.get_by_role("button", name="Save quiet hours").click()
        await expect(panel.get_by_role("alert")).to_contain_text("Start and end must differ", timeout=WAIT_MS)

        await panel.get_by_label("Until").fill("06:30")
        await panel.get_by_role("button", name="Save quiet hours").click()
        await expect(panel.get_by_role("status")).to_contain_text("Quiet hours saved: 21:00–06:30", timeout=WAIT_MS)
        await expect(panel).to_contain_text("Set by dev-agent (agent)")
        assert watch.problems == []

    async with httpx.AsyncClient(base_url=stack.api["notifications"], headers=AGENT, timeout=10) as client:
        consents = (await client.get(f"/v1/customers/{traveller.customer_id}/consents")).json()
        quiet = (await client.get(f"/v1/customers/{traveller.customer_id}/quiet-hours")).json()
    assert {
        "purpose": "marketing",
        "channel": "email",
        "allowed": True,
        "explicit": True,
        "decided_in": "consents",
    } in consents["effective"]
    assert (quiet["start"], quiet["end"]) == ("21:00:00", "06:30:00")


async def test_agent_opens_and_works_a_case_and_only_a_supervisor_is_offered_closing_it(
    browser: Browser, stack: Stack, traveller: Traveller
) -> None:
    subject = f"Refund for {surname()}"
    async with watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await open_customer(page, stack, "dev-agent-key", traveller.customer_id)
        opening = page.get_by_role("form", name="Open a case")
        # No subject: the service's validation error is shown on the field.
        await opening.get_by_role("button", name="Open case").click()
        await expect(opening.get_by_label("Subject")).to_have_attribute("aria-invalid", "true", timeout=WAIT_MS)
        await expect(page.locator("#new-case-subject-error")).to_have_text("Required.")
        await opening.get_by_label("Subject").fill(subject)
        await opening.get_by_label("Priority").select_option("high")
        await opening.get_by_role("button", name="Open case").click()
        await expect(page.get_by_role("region", name="Cases").get_by_role("status")).to_contain_text(
            f"Case “{subject}” opened", timeout=WAIT_MS
        )
        case = page.get_by_role("article", name=subject)
        await expect(case).to_contain_text("First response: due", timeout=WAIT_MS)
        await expect(case).to_contain_text("Resolution: due")
        await case.get_by_role("button", name="Assign to me").click()
        await expect(case.get_by_label("Assignee")).to_have_value("dev-agent")
        await case.get_by_label("Status").select_option("in_progress")
        await case.get_by_label("Note").fill("Asked the airline for the refund.")
        await case.get_by_role("button", name="Save changes").click()
        case = page.get_by_role("article", name=subject)
        await expect(case).to_contain_text("assigned to dev-agent", timeout=WAIT_MS)
        await expect(case).to_contain_text("in progress")
        await expect(case).to_contain_text("First response: done")
        await expect(case.get_by_role("table", name="Case history")).to_contain_text(
            "Asked the airline for the refund."
        )

        # Closing is for supervisors: an agent is not offered it.
        statuses = await case.get_by_label("Status").locator("option").all_inner_texts()
        assert "Resolved" in statuses
        assert not any("Closed" in s for s in statuses), statuses

        await case.get_by_label("Note").fill("Refund received.")
        await case.get_by_role("button", name="Resolve").click()
        case = page.get_by_role("article", name=subject)
        await expect(case).to_contain_text("resolved", timeout=WAIT_MS)
        await expect(case).to_contain_text("Resolution: done")
        await page.get_by_role("button", name="Sign out").click()

        await open_customer(page, stack, "dev-supervisor-key", traveller.customer_id)
        cases = page.get_by_role("region", name="Cases")
        await cases.get_by_text("resolved or closed case").click()  # the closed and resolved ones are folded away
        case = cases.get_by_role("article", name=subject)
        await expect(case.get_by_label("Status").locator("option", has_text="Closed")).to_have_count(1)
        await case.get_by_label("Status").select_option("closed")
        await case.get_by_role("button", name="Save changes").click()
        await expect(page.get_by_role("region", name="Cases").get_by_role("status")).to_contain_text(
            "Closed", timeout=WAIT_MS
        )
        assert watch.problems == []


async def test_agent_records_the_travellers_answer_to_an_inferred_preference(
    env: TestEnv, browser: Browser, stack: Stack
) -> None:
    person = builders.traveller(given_name="Severin", family_name=surname())
    traveller_id = f"T-{surname()}"
    for _ in range(2):  # two bookings alike: the inference is likely, but not sure enough to use unasked
        await env.publish("booking.events.v1", builders.booking_created(traveller=person, traveller_id=traveller_id))

    async with httpx.AsyncClient(headers=AGENT, timeout=10) as client:
        cid = await customer_with_email(client, stack, person.email)

        async def asked() -> set[str]:
            url = f"{stack.api['preferences']}/v1/customers/{cid}/preferences/confirmations"
            r = await client.get(url)
            return {c["key"] for c in r.json() if c["status"] == "pending"} if r.status_code == 200 else set()

        pending: set[str] = await wait_until(lambda: having(asked, {"air.cabin.long_haul", "air.seat.long_haul"}))

    async with watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await open_customer(page, stack, "dev-agent-key", cid)
        prefs = page.get_by_role("region", name="Preferences")
        questions = prefs.get_by_role("list").filter(has=page.get_by_role("button", name="Traveller confirms"))
        await expect(questions.get_by_role("listitem")).to_have_count(len(pending), timeout=WAIT_MS)
        first = questions.get_by_role("listitem").first
        await expect(first).to_contain_text("Answer link for the traveller works until")

        await prefs.get_by_role("button", name="Traveller confirms Cabin on long-haul flights").click()
        await expect(prefs.get_by_role("status")).to_contain_text("confirmed, now stated", timeout=WAIT_MS)
        cabin = prefs.get_by_role("row").filter(has_text="air.cabin.long_haul")
        await expect(cabin).to_contain_text("stated by the traveller", timeout=WAIT_MS)
        await expect(cabin).to_contain_text("business")

        await prefs.get_by_role("button", name="Traveller declines Seat position on long-haul flights").click()
        await expect(prefs.get_by_role("status")).to_contain_text("declined, no longer used", timeout=WAIT_MS)
        await expect(questions.get_by_role("listitem")).to_have_count(len(pending) - 2, timeout=WAIT_MS)
        assert watch.problems == []


async def test_agent_confirms_and_rejects_inferred_preferences_nobody_was_asked_about(
    env: TestEnv, browser: Browser, stack: Stack
) -> None:
    person = builders.traveller(given_name="Ludmila", family_name=surname())
    await env.publish("booking.events.v1", builders.booking_created(traveller=person))  # one booking: nothing asked

    async with httpx.AsyncClient(headers=AGENT, timeout=10) as client:
        cid = await customer_with_email(client, stack, person.email)
        preferences = f"{stack.api['preferences']}/v1/customers/{cid}/preferences"

        async def inferred() -> set[str]:
            r = await client.get(f"{preferences}/effective")
            items = r.json()["preferences"] if r.status_code == 200 else []
            return {p["key"] for p in items if p["source"] == "inferred"}

        await wait_until(lambda: having(inferred, {"air.cabin.long_haul", "air.seat.long_haul"}))

    async with watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await open_customer(page, stack, "dev-agent-key", cid)
        prefs = page.get_by_role("region", name="Preferences")
        cabin = prefs.get_by_role("row").filter(has_text="air.cabin.long_haul")
        await expect(cabin).to_contain_text("inferred from bookings", timeout=WAIT_MS)
        assert await prefs.get_by_role("button", name="Traveller confirms").count() == 0  # no question pending

        await cabin.get_by_role("button", name="Confirm Cabin on long-haul flights").click()
        await expect(prefs.get_by_role("status")).to_contain_text("confirmed, now set by an agent", timeout=WAIT_MS)
        await expect(cabin).to_contain_text("set by an agent", timeout=WAIT_MS)
        await expect(cabin).to_contain_text("business")
        # Now explicit: it can be cleared, no longer confirmed.
        await expect(cabin.get_by_role("button", name="Clear Cabin on long-haul flights")).to_be_visible()
        assert await cabin.get_by_role("button", name="Confirm Cabin on long-haul flights").count() == 0

        seat = prefs.get_by_role("row").filter(has_text="air.seat.long_haul")
        await seat.get_by_role("button", name="Reject Seat position on long-haul flights").click()
        await expect(prefs.get_by_role("status")).to_contain_text("rejected", timeout=WAIT_MS)
        await expect(seat).to_have_count(0, timeout=WAIT_MS)
        assert watch.problems == []

    async with httpx.AsyncClient(headers=AGENT, timeout=10) as client:
        r = await client.get(f"{preferences}/explain", params={"key": "air.seat.long_haul"})
        assert r.json()["explanations"][0]["declined"] == ["window"]


async def test_supervisor_compares_a_suspected_duplicate_again_and_keeps_them_apart(
    browser: Browser, stack: Stack
) -> None:
    family = surname()
    async with httpx.AsyncClient(base_url=stack.api["profile"], headers=SUPERVISOR, timeout=10) as client:
        ids = []
        for system, nationality in (("crm", "NL"), ("web", "Netherlands")):
            body = {
                "source_system": system,
                "source_id": f"{system}-{family}",
                "traveller": {"given_name": "Maarten", "family_name": family, "nationality": nationality},
            }
            r = await client.post("/v1/source-records", json=body, headers=BOOKING_SYSTEM)
            assert r.status_code == 200, r.text
            ids.append(r.json())
    assert ids[1]["review_candidate"] == ids[0]["customer_id"]

    async with watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await sign_in(page, stack.console_url, "dev-supervisor-key")
        await page.get_by_role("link", name="Review queue").click()
        card = page.get_by_role("article").filter(has_text=f"web:web-{family}")
        await expect(card.get_by_role("table", name=re.compile("Field comparison"))).to_contain_text(
            "Family", timeout=WAIT_MS
        )
        await card.get_by_role("button", name="Compare now").click()
        now = card.get_by_role("table", name=re.compile("Current comparison"))
        await expect(now).to_contain_text(family.lower(), timeout=WAIT_MS)
        await card.get_by_role("button", name="Reject: keep apart").click()
        await expect(card).to_contain_text("rejected", timeout=WAIT_MS)
        await expect(card).to_contain_text("dev-supervisor")
        await expect(page.locator("#live")).to_contain_text("the travellers stay apart")
        assert watch.problems == []

    async with httpx.AsyncClient(base_url=stack.api["profile"], headers=AGENT, timeout=10) as client:
        apart = (await client.get(f"/v1/customers/{ids[1]['customer_id']}")).json()
    assert apart["customer_id"] == ids[1]["customer_id"]


async def test_agent_opens_a_trip_from_the_traveller_and_reads_its_timeline(
    browser: Browser, stack: Stack, traveller: Traveller
) -> None:
    async with watched_page(browser) as (page, watch):
        await open_customer(page, stack, "dev-agent-key", traveller.customer_id)
        trips = page.get_by_role("region", name="Trips", exact=True)
        await expect(trips.get_by_role("link")).to_have_count(1, timeout=WAIT_MS)
        await expect(trips).to_contain_text("Completed")
        await trips.get_by_role("link").click()

        await expect(page.get_by_role("heading", level=1)).to_have_text("Trip", timeout=WAIT_MS)
        await expect(page.get_by_role("region", name="Trip", exact=True)).to_contain_text(traveller.booking_id)
        timeline = page.get_by_role("region", name="Timeline")
        await expect(timeline).to_contain_text(f"Booked: acme-gds:{traveller.booking_id}", timeout=WAIT_MS)
        await expect(timeline).to_contain_text("Survey created for the trip", timeout=WAIT_MS)
        await expect(page.get_by_role("region", name="Journeys")).to_contain_text("pre_trip")
        await page.get_by_role("link", name="← The traveller").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(traveller.name, timeout=WAIT_MS)
        assert watch.problems == []
