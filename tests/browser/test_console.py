"""The agent web console in a real browser (Debian's chromium), against the four real services.

The four services run in-process on the real broker and database, each API served by uvicorn
on a free loopback port with CORS open to the console's origin; the console is served the same
way, pointed at them. Chromium then does what an agent does: sign in, search, open the 360° page.
"""

from __future__ import annotations

import asyncio
import random
import re
import shutil
import socket
import string
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from services.console.app import create_console_app
from services.console.settings import ConsoleSettings
from services.feedback.bootstrap import build_definition as feedback_definition
from services.feedback.entrypoints.api import create_feedback_app
from services.feedback.settings import FeedbackSettings
from services.kit.runtime import ServiceRuntime
from services.notifications.bootstrap import build_definition as notifications_definition
from services.notifications.entrypoints.api import create_notifications_app
from services.notifications.settings import NotificationsSettings
from services.preferences.bootstrap import build_definition as preferences_definition
from services.preferences.entrypoints.api import create_preferences_app
from services.preferences.settings import PreferencesSettings
from services.profile.bootstrap import build_definition as profile_definition
from services.profile.entrypoints.api import create_profile_app
from services.profile.settings import ProfileSettings
from tests import builders
from tests.harness import SmtpServer, TestEnv, wait_until

pytest.importorskip("playwright.async_api", reason="the browser tests need the playwright package")
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AGENT = {"X-API-Key": "dev-agent-key"}
SUPERVISOR = {"X-API-Key": "dev-supervisor-key"}
WAIT_MS = 20_000  # how long the browser waits for an element (a wait, not a timing assertion)


def _surname() -> str:
    """A family name no other test uses."""
    return "".join(random.choices(string.ascii_lowercase, k=8)).capitalize()


