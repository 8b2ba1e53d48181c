"""The agent web console in a real browser (Debian's chromium), against the four real services.

The four services run in-process on the real broker and database, each API served by uvicorn
on a free loopback port with CORS open to the console's origin; the console is served the same
way, pointed at them. Chromium then does what an agent does: sign in, search, open the 360° page.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import string
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

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

        async def customer_id() -> str | None:
            r = await client.get(f"{stack.api['profile']}/v1/customers", params={"email": email})
            items = r.json()["items"] if r.status_code == 200 else []
            return str(items[0]["customer_id"]) if items else None

        cid: str = await wait_until(customer_id)

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


async def _sign_in(page: Page, console_url: str, key: str, *, accepted: bool = True) -> None:
    await page.goto(console_url + "/")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    if accepted:  # the console has moved on to the search screen
        await expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=WAIT_MS)


async def test_agent_signs_in_searches_and_sees_the_whole_traveller(
    browser: Browser, stack: Stack, traveller: Traveller, tmp_path: Path
) -> None:
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    watch = Watch(page)
    try:
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
        assert await context.cookies() == []
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
        cases = page.get_by_role("region", name="Open cases")
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
    finally:
        await context.close()


async def test_a_role_without_agent_rights_is_told_it_may_not_see_travellers(
    browser: Browser, stack: Stack, traveller: Traveller
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    watch = Watch(page)
    try:
        await _sign_in(page, stack.console_url, "dev-booking-system-key")
        await expect(page.locator("#session-role")).to_contain_text("booking-system", timeout=WAIT_MS)
        # The search screen lists recently updated travellers at once: refused for this role.
        await expect(page.get_by_role("region", name="Recently updated travellers")).to_contain_text(
            "Your role may not see this", timeout=WAIT_MS
        )

        await page.goto(f"{stack.console_url}/#/customers/{traveller.customer_id}")
        for panel in ("Golden record", "Preferences", "Open cases", "Surveys", "Messages", "Source records"):
            await expect(page.get_by_role("region", name=panel)).to_contain_text(
                "Your role may not see this", timeout=WAIT_MS
            )
        assert traveller.email not in await page.locator("main").inner_text()
        assert watch.problems == []
    finally:
        await context.close()


async def test_a_service_that_does_not_answer_fails_only_its_own_panel(
    browser: Browser, stack: Stack, traveller: Traveller
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await _sign_in(page, stack.degraded_console_url, "dev-agent-key")
        await page.goto(f"{stack.degraded_console_url}/#/customers/{traveller.customer_id}")
        await expect(page.get_by_role("region", name="Messages")).to_contain_text(
            "No answer from the service", timeout=WAIT_MS
        )
        await expect(page.get_by_role("region", name="Golden record")).to_contain_text(traveller.email)
        await expect(page.get_by_role("region", name="Recent bookings")).to_contain_text(traveller.booking_id)
        await expect(page.get_by_role("region", name="Open cases")).to_contain_text("Lost luggage at JFK")
    finally:
        await context.close()


async def test_supervisor_accepts_a_suspected_duplicate_in_the_review_queue(
    browser: Browser, stack: Stack
) -> None:
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

    context = await browser.new_context()
    page = await context.new_page()
    watch = Watch(page)
    try:
        # An agent sees the queue but may not decide.
        await _sign_in(page, stack.console_url, "dev-agent-key")
        await page.get_by_role("link", name="Review queue").click()
        card = page.get_by_role("article").filter(has_text=f"web:web-{family}")
        await expect(card).to_contain_text(ids[0]["customer_id"], timeout=WAIT_MS)
        await card.get_by_role("button", name="Accept: merge").click()
        await expect(card.get_by_role("alert")).to_contain_text("Your role may not do this", timeout=WAIT_MS)
        await expect(page.locator("#session-role")).to_contain_text("role: agent")

        await page.get_by_role("button", name="Sign out").click()
        await _sign_in(page, stack.console_url, "dev-supervisor-key")
        await page.get_by_role("link", name="Review queue").click()
        card = page.get_by_role("article").filter(has_text=f"web:web-{family}")
        await card.get_by_role("button", name="Accept: merge").click()
        await expect(card).to_contain_text("accepted", timeout=WAIT_MS)
        await expect(card).to_contain_text("dev-supervisor")
        assert watch.problems == []
    finally:
        await context.close()

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
