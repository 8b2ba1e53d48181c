"""A traveller's export (GDPR art. 15/20): each service's export endpoint, and the one call that assembles
them, over HTTP against the six services running on the real broker and database."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from services.feedback.entrypoints.api import create_feedback_app
from services.kit.db import connection
from services.kit.http import create_app
from services.kit.runtime import ServiceRuntime
from services.kit.settings import ServiceSettings
from services.notifications.entrypoints.api import create_notifications_app
from services.preferences.entrypoints.api import create_preferences_app
from services.privacy.entrypoints import export_api
from services.privacy.export import ExportSettings
from services.profile.entrypoints.api import create_profile_app
from services.trips.bootstrap import build_definition as trips_definition
from services.trips.entrypoints.api import create_trips_app
from services.trips.settings import TripsSettings
from services.value.bootstrap import build_definition as value_definition
from services.value.entrypoints.api import create_value_app
from services.value.settings import ValueSettings
from tests import builders
from tests.e2e.system import four_services
from tests.harness import SmtpServer, TestEnv, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ADMIN = {"X-API-Key": "dev-admin-key"}
SUPERVISOR = {"X-API-Key": "dev-supervisor-key"}
FACTORIES: dict[str, Callable[[ServiceRuntime, bool], FastAPI]] = {
    "profile": create_profile_app,
    "preferences": create_preferences_app,
    "feedback": create_feedback_app,
    "notifications": create_notifications_app,
    "value": create_value_app,
    "trips": create_trips_app,
}
SERVICES = list(FACTORIES)


@dataclass
class Served:
    runtime: ServiceRuntime
    url: str
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


@dataclass
class Travellers:
    customer_id: str
    email: str
    other_id: str
    case_subject: str
    booking_id: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def _served(runtime: ServiceRuntime, factory: Callable[[ServiceRuntime, bool], FastAPI]) -> AsyncIterator[Served]:
    """The service's API on a real port (the runtime is already started: no lifespan)."""
    app = factory(runtime, False)
    app.state.runtime = runtime
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started, timeout=15)
    served = Served(runtime, f"http://127.0.0.1:{port}", server, task)
    try:
        yield served
    finally:
        if not task.done():
            await served.stop()


@pytest.fixture(scope="module")
async def system(env: TestEnv, smtp: SmtpServer) -> AsyncIterator[dict[str, Served]]:
    async with AsyncExitStack() as stack:
        runtimes = dict(await stack.enter_async_context(four_services(env, smtp)))
        runtimes["value"] = await stack.enter_async_context(env.running(value_definition(env.settings(ValueSettings))))
        runtimes["trips"] = await stack.enter_async_context(env.running(trips_definition(env.settings(TripsSettings))))
        yield {n: await stack.enter_async_context(_served(runtimes[n], FACTORIES[n])) for n in SERVICES}


async def _customer_of(runtime: ServiceRuntime, source_traveller_id: str) -> str | None:
    async with connection(runtime.pool) as conn:
        value: str | None = await conn.fetchval(
            "SELECT customer_id FROM source_records WHERE source_system = 'acme-gds' AND source_id = $1",
            source_traveller_id,
        )
        return value


async def _holds(runtime: ServiceRuntime, sql: str, customer_id: str) -> bool:
    async with connection(runtime.pool) as conn:
        return bool(await conn.fetchval(sql, customer_id))


@pytest.fixture(scope="module")
async def travellers(env: TestEnv, system: dict[str, Served]) -> Travellers:
    """Erika travels and is served by every service; Otto is another traveller, never in her export."""
    erika = builders.traveller(given_name="Erika", family_name="Exportmann", passport_number="EX7351092")
    booked = builders.booking_created(traveller=erika, traveller_id="T-export-erika")
    other = builders.booking_created(
        traveller=builders.traveller(given_name="Otto", family_name="Andersweit"), traveller_id="T-export-otto"
    )
    await env.publish("booking.events.v1", booked)
    await env.publish("booking.events.v1", other)
    await env.publish("booking.events.v1", builders.trip_completed(booked))
    profile = system["profile"].runtime
    cid = await wait_until(lambda: _customer_of(profile, "T-export-erika"))
    other_id = await wait_until(lambda: _customer_of(profile, "T-export-otto"))
    known_by = {
        "preferences": "SELECT count(*) FROM customers WHERE customer_id = $1",
        "feedback": "SELECT count(*) FROM surveys WHERE customer_id = $1",
        "notifications": "SELECT count(*) FROM deliveries WHERE customer_id = $1 AND status = 'sent'",
        "value": "SELECT count(*) FROM bookings WHERE customer_id = $1",
        "trips": "SELECT count(*) FROM trips WHERE customer_id = $1 AND status = 'completed'",
    }
    for service, sql in known_by.items():
        await wait_until(lambda s=service, q=sql: _holds(system[s].runtime, q, cid))  # type: ignore[misc]
    await wait_until(lambda: _holds(system["value"].runtime, known_by["value"], other_id))
    case_subject = "Lost luggage on LH400, asked for a refund"
    # The first case is read by the comment reader, whose models may still be loading (seconds, once).
    async with httpx.AsyncClient(headers=SUPERVISOR, timeout=60) as http:
        answers = [
            await http.put(f"{system['preferences'].url}/v1/customers/{cid}/preferences",
                           json={"values": {"hotel.star_min": 4}, "source": "stated"}),
            await http.put(f"{system['notifications'].url}/v1/customers/{cid}/consents",
                           json={"purpose": "marketing", "channel": "email", "granted": True, "source": "phone call"}),
            await http.put(f"{system['notifications'].url}/v1/customers/{cid}/quiet-hours",
                           json={"start": "23:30", "end": "06:00"}),
            await http.post(f"{system['feedback'].url}/v1/cases",
                            json={"customer_id": cid, "subject": case_subject, "description": "Bag never arrived"}),
            await http.put(f"{system['value'].url}/v1/customers/{cid}/account-manager",
                           json={"kind": "agent", "id": "anna.keller"}),
        ]  # fmt: skip
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]
    return Travellers(cid, erika.email or "", other_id, case_subject, booked.payload.booking_id)


