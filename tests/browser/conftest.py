"""Fixtures of the console's browser tests: the whole stack, Debian's chromium and a known traveller.

Package-scoped: every browser test module shares one stack (starting four services takes a while), on a
database and topics of its own, and the stack stops when the last browser test is done. On the session's
topics, its consumers would go on taking the events the later tests publish (with their own settings).
"""

from __future__ import annotations

import random
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
from playwright.async_api import Browser, async_playwright

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
from services.trips.bootstrap import build_definition as trips_definition
from services.trips.entrypoints.api import create_trips_app
from services.trips.settings import TripsSettings
from services.value.bootstrap import build_definition as value_definition
from services.value.entrypoints.api import create_value_app
from services.value.settings import ValueSettings
from tests import builders
from tests.browser.console import (
    AGENT,
    CHROMIUM_ARGS,
    Stack,
    Traveller,
    bound_socket,
    customer_with_email,
    serve,
    surname,
    url_of,
)
from tests.harness import SmtpServer, TestEnv, create_env, drop_env, wait_until


@pytest.fixture(scope="package")
async def env() -> AsyncIterator[TestEnv]:
    """The browser tests' own database and topic prefix (this package's `env` shadows the session's)."""
    test_env = await create_env()
    try:
        yield test_env
    finally:
        await drop_env(test_env)


@pytest.fixture(scope="package")
async def stack(env: TestEnv, smtp: SmtpServer) -> AsyncIterator[Stack]:
    """The five services (workers and HTTP APIs) and the console, each on its own loopback port."""
    names = ("console", "degraded-console", "dead", "profile", "preferences", "feedback", "notifications", "value",
             "trips")  # fmt: skip
    sockets = {name: bound_socket() for name in names}  # "dead" is bound but never listens: refused
    origin = url_of(sockets["console"])
    cors = {"cors_origins": [origin, url_of(sockets["degraded-console"])]}
    definitions = {
        "profile": profile_definition(env.settings(ProfileSettings, **cors)),
        "preferences": preferences_definition(env.settings(PreferencesSettings, **cors)),
        "feedback": feedback_definition(env.settings(FeedbackSettings, **cors)),
        "notifications": notifications_definition(
            env.settings(
                NotificationsSettings, smtp_port=smtp.port, dispatch_poll_seconds=0.2, digest_window_seconds=0, **cors
            )
        ),
        "value": value_definition(env.settings(ValueSettings, **cors)),
        "trips": trips_definition(env.settings(TripsSettings, **cors)),
    }
    factories = {
        "profile": create_profile_app,
        "preferences": create_preferences_app,
        "feedback": create_feedback_app,
        "notifications": create_notifications_app,
        "value": create_value_app,
        "trips": create_trips_app,
    }
    async with AsyncExitStack() as exits:
        for sock in sockets.values():
            exits.callback(sock.close)
        api: dict[str, str] = {}
        for name, definition in definitions.items():
            runtime: ServiceRuntime = await exits.enter_async_context(env.running(definition))
            app = factories[name](runtime, False)
            app.state.runtime = runtime  # lifespan is off: the runtime is already started
            await exits.enter_async_context(serve(app, sockets[name]))
            api[name] = url_of(sockets[name])
        consoles = (("console", api["notifications"]), ("degraded-console", url_of(sockets["dead"])))
        for console, notifications in consoles:
            settings = ConsoleSettings(
                profile_url=api["profile"],
                preferences_url=api["preferences"],
                feedback_url=api["feedback"],
                notifications_url=notifications,
                value_url=api["value"],
                trips_url=api["trips"],
            )
            await exits.enter_async_context(serve(create_console_app(settings), sockets[console]))
        yield Stack(console_url=origin, api=api, degraded_console_url=url_of(sockets["degraded-console"]))


@pytest.fixture(scope="package")
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


@pytest.fixture(scope="package")
async def traveller(env: TestEnv, smtp: SmtpServer, stack: Stack) -> Traveller:
    """A booking published to Kafka, followed until every service the 360° page asks knows its traveller."""
    family = surname()
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
        cid = await customer_with_email(client, stack, email)

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