def _bound_socket() -> socket.socket:
    """A listening-ready socket on a free loopback port (handed to uvicorn, so no port race)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _url(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@asynccontextmanager
async def _serve(app: FastAPI, sock: socket.socket) -> AsyncIterator[None]:
    """Serve an ASGI app with uvicorn on `sock` in this event loop for the duration of the block."""
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", ws="none", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await wait_until(lambda: server.started or task.done(), timeout=15)
    if task.done():
        task.result()  # raises the reason it did not start
    try:
        yield
    finally:
        server.should_exit = True
        await task


@dataclass
class Stack:
    console_url: str
    api: dict[str, str]  # service name -> base URL
    degraded_console_url: str  # a second console whose notifications API never answers


@pytest.fixture(scope="module")
async def stack(env: TestEnv, smtp: SmtpServer) -> AsyncIterator[Stack]:
    """The four services (workers and HTTP APIs) and the console, each on its own loopback port."""
    names = ("console", "degraded-console", "dead", "profile", "preferences", "feedback", "notifications")
    sockets = {name: _bound_socket() for name in names}  # "dead" is bound but never listens: refused
    origin = _url(sockets["console"])
    cors = {"cors_origins": [origin, _url(sockets["degraded-console"])]}
    definitions = {
        "profile": profile_definition(env.settings(ProfileSettings, **cors)),
        "preferences": preferences_definition(env.settings(PreferencesSettings, **cors)),
        "feedback": feedback_definition(env.settings(FeedbackSettings, **cors)),
        "notifications": notifications_definition(
            env.settings(NotificationsSettings, smtp_port=smtp.port, dispatch_poll_seconds=0.2, **cors)
        ),
    }
    factories = {
        "profile": create_profile_app,
        "preferences": create_preferences_app,
        "feedback": create_feedback_app,
        "notifications": create_notifications_app,
    }
    async with AsyncExitStack() as exits:
        for sock in sockets.values():
            exits.callback(sock.close)
        api: dict[str, str] = {}
        for name, definition in definitions.items():
            runtime: ServiceRuntime = await exits.enter_async_context(env.running(definition))
            app = factories[name](runtime, False)
            app.state.runtime = runtime  # lifespan is off: the runtime is already started
            await exits.enter_async_context(_serve(app, sockets[name]))
            api[name] = _url(sockets[name])
        for console, notifications in (("console", api["notifications"]), ("degraded-console", _url(sockets["dead"]))):
            settings = ConsoleSettings(
                profile_url=api["profile"],
                preferences_url=api["preferences"],
                feedback_url=api["feedback"],
                notifications_url=notifications,
            )
            await exits.enter_async_context(_serve(create_console_app(settings), sockets[console]))
        yield Stack(console_url=origin, api=api, degraded_console_url=_url(sockets["degraded-console"]))


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, driven by Playwright (no browser download: the system executable)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed (Debian package 'chromium')")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Traveller:
    customer_id: str
    name: str
    email: str
    booking_id: str


@pytest.fixture(scope="module")
async def traveller(env: TestEnv, smtp: SmtpServer, stack: Stack) -> Traveller:
    """A booking published to Kafka, followed until every service the 360° page asks knows its traveller."""
    family = _surname()
    created = builders.booking_created(
        # Own phone and birth date too, so no other test's traveller is resolved to the same person.
        traveller=builders.traveller(
            given_name="Ottilie",
            family_name=family,
            phone=f"+49 89 {random.randrange(1_000_000, 9_999_999)}",
            date_of_birth=f"19{random.randrange(50, 99)}-0{random.randrange(1, 9)}-1{random.randrange(0, 9)}",
        ),
        # Markup in data must reach the page as text, never as markup.
        company={"name": "Globex <b>Travel</b> & Co <img src=x>", "email_domain": "globex.example"},
    )
    email = created.payload.traveller.email
    assert email is not None
    await env.publish("booking.events.v1", created)
    await smtp.wait_for(lambda m: created.payload.booking_id in str(m["Subject"]))

    async with httpx.AsyncClient(headers=AGENT, timeout=10) as client:
        cid = await _customer_with_email(client, stack, email)

        async def inferred_cabin() -> bool:
            r = await client.get(f"{stack.api['preferences']}/v1/customers/{cid}/preferences/effective")
            return r.status_code == 200 and any(p["key"].startswith("air.cabin") for p in r.json()["preferences"])

        async def sent() -> bool:
            r = await client.get(f"{stack.api['notifications']}/v1/deliveries", params={"customer_id": cid})
            return r.status_code == 200 and any(d["status"] == "sent" for d in r.json()["items"])

        await wait_until(inferred_cabin)
        await wait_until(sent)

        # The trip completes (a survey invitation follows) and an agent opens a case.
        await env.publish("booking.events.v1", builders.trip_completed(created))

        async def surveyed() -> bool:
            r = await client.get(f"{stack.api['feedback']}/v1/customers/{cid}/surveys")
            return r.status_code == 200 and bool(r.json()["items"])

        await wait_until(surveyed)
        case = {"customer_id": cid, "subject": "Lost luggage at JFK", "priority": "high"}
        r = await client.post(f"{stack.api['feedback']}/v1/cases", json=case)
        assert r.status_code == 201, r.text
    return Traveller(customer_id=cid, name=f"Ottilie {family}", email=email, booking_id=created.payload.booking_id)


class Watch:
    """Collects what the page reports: script errors and Content-Security-Policy violations."""

    def __init__(self, page: Page) -> None:
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        # The browser logs every 4xx answer as "Failed to load resource"; those are expected here.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(message.text)


@asynccontextmanager
async def _watched_page(browser: Browser, **context_options: Any) -> AsyncIterator[tuple[Page, Watch]]:
    """A page in a browser context of its own, with what it reports collected; closed afterwards."""
    context = await browser.new_context(**context_options)
    try:
        page = await context.new_page()
        yield page, Watch(page)
    finally:
        await context.close()


async def _sign_in(page: Page, console_url: str, key: str, *, accepted: bool = True) -> None:
    await page.goto(console_url + "/")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    if accepted:  # the console has moved on to the search screen
        await expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=WAIT_MS)


async def test_agent_signs_in_searches_and_sees_the_whole_traveller(
    browser: Browser, stack: Stack, traveller: Traveller, tmp_path: Path
) -> None:
    async with _watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        # A wrong key is refused with a clear message, and nothing is kept.
        await _sign_in(page, stack.console_url, "not-a-real-key", accepted=False)
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
    async with _watched_page(browser) as (page, watch):
        await _sign_in(page, stack.console_url, "dev-booking-system-key")
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
    async with _watched_page(browser) as (page, _):
        await _sign_in(page, stack.degraded_console_url, "dev-agent-key")
        await page.goto(f"{stack.degraded_console_url}/#/customers/{traveller.customer_id}")
        await expect(page.get_by_role("region", name="Messages")).to_contain_text(
            "No answer from the service", timeout=WAIT_MS
        )
        await expect(page.get_by_role("region", name="Golden record")).to_contain_text(traveller.email)
        await expect(page.get_by_role("region", name="Recent bookings")).to_contain_text(traveller.booking_id)
        await expect(page.get_by_role("region", name="Cases")).to_contain_text("Lost luggage at JFK")


async def test_supervisor_accepts_a_suspected_duplicate_in_the_review_queue(browser: Browser, stack: Stack) -> None:
    family = _surname()
    async with httpx.AsyncClient(base_url=stack.api["profile"], timeout=10) as client:
        ids = []
        for system, nationality in (("crm", "AT"), ("web", "Austria")):
            body = {
                "source_system": system,
                "source_id": f"{system}-{family}",
                "traveller": {"given_name": "Ingrid", "family_name": family, "nationality": nationality},
            }
            r = await client.post("/v1/source-records", json=body, headers=SUPERVISOR)
            assert r.status_code == 200, r.text
            ids.append(r.json())
    assert ids[1]["review_candidate"] == ids[0]["customer_id"]

    async with _watched_page(browser) as (page, watch):
        # An agent sees the queue but may not decide.
        await _sign_in(page, stack.console_url, "dev-agent-key")
        await page.get_by_role("link", name="Review queue").click()
        card = page.get_by_role("article").filter(has_text=f"web:web-{family}")
        await expect(card).to_contain_text(ids[0]["customer_id"], timeout=WAIT_MS)
        await card.get_by_role("button", name="Accept: merge").click()
        await expect(card.get_by_role("alert")).to_contain_text(
            "Your role cannot decide suggested duplicates", timeout=WAIT_MS
        )
        await expect(page.locator("#session-role")).to_contain_text("role: agent")

        await page.get_by_role("button", name="Sign out").click()
        await _sign_in(page, stack.console_url, "dev-supervisor-key")
        await page.get_by_role("link", name="Review queue").click()
        card = page.get_by_role("article").filter(has_text=f"web:web-{family}")
        await card.get_by_role("button", name="Accept: merge").click()
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
    assert config.json() == {"apis": stack.api}
    assert "javascript" in script.headers["content-type"]
    assert missing.status_code == 404


# --- editing from the console ----------------------------------------------------------------------


async def _open_customer(page: Page, stack: Stack, key: str, customer_id: str) -> None:
    """Sign in with `key` and open the traveller's 360° page once its golden record is shown."""
    await _sign_in(page, stack.console_url, key)
    await page.goto(f"{stack.console_url}/#/customers/{customer_id}")
    await expect(page.get_by_role("region", name="Golden record").get_by_role("table")).to_be_visible(timeout=WAIT_MS)