def _records(export: dict[str, Any], name: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = export["sections"][name]
    return records


def _check_profile(export: dict[str, Any], t: Travellers) -> None:
    golden = _records(export, "customers")[0]["golden"]
    assert golden["family_name"]["value"] == "Exportmann"
    assert golden["email"]["value"] == t.email
    assert golden["email"]["source_system"] == "acme-gds"
    [record] = _records(export, "source_records")
    assert record["source_id"] == "T-export-erika"
    assert "passport_hash" in record  # what is stored: a keyed hash, said so in the provenance
    assert record["normalized"]["passport_variants"] == "held"  # its one-typo variants' hashes, said to be held
    assert "EX7351092" not in str(record)
    assert "keyed hash" in export["provenance"]["source_records"]["note"]
    assert export["provenance"]["source_records"]["source_systems"] == ["acme-gds"]
    assert {b["booking_id"] for b in _records(export, "bookings")} == {t.booking_id}


def _check_preferences(export: dict[str, Any], t: Travellers) -> None:
    stated = {(s["key"], s["value"], s["source"]) for s in _records(export, "stated")}
    assert ("hotel.star_min", 4, "stated") in stated
    cabin = next(i for i in _records(export, "inferred") if i["key"].startswith("air.cabin."))
    assert cabin["value"] == "business"
    evidence = [e for e in _records(export, "evidence") if e["key"].startswith("air.cabin.")]
    assert evidence
    assert evidence[0]["booking"].startswith("acme-gds:")


def _check_feedback(export: dict[str, Any], t: Travellers) -> None:
    assert [s["source_system"] for s in _records(export, "surveys")] == ["acme-gds"]
    assert [c["subject"] for c in _records(export, "cases")] == [t.case_subject]
    assert _records(export, "case_history")
    assert {tr["status"] for tr in _records(export, "trips")} == {"completed"}


def _check_notifications(export: dict[str, Any], t: Travellers) -> None:
    deliveries = _records(export, "deliveries")
    assert {d["recipient"] for d in deliveries if d["status"] == "sent"} == {t.email}
    assert all(d["channel"] == "email" and d["purpose"] for d in deliveries)
    assert [(c["purpose"], c["granted"]) for c in _records(export, "consents")] == [("marketing", True)]
    [quiet] = _records(export, "quiet_hours")
    assert (quiet["start_local"], quiet["end_local"]) == ("23:30:00", "06:00:00")


def _check_value(export: dict[str, Any], t: Travellers) -> None:
    assert [b["source_system"] for b in _records(export, "ledger")] == ["acme-gds"]
    assert [(m["subject"], m["manager_id"]) for m in _records(export, "account_managers")] == [
        ("customer", "anna.keller")
    ]
    [value] = _records(export, "value")
    assert (value["customer_id"], value["snapshot"]["customer_id"]) == (t.customer_id, t.customer_id)
    assert value["tier"] in ("gold", "silver", "regular")


def _check_trips(export: dict[str, Any], t: Travellers) -> None:
    [trip] = _records(export, "trips")
    assert (trip["customer_id"], trip["status"]) == (t.customer_id, "completed")
    assert export["provenance"]["trips"]["topic"] == "trips.trips.v1"
    assert export["provenance"]["trips"]["source_systems"] == ["acme-gds"]
    assert [(b["booking_id"], b["trip_id"]) for b in _records(export, "bookings")] == [(t.booking_id, trip["trip_id"])]
    assert {e["kind"] for e in _records(export, "timeline")} >= {"booking.created", "booking.trip_completed"}
    assert "journey_runs" in export["sections"]


CHECKS = {
    "profile": _check_profile,
    "preferences": _check_preferences,
    "feedback": _check_feedback,
    "notifications": _check_notifications,
    "value": _check_value,
    "trips": _check_trips,
}


async def _audit_rows(runtime: ServiceRuntime, action: str, subject: str) -> list[dict[str, Any]]:
    async with connection(runtime.pool) as conn:
        rows = await conn.fetch(
            "SELECT principal, role, detail FROM audit_log WHERE action = $1 AND subject_id = $2", action, subject
        )
    return [dict(r) for r in rows]


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_exports_what_it_holds_about_the_traveller_and_nothing_of_others(
    service: str, system: dict[str, Served], travellers: Travellers
) -> None:
    served = system[service]
    url = f"{served.url}/v1/privacy/customers/{travellers.customer_id}/export"
    async with httpx.AsyncClient() as http:
        response = await http.get(url, headers=ADMIN)
    assert response.status_code == 200, response.text
    export = response.json()
    assert export["service"] == service
    assert export["customer_id"] == travellers.customer_id
    CHECKS[service](export, travellers)
    assert travellers.other_id not in response.text
    assert "Andersweit" not in response.text
    for name, provenance in export["provenance"].items():
        assert provenance["records"] == len(export["sections"][name])
    rows = await _audit_rows(served.runtime, "customer.export", travellers.customer_id)
    assert rows
    assert rows[-1]["principal"] == "dev-admin"
    assert rows[-1]["detail"]["customer_ids"] == [travellers.customer_id]


@pytest.mark.parametrize("service", SERVICES)
async def test_only_an_admin_may_export_and_a_refusal_is_audited(
    service: str, system: dict[str, Served], travellers: Travellers
) -> None:
    served = system[service]
    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{served.url}/v1/privacy/customers/{travellers.customer_id}/export", headers=SUPERVISOR
        )
    assert response.status_code == 403
    rows = await _audit_rows(served.runtime, "access.denied", travellers.customer_id)
    assert any(r["principal"] == "dev-supervisor" and r["detail"].get("action") == "customer.export" for r in rows)


