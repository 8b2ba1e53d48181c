"""What the console's browser tests share: the services and the console on loopback ports, and a watched page.

The four services run in-process on the real broker and database, each API served by uvicorn
on a free loopback port with CORS open to the console's origin; the console is served the same
way, pointed at them. Chromium then does what an agent does.
"""

from __future__ import annotations

import asyncio
import random
import socket
import string
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from tests.harness import wait_until

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
BOOKING_SYSTEM = {"X-API-Key": "dev-booking-system-key"}  # registered for crm and web
WAIT_MS = 20_000  # how long the browser waits for an element (a wait, not a timing assertion)


def surname() -> str:
    """A family name no other test uses."""
    return "".join(random.choices(string.ascii_lowercase, k=8)).capitalize()


def bound_socket() -> socket.socket:
    """A listening-ready socket on a free loopback port (handed to uvicorn, so no port race)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def url_of(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@asynccontextmanager
async def serve(app: FastAPI, sock: socket.socket) -> AsyncIterator[None]:
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


@dataclass
class Traveller:
    customer_id: str
    name: str
    email: str
    booking_id: str


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
async def watched_page(browser: Browser, **context_options: Any) -> AsyncIterator[tuple[Page, Watch]]:
    """A page in a browser context of its own, with what it reports collected; closed afterwards."""
    context = await browser.new_context(**context_options)
    try:
        page = await context.new_page()
        yield page, Watch(page)
    finally:
        await context.close()


async def sign_in(page: Page, console_url: str, key: str, *, accepted: bool = True) -> None:
    await page.goto(console_url + "/")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    if accepted:  # the console has moved on to the search screen
        await expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=WAIT_MS)


async def open_customer(page: Page, stack: Stack, key: str, customer_id: str) -> None:
    """Sign in with `key` and open the traveller's 360° page once its golden record is shown."""
    await sign_in(page, stack.console_url, key)
    await page.goto(f"{stack.console_url}/#/customers/{customer_id}")
    await expect(page.get_by_role("region", name="Golden record").get_by_role("table")).to_be_visible(timeout=WAIT_MS)


async def source_record(client: httpx.AsyncClient, given: str, family: str) -> str:
    """A traveller of its own, created through profile's source-record API; returns the customer id."""
    body = {
        "source_system": "crm",
        "source_id": f"crm-{given}-{family}".lower(),
        "traveller": {"given_name": given, "family_name": family, "email": f"{given}.{family}@initech.example".lower()},
    }
    r = await client.post("/v1/source-records", json=body, headers=BOOKING_SYSTEM)
    assert r.status_code == 200, r.text
    return str(r.json()["customer_id"])


async def customer_with_email(client: httpx.AsyncClient, stack: Stack, email: str | None) -> str:
    """The id of the customer the profile service resolved this email to (waits until there is one)."""

    async def found() -> str | None:
        r = await client.get(f"{stack.api['profile']}/v1/customers", params={"email": email})
        items = r.json()["items"] if r.status_code == 200 else []
        return str(items[0]["customer_id"]) if items else None

    cid: str = await wait_until(found)
    return cid


async def having(check: Callable[[], Awaitable[set[str]]], wanted: set[str]) -> set[str] | None:
    """What `check` returns once it includes every item of `wanted` (None until then)."""
    got = await check()
    return got if wanted <= got else None