async def _source_record(client: httpx.AsyncClient, given: str, family: str) -> str:
    """A traveller of its own, created through profile's source-record API; returns the customer id."""
    body = {
        "source_system": "crm",
        "source_id": f"crm-{given}-{family}".lower(),
        "traveller": {"given_name": given, "family_name": family, "email": f"{given}.{family}@initech.example".lower()},
    }
    r = await client.post("/v1/source-records", json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["customer_id"])


async def test_agent_corrects_a_golden_field_and_sees_it_in_the_history(
    browser: Browser, stack: Stack, traveller: Traveller
) -> None:
    async with _watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await _open_customer(page, stack, "dev-agent-key", traveller.customer_id)
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
        await expect(page.locator("#correct-value-error")).to_contain_text("not a known country", timeout=WAIT_MS)

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


async def test_supervisor_merges_compares_undoes_and_splits_while_an_agent_may_not(
    browser: Browser, stack: Stack
) -> None:
    family = _surname()
    async with httpx.AsyncClient(base_url=stack.api["profile"], headers=SUPERVISOR, timeout=10) as client:
        keeper = await _source_record(client, "Konstantin", family)
        duplicate = await _source_record(client, "Bartholomew", _surname())
        another = await _source_record(client, "Philippa", _surname())
    assert len({keeper, duplicate, another}) == 3

    async with _watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        # An agent is told, in words, that merging needs another role.
        await _open_customer(page, stack, "dev-agent-key", keeper)
        merge = page.get_by_role("region", name="Merge a duplicate")
        await merge.get_by_label("Duplicate traveller id").fill(duplicate)
        await merge.get_by_role("button", name="Merge into this traveller").click()
        await expect(merge.get_by_role("alert")).to_contain_text("Your role cannot merge travellers", timeout=WAIT_MS)
        await expect(merge.get_by_role("alert")).to_contain_text("supervisor")
        await page.get_by_role("button", name="Sign out").click()

        await _open_customer(page, stack, "dev-supervisor-key", keeper)
        merge = page.get_by_role("region", name="Merge a duplicate")
        await merge.get_by_label("Duplicate traveller id").fill(duplicate)
        await merge.get_by_role("button", name="Compare").click()
        comparison = merge.get_by_role("table", name=f"Comparison with {duplicate}")
        await expect(comparison).to_be_visible(timeout=WAIT_MS)
        await expect(comparison.get_by_role("row").filter(has_text="Given")).to_contain_text("konstantin")
        await merge.get_by_role("button", name="Merge into this traveller").click()
        await expect(merge.get_by_role("status")).to_contain_text(f"{duplicate} was merged", timeout=WAIT_MS)
        sources = page.get_by_role("region", name="Source records")
        await expect(sources.get_by_role("row")).to_have_count(3, timeout=WAIT_MS)  # header and two records

        history = page.get_by_role("region", name="History")
        await history.get_by_role("button", name=f"Undo merge of {duplicate}").click()
        await expect(history.get_by_role("status")).to_contain_text("Merge undone", timeout=WAIT_MS)
        await expect(history.get_by_role("row").filter(has_text="Merge undone")).to_have_count(1)
        await expect(sources.get_by_role("row")).to_have_count(2, timeout=WAIT_MS)

        # Another duplicate merged in, then its record split off again into a traveller of its own.
        await merge.get_by_label("Duplicate traveller id").fill(another)
        await merge.get_by_role("button", name="Merge into this traveller").click()
        await expect(merge.get_by_role("status")).to_contain_text(f"{another} was merged", timeout=WAIT_MS)
        record = "crm:crm-philippa-"
        split = sources.get_by_role("button", name=re.compile(f"Split off {re.escape(record)}"))
        await split.click()
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
    async with _watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await _open_customer(page, stack, "dev-agent-key", traveller.customer_id)
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
        await _open_customer(page, stack, "dev-supervisor-key", traveller.customer_id)
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
        await _open_customer(page, stack, "dev-supervisor-key", traveller.customer_id)
        prefs = page.get_by_role("region", name="Preferences")
        await prefs.get_by_role("button", name="Show sensitive needs").click()
        await expect(prefs.get_by_role("row").filter(has_text="needs.dietary")).to_contain_text(
            "vegetarian", timeout=WAIT_MS
        )
        await page.get_by_role("button", name="Sign out").click()

        await _open_customer(page, stack, "dev-agent-key", traveller.customer_id)
        prefs = page.get_by_role("region", name="Preferences")
        await expect(prefs).to_contain_text("hidden", timeout=WAIT_MS)
        assert await prefs.get_by_role("button", name="Show sensitive needs").count() == 0
        await expect(prefs).to_contain_text(re.compile(r"\d+ sensitive preferences? hidden"), timeout=WAIT_MS)
        assert "vegetarian" not in await prefs.inner_text()
        assert watch.problems == []