async def test_a_service_finds_records_kept_under_the_ids_it_is_told_of(
    system: dict[str, Served], travellers: Travellers
) -> None:
    # Erika's id passed as one of Otto's other ids brings her records into his export: `also` is how
    # the one call passes every id profile knows for a traveller. (Asked this way round, so that
    # Erika's own access log never names Otto.)
    url = f"{system['value'].url}/v1/privacy/customers/{travellers.other_id}/export"
    async with httpx.AsyncClient() as http:
        response = await http.get(url, params={"also": travellers.customer_id}, headers=ADMIN)
    assert response.status_code == 200
    assert {b["customer_id"] for b in response.json()["sections"]["ledger"]} == {
        travellers.customer_id,
        travellers.other_id,
    }


def _privacy_client(system: dict[str, Served]) -> httpx.AsyncClient:
    """The export router in a small app of its own; its audit rows go to profile's audit log here
    (the privacy service's app, with its own schema, is built elsewhere)."""
    app = create_app(
        title="privacy (export)", settings=ServiceSettings(service_name="privacy", environment="test"),
        lifespan=_no_lifespan,
    )  # fmt: skip
    app.include_router(export_api.router)
    app.state.runtime = SimpleNamespace(pool=system["profile"].runtime.pool)
    app.state.export_settings = ExportSettings(
        **{f"{name}_url": served.url for name, served in system.items()}, timeout_seconds=30
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://privacy.test")


@asynccontextmanager
async def _no_lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield


async def test_one_call_returns_every_services_part_with_provenance(
    system: dict[str, Served], travellers: Travellers
) -> None:
    async with _privacy_client(system) as privacy:
        refused = await privacy.get(f"/v1/customers/{travellers.customer_id}/export", headers=SUPERVISOR)
        unknown = await privacy.get("/v1/customers/cus_nobody/export", headers=ADMIN)
        response = await privacy.get(f"/v1/customers/{travellers.customer_id}/export", headers=ADMIN)
    assert refused.status_code == 403
    assert unknown.status_code == 404
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["cache-control"] == "no-store"
    document = response.json()
    assert document["complete"] is True
    assert document["missing"] == []
    assert document["customer_ids"] == [travellers.customer_id]
    assert set(document["services"]) == set(SERVICES)
    for service, part in document["services"].items():
        assert part["status"] == "complete"
        CHECKS[service](part["export"], travellers)
        assert part["export"]["provenance"]
    assert travellers.other_id not in response.text
    rows = await _audit_rows(system["profile"].runtime, "customer.export", travellers.customer_id)
    assert any(r["detail"].get("complete") is True for r in rows)
    json.loads(response.content)  # one JSON document, as downloaded


async def test_with_a_service_stopped_the_document_is_marked_partial(
    system: dict[str, Served], travellers: Travellers
) -> None:
    await system["value"].stop()  # the last test of the module: the service stays down
    async with _privacy_client(system) as privacy:
        response = await privacy.get(f"/v1/customers/{travellers.customer_id}/export", headers=ADMIN)
    assert response.status_code == 207, response.text
    document = response.json()
    assert document["complete"] is False
    assert document["missing"] == ["value"]
    value = document["services"]["value"]
    assert value["status"] == "unreachable"
    assert value["export"] is None
    assert value["error"]
    for service in ("profile", "preferences", "feedback", "notifications", "trips"):
        assert document["services"][service]["status"] == "complete"
    rows = await _audit_rows(system["profile"].runtime, "customer.export", travellers.customer_id)
    assert any(r["detail"].get("missing") == ["value"] for r in rows)
