"""Every route of every service, enumerated from the apps themselves (`app.routes`).

- Each GET behind an API key is classified: a read of personal data or not.
- Each read of personal data writes its audit row (one, under the request's correlation id).
- Each refusal (403) writes an `access.denied` row, whichever role or rule refused.
- A NUL character in any path or query parameter is a 422 problem, never a 500, and the
  connection it came on keeps serving.
- Every response carries `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`.
- Every GET, called with each role's key on a traveller with a special meal, dietary and
  accessibility needs, a date of birth and a passport number, shows no value of a category the
  role may not see (`services.kit.sensitive`), and the roles that may see one do.
"""

from __future__ import annotations

import asyncio
import re
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import time
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from services.feedback.bootstrap import build_definition as feedback_definition
from services.feedback.entrypoints.api import create_feedback_app
from services.feedback.settings import FeedbackSettings
from services.kit.auditing import PersonalRead, route_marker
from services.kit.auth import IMPLIED_ROLES, authenticate
from services.kit.runtime import ServiceRuntime
from services.kit.sensitive import BIRTH_DATE, CATEGORIES, SECRET, SPECIAL, Category, visible_to
from services.notifications.bootstrap import build_definition as notifications_definition
from services.notifications.entrypoints.api import create_notifications_app
from services.notifications.settings import NotificationsSettings
from services.preferences.bootstrap import build_definition as preferences_definition
from services.preferences.entrypoints.api import create_preferences_app
from services.preferences.settings import PreferencesSettings
from services.privacy.bootstrap import build_definition as privacy_definition
from services.privacy.entrypoints.api import create_privacy_app
from services.privacy.settings import PrivacySettings
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
from tests.harness import SmtpServer, TestEnv, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

KEYS = {role: {"X-API-Key": f"dev-{role}-key"} for role in ("agent", "supervisor", "ops", "booking-system", "admin")}
FACTORIES: dict[str, Callable[[ServiceRuntime, bool], FastAPI]] = {
    "profile": create_profile_app,
    "preferences": create_preferences_app,
    "feedback": create_feedback_app,
    "notifications": create_notifications_app,
    "value": create_value_app,
    "privacy": create_privacy_app,
    "trips": create_trips_app,
}
# What the seeded traveller has of each category, as it would appear in a response.
SEEN_AS: dict[Category, tuple[str, ...]] = {
    SPECIAL: ("KSML", "wheelchair_ramp", "kosher"),
    BIRTH_DATE: ("1971-03-17",),
    SECRET: ("X7654321",),
}


def _calls(dependant: Dependant) -> list[Any]:
    out = []
    for dep in dependant.dependencies:
        out.append(dep.call)
        out.extend(_calls(dep))
    return out


def keyed_routes(app: FastAPI) -> list[APIRoute]:
    """The routes behind an API key (the token-link pages and health checks are not)."""
    return [r for r in app.routes if isinstance(r, APIRoute) and authenticate in _calls(r.dependant)]


def role_checked(route: APIRoute) -> bool:
    return any(getattr(c, "__qualname__", "").startswith("require_roles") for c in _calls(route.dependant))


def fill(route: APIRoute, values: dict[str, str], default: str | None = None) -> tuple[str, dict[str, str]]:
    """The route's path with its parameters, and its required query parameters."""
    names = re.findall(r"{(\w+)(?::\w+)?}", route.path)
    path = route.path
    for name in names:
        value = values.get(name, default)
        assert value is not None, f"no value for {name} of {route.path}"
        path = re.sub(r"{" + name + r"(:\w+)?}", value, path)
    query = {}
    for param in route.dependant.query_params:
        if param.field_info.is_required():
            name = param.field_info.alias or param.name
            query[name] = values.get(name, default) or "x"
    return path, query