async def test_agent_edits_consents_and_quiet_hours(browser: Browser, stack: Stack, traveller: Traveller) -> None:
    async with _watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await _open_customer(page, stack, "dev-agent-key", traveller.customer_id)
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
        await expect(panel.get_by_role("alert")).to_contain_text("start and end must differ", timeout=WAIT_MS)

        await panel.get_by_label("Until").fill("06:30")
        await panel.get_by_role("button", name="Save quiet hours").click()
        await expect(panel.get_by_role("status")).to_contain_text("Quiet hours saved: 21:00–06:30", timeout=WAIT_MS)
        await expect(panel).to_contain_text("Set by dev-agent")
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


async def test_agent_opens_and_works_a_case_but_only_a_supervisor_closes_it(
    browser: Browser, stack: Stack, traveller: Traveller
) -> None:
    subject = f"Refund for {_surname()}"
    async with _watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await _open_customer(page, stack, "dev-agent-key", traveller.customer_id)
        opening = page.get_by_role("form", name="Open a case")
        # No subject: the service's validation error is shown on the field.
        await opening.get_by_role("button", name="Open case").click()
        await expect(opening.get_by_label("Subject")).to_have_attribute("aria-invalid", "true", timeout=WAIT_MS)
        await expect(page.locator("#new-case-subject-error")).to_contain_text("at least 1 character")
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

        # Closing is for supervisors: the agent is told so and nothing changes.
        await case.get_by_label("Status").select_option("closed")
        await case.get_by_role("button", name="Save changes").click()
        await expect(case.get_by_role("alert")).to_contain_text("Your role cannot close a case", timeout=WAIT_MS)
        await expect(case.get_by_role("alert")).to_contain_text("only a supervisor")

        await case.get_by_label("Note").fill("Refund received.")
        await case.get_by_role("button", name="Resolve").click()
        case = page.get_by_role("article", name=subject)
        await expect(case).to_contain_text("resolved", timeout=WAIT_MS)
        await expect(case).to_contain_text("Resolution: done")
        await page.get_by_role("button", name="Sign out").click()

        await _open_customer(page, stack, "dev-supervisor-key", traveller.customer_id)
        cases = page.get_by_role("region", name="Cases")
        await cases.get_by_text("resolved or closed case").click()  # the closed and resolved ones are folded away
        case = cases.get_by_role("article", name=subject)
        await case.get_by_label("Status").select_option("closed")
        await case.get_by_role("button", name="Save changes").click()
        await expect(page.get_by_role("region", name="Cases").get_by_role("status")).to_contain_text(
            "Closed", timeout=WAIT_MS
        )
        assert watch.problems == []


async def test_agent_records_the_travellers_answer_to_an_inferred_preference(
    env: TestEnv, browser: Browser, stack: Stack
) -> None:
    person = builders.traveller(given_name="Severin", family_name=_surname())
    traveller_id = f"T-{_surname()}"
    for _ in range(2):  # two bookings alike: the inference is likely, but not sure enough to use unasked
        await env.publish("booking.events.v1", builders.booking_created(traveller=person, traveller_id=traveller_id))

    async with httpx.AsyncClient(headers=AGENT, timeout=10) as client:
        cid = await _customer_with_email(client, stack, person.email)

        async def asked() -> set[str]:
            url = f"{stack.api['preferences']}/v1/customers/{cid}/preferences/confirmations"
            r = await client.get(url)
            return {c["key"] for c in r.json() if c["status"] == "pending"} if r.status_code == 200 else set()

        pending: set[str] = await wait_until(lambda: _having(asked, {"air.cabin.long_haul", "air.seat.long_haul"}))

    async with _watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await _open_customer(page, stack, "dev-agent-key", cid)
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
    person = builders.traveller(given_name="Ludmila", family_name=_surname())
    await env.publish("booking.events.v1", builders.booking_created(traveller=person))  # one booking: nothing asked

    async with httpx.AsyncClient(headers=AGENT, timeout=10) as client:
        cid = await _customer_with_email(client, stack, person.email)
        preferences = f"{stack.api['preferences']}/v1/customers/{cid}/preferences"

        async def inferred() -> set[str]:
            r = await client.get(f"{preferences}/effective")
            items = r.json()["preferences"] if r.status_code == 200 else []
            return {p["key"] for p in items if p["source"] == "inferred"}

        await wait_until(lambda: _having(inferred, {"air.cabin.long_haul", "air.seat.long_haul"}))

    async with _watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await _open_customer(page, stack, "dev-agent-key", cid)
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


async def _customer_with_email(client: httpx.AsyncClient, stack: Stack, email: str | None) -> str:
    """The id of the customer the profile service resolved this email to (waits until there is one)."""

    async def found() -> str | None:
        r = await client.get(f"{stack.api['profile']}/v1/customers", params={"email": email})
        items = r.json()["items"] if r.status_code == 200 else []
        return str(items[0]["customer_id"]) if items else None

    cid: str = await wait_until(found)
    return cid


async def _having(check: Callable[[], Awaitable[set[str]]], wanted: set[str]) -> set[str] | None:
    """What `check` returns once it includes every item of `wanted` (None until then)."""
    got = await check()
    return got if wanted <= got else None


async def test_supervisor_compares_a_suspected_duplicate_again_and_keeps_them_apart(
    browser: Browser, stack: Stack
) -> None:
    family = _surname()
    async with httpx.AsyncClient(base_url=stack.api["profile"], headers=SUPERVISOR, timeout=10) as client:
        ids = []
        for system, nationality in (("crm", "NL"), ("web", "Netherlands")):
            body = {
                "source_system": system,
                "source_id": f"{system}-{family}",
                "traveller": {"given_name": "Maarten", "family_name": family, "nationality": nationality},
            }
            r = await client.post("/v1/source-records", json=body)
            assert r.status_code == 200, r.text
            ids.append(r.json())
    assert ids[1]["review_candidate"] == ids[0]["customer_id"]

    async with _watched_page(browser, viewport={"width": 1366, "height": 900}) as (page, watch):
        await _sign_in(page, stack.console_url, "dev-supervisor-key")
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