@dataclass
class System:
    runtimes: dict[str, ServiceRuntime]
    values: dict[str, str]

    @asynccontextmanager
    async def client(self, service: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        app = FACTORIES[service](self.runtimes[service], False)
        app.state.runtime = self.runtimes[service]  # ASGITransport runs no lifespan; the runtime is already started
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{service}") as client:
            yield app, client


async def _seed(env: TestEnv, system: System) -> None:
    """One traveller known to every service, with a delivery, a survey, a case, a review and a policy."""
    priya = builders.traveller(
        given_name="Priya", family_name="Raman", date_of_birth="1971-03-17", passport_number="X7654321"
    )
    created = builders.booking_created(traveller=priya)
    flight = created.payload.segments[0].model_copy(update={"meal": "KSML"})
    created = created.model_copy(update={"payload": created.payload.model_copy(update={"segments": (flight,)})})
    await env.publish("booking.events.v1", created)
    await env.publish("booking.events.v1", builders.trip_completed(created))
    v = system.values
    v["source_system"], v["source_id"] = created.payload.source_system, created.payload.source_traveller_id
    v["key"] = "hotel.star_min"  # a preference key: the route's path matches catalogue keys only
    admin = KEYS["admin"]
    async with system.client("profile") as (_, profile):

        async def customer() -> dict[str, Any] | None:
            r = await profile.get("/v1/customers", params={"email": created.payload.traveller.email}, headers=admin)
            items = r.json()["items"]
            return items[0] if items else None

        v["customer_id"] = v["customer_a"] = (await wait_until(customer))["customer_id"]
        r = await profile.get(f"/v1/customers/{v['customer_id']}", headers=admin)
        v["company_id"] = r.json()["company_id"]
        family = f"Zed{uuid.uuid4().hex[:6]}"
        for source, nationality in (("crm", "AT"), ("web", "Austria")):
            person = {"given_name": "Ingrid", "family_name": family, "nationality": nationality}
            record = {"source_system": source, "source_id": f"{source}-{family}", "traveller": person}
            r = await profile.post("/v1/source-records", json=record, headers=admin)
            assert r.status_code == 200, r.text
        review = r.json()
        assert review["review_candidate"] is not None, review
        v["customer_b"] = review["review_candidate"]
        reviews = (await profile.get("/v1/reviews", params={"limit": 100}, headers=admin)).json()["items"]
        v["review_id"] = next(i["review_id"] for i in reviews if i["source_id"] == f"web-{family}")
    async with system.client("preferences") as (_, preferences):
        path = f"/v1/customers/{v['customer_id']}/preferences"
        await wait_until(lambda: _ok(preferences, path, admin))
        r = await preferences.put(f"/v1/companies/{v['company_id']}/policy", json={}, headers=admin)
        assert r.status_code == 200, r.text
        needs = {"needs.dietary": ["kosher"], "needs.accessibility": ["wheelchair_ramp"]}
        r = await preferences.put(path, json={"values": needs, "source": "stated"}, headers=KEYS["supervisor"])
        assert r.status_code == 200, r.text
    async with system.client("value") as (_, value):
        await wait_until(lambda: _ok(value, f"/v1/customers/{v['customer_id']}/value", admin))
    async with system.client("trips") as (_, trips):

        async def trip() -> str | None:
            r = await trips.get(f"/v1/customers/{v['customer_id']}/trips", headers=admin)
            items = r.json()["items"] if r.status_code == 200 else []
            return str(items[0]["trip_id"]) if items else None

        v["trip_id"] = await wait_until(trip)
    async with system.client("notifications") as (_, notifications):

        async def delivery() -> str | None:
            r = await notifications.get("/v1/deliveries", params={"customer_id": v["customer_id"]}, headers=admin)
            items = r.json()["items"]
            return str(items[0]["delivery_id"]) if items else None

        v["delivery_id"] = await wait_until(delivery)
    async with system.client("feedback") as (_, feedback):

        async def survey() -> str | None:
            r = await feedback.get(f"/v1/customers/{v['customer_id']}/surveys", headers=admin)
            items = r.json()["items"] if r.status_code == 200 else []
            return str(items[0]["survey_id"]) if items else None

        v["survey_id"] = await wait_until(survey)
        case = {"customer_id": v["customer_id"], "subject": "Lost luggage", "description": "Bag did not arrive"}
        r = await feedback.post("/v1/cases", json=case, headers=admin)
        assert r.status_code == 201, r.text
        v["case_id"] = r.json()["case_id"]


async def _ok(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> bool:
    return (await client.get(path, headers=headers)).status_code == 200


@pytest.fixture(scope="module")
async def system(env: TestEnv, smtp: SmtpServer) -> AsyncIterator[System]:
    definitions = {
        "profile": profile_definition(env.settings(ProfileSettings)),
        "preferences": preferences_definition(env.settings(PreferencesSettings)),
        "feedback": feedback_definition(env.settings(FeedbackSettings)),
        "value": value_definition(env.settings(ValueSettings)),
        "privacy": privacy_definition(env.settings(PrivacySettings)),
        "trips": trips_definition(env.settings(TripsSettings)),
        "notifications": notifications_definition(
            env.settings(
                NotificationsSettings, smtp_port=smtp.port, dispatch_poll_seconds=0.2,
                default_quiet_hours_start=time(0, 0), default_quiet_hours_end=time(0, 0), digest_window_seconds=0,
            )
        ),
    }  # fmt: skip
    async with AsyncExitStack() as stack:
        runtimes = {name: await stack.enter_async_context(env.running(d)) for name, d in definitions.items()}
        found = System(runtimes, {})
        await _seed(env, found)
        yield found


async def _audit_rows(env: TestEnv, schema: str, correlation_id: str) -> list[dict[str, Any]]:
    conn = await env.admin_connect()
    try:
        rows = await conn.fetch(
            f"SELECT principal, role, action, subject_id FROM {schema}.audit_log WHERE correlation_id = $1",
            correlation_id,
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


@pytest.mark.parametrize("service", sorted(FACTORIES))
async def test_every_get_behind_a_key_is_classified_and_each_personal_read_is_audited(
    env: TestEnv, system: System, service: str
) -> None:
    async with system.client(service) as (app, client):
        gets = [r for r in keyed_routes(app) if "GET" in r.methods]
        unclassified = [r.path for r in gets if route_marker(r) is None]
        assert unclassified == [], f"{service}: say whether these read personal data: {unclassified}"
        personal = [r for r in gets if isinstance(route_marker(r), PersonalRead)]
        assert personal, service
        for route in personal:
            marker = route_marker(route)
            assert isinstance(marker, PersonalRead)
            path, query = fill(route, system.values)
            cid = str(uuid.uuid4())
            r = await client.get(path, params=query, headers={**KEYS["admin"], "X-Correlation-ID": cid})
            # The one-call export answers 207 here: the services it asks are not on their ports in this test
            # (tests/e2e/test_export.py runs it against them); a partial export is a personal read too.
            assert r.status_code == 200 or (service, r.status_code) == ("privacy", 207), (
                f"{route.path}: {r.status_code} {r.text[:300]}"
            )
            assert r.headers["cache-control"] == "no-store"
            assert r.headers["x-content-type-options"] == "nosniff"
            rows = await _audit_rows(env, service, cid)
            assert len(rows) == 1, f"{route.path} wrote {rows}"
            assert rows[0]["principal"] == "dev-admin"
            assert rows[0]["action"] in (marker.action, "customer.bulk_read"), rows


async def test_no_get_shows_a_role_what_it_may_not_see(system: System) -> None:
    seen: dict[Category, set[str]] = {c: set() for c in CATEGORIES}
    for service in sorted(FACTORIES):
        async with system.client(service) as (app, client):
            for route in [r for r in keyed_routes(app) if "GET" in r.methods]:
                path, query = fill(route, system.values, default="x")
                # Code tables (not personal) list every meal and dietary code there is.
                code_table = not isinstance(route_marker(route), PersonalRead)
                for role, headers in KEYS.items():
                    r = await client.get(path, params=query, headers=headers)
                    if r.status_code != 200:
                        continue
                    visible = visible_to(role, IMPLIED_ROLES[role])  # type: ignore[arg-type]  # KEYS names roles
                    for category, values in SEEN_AS.items():
                        shown = [x for x in values if x in r.text]
                        if shown and category == SPECIAL and code_table:
                            continue
                        if category not in visible:
                            assert shown == [], f"{service} GET {route.path} shows {role} {category}: {shown}"
                        elif shown:
                            seen[category].add(role)
    # The roles allowed to see a category do see it somewhere (the filter is not hiding everything).
    assert seen[SPECIAL] == {"supervisor", "admin"}, seen
    assert seen[BIRTH_DATE] == {"agent", "supervisor", "admin"}, seen
    # Passport numbers are kept only as keyed hashes: no response has one, whoever asks.
    assert seen[SECRET] == set(), seen


@pytest.mark.parametrize("service", sorted(FACTORIES))
async def test_every_refusal_is_audited(env: TestEnv, system: System, service: str) -> None:
    async with system.client(service) as (app, client):
        for route in [r for r in keyed_routes(app) if role_checked(r)]:
            path, query = fill(route, system.values, default="x")
            for method in sorted(route.methods):
                refused = None
                for role in ("booking-system", "ops", "agent"):
                    cid = str(uuid.uuid4())
                    headers = {**KEYS[role], "X-Correlation-ID": cid}
                    body = None if method in ("GET", "DELETE") else {}
                    r = await client.request(method, path, params=query, json=body, headers=headers)
                    if r.status_code == 403:
                        refused = (role, cid)
                        break
                assert refused is not None, f"{method} {route.path}: no role was refused"
                assert r.headers["content-type"] == "application/problem+json"
                rows = await _audit_rows(env, service, refused[1])
                assert [(x["principal"], x["action"]) for x in rows] == [(f"dev-{refused[0]}", "access.denied")], (
                    f"{method} {route.path}: {rows}"
                )


async def test_a_refused_read_of_sensitive_preferences_is_audited(env: TestEnv, system: System) -> None:
    customer_id = system.values["customer_id"]
    async with system.client("preferences") as (_, client):
        for view in ("preferences", "preferences/effective", "preferences/explain"):
            cid = str(uuid.uuid4())
            r = await client.get(
                f"/v1/customers/{customer_id}/{view}",
                params={"include_sensitive": "true"},
                headers={**KEYS["agent"], "X-Correlation-ID": cid},
            )
            assert r.status_code == 403
            rows = await _audit_rows(env, "preferences", cid)
            assert [(x["principal"], x["action"], x["subject_id"]) for x in rows] == [
                ("dev-agent", "access.denied", customer_id)
            ]


@pytest.mark.parametrize("service", sorted(FACTORIES))
async def test_nul_in_any_path_or_query_parameter_is_a_422_problem(system: System, service: str) -> None:
    async with system.client(service) as (app, client):
        routes = [r for r in app.routes if isinstance(r, APIRoute)]
        tried = 0
        for route in routes:
            method = sorted(route.methods)[0]
            body = None if method in ("GET", "DELETE") else {}
            if "{" in route.path:
                path, query = fill(route, {}, default="cus%00")
                r = await client.request(method, path, params=query, json=body, headers=KEYS["admin"])
                assert r.status_code == 422, f"{method} {route.path}: {r.status_code} {r.text[:200]}"
                assert r.headers["content-type"] == "application/problem+json"
                tried += 1
            for param in route.dependant.query_params:
                name = param.field_info.alias or param.name
                path, query = fill(route, system.values, default="x")
                r = await client.request(
                    method, path, params={**query, name: "a\x00b"}, json=body, headers=KEYS["admin"]
                )
                assert r.status_code == 422, f"{method} {route.path}?{name}: {r.status_code} {r.text[:200]}"
                assert r.json()["errors"][0]["field"] == name
                tried += 1
        assert tried > 0


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def test_the_connection_keeps_serving_after_a_nul(system: System) -> None:
    app = create_notifications_app(system.runtimes["notifications"], False)
    app.state.runtime = system.runtimes["notifications"]
    sock = _bound_socket()
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", ws="none", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await wait_until(lambda: server.started or task.done(), timeout=15)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    customer_id = system.values["customer_id"]
    try:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base, limits=limits) as client:
            for _ in range(3):
                bad = await client.get("/v1/customers/cus%00/consents", headers=KEYS["agent"])
                assert bad.status_code == 422
                good = await client.get(f"/v1/customers/{customer_id}/consents", headers=KEYS["agent"])
                assert good.status_code == 200, good.text
    finally:
        server.should_exit = True
        await task


@pytest.mark.parametrize("service", sorted(set(FACTORIES) - {"privacy"}))
async def test_every_service_holding_travellers_serves_their_export(system: System, service: str) -> None:
    async with system.client(service) as (app, _):
        paths = {r.path for r in keyed_routes(app) if "GET" in r.methods}
    assert "/v1/privacy/customers/{customer_id}/export" in paths, service
