"""The one-call export's fan-out and assembly, against fake services (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from services.kit.exporting import plain, section
from services.privacy.export import SERVICES, ExportSettings, UnknownCustomerError, export_customer

Handler = Callable[[httpx.Request], httpx.Response]
SETTINGS = ExportSettings(**{f"{s}_url": f"http://{s}" for s in SERVICES})


def _export(service: str, customer_id: str, ids: list[str]) -> dict[str, object]:
    return {"service": service, "customer_id": customer_id, "customer_ids": ids,
            "generated_at": "2026-12-07T10:00:00+00:00", "sections": {"things": [{"a": 1}]},
            "provenance": {"things": {"table": "things", "records": 1}}}  # fmt: skip


def _services(**overrides: Handler) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        service = request.url.host
        if service in overrides:
            return overrides[service](request)
        if service == "profile":
            return httpx.Response(200, json=_export("profile", "cus_new", ["cus_new", "cus_old"]))
        return httpx.Response(200, json=_export(service, "cus_new", ["cus_new", "cus_old"]))

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), seen


async def test_profile_is_asked_first_and_the_others_get_every_id_of_the_traveller() -> None:
    client, seen = _services()
    async with client:
        document = await export_customer(client, SETTINGS, "cus_old")
    assert document.complete
    assert document.missing == []
    assert document.customer_id == "cus_new"
    assert document.requested_id == "cus_old"
    assert seen[0].url.host == "profile"
    for request in seen[1:]:
        assert request.url.path == "/v1/privacy/customers/cus_new/export"
        assert request.url.params.get_list("also") == ["cus_old"]
        assert request.headers["x-api-key"] == "dev-admin-key"


async def test_a_failing_service_is_named_with_its_reason_and_the_document_is_partial() -> None:
    client, _ = _services(
        feedback=lambda r: httpx.Response(503, json={"detail": "database unavailable"}),
        value=lambda r: httpx.Response(200, json={"not": "an export"}),
    )
    async with client:
        document = await export_customer(client, SETTINGS, "cus_new")
    assert not document.complete
    assert document.missing == ["feedback", "value"]
    assert document.services["feedback"].status == "failed"
    assert document.services["feedback"].error == "HTTP 503: database unavailable"
    assert document.services["value"].status == "failed"
    assert document.services["value"].export is None
    assert document.services["notifications"].status == "complete"


async def test_a_service_that_does_not_answer_in_time_is_a_timeout_not_a_hang() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        if request.url.host == "notifications":
            await asyncio.sleep(5)
        return httpx.Response(200, json=_export(request.url.host, "cus_new", ["cus_new"]))

    client = httpx.AsyncClient(transport=httpx.MockTransport(slow))
    async with client:
        document = await export_customer(client, SETTINGS.model_copy(update={"timeout_seconds": 0.2}), "cus_new")
    assert document.services["notifications"].status == "timeout"
    assert document.missing == ["notifications"]


async def test_without_profile_the_others_are_asked_with_the_given_id_and_the_gap_is_said() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client, seen = _services(profile=down)
    async with client:
        document = await export_customer(client, SETTINGS, "cus_old")
    assert document.services["profile"].status == "unreachable"
    assert "merged ids could not be known" in (document.services["profile"].error or "")
    assert document.missing == ["profile"]
    assert {r.url.path for r in seen[1:]} == {"/v1/privacy/customers/cus_old/export"}


async def test_an_id_profile_does_not_know_is_unknown() -> None:
    client, seen = _services(profile=lambda r: httpx.Response(404, json={"detail": "no traveller"}))
    async with client:
        with pytest.raises(UnknownCustomerError):
            await export_customer(client, SETTINGS, "cus_nobody")
    assert [r.url.host for r in seen] == ["profile"]


def test_production_refuses_the_development_key_and_plain_http() -> None:
    assert SERVICES == ("profile", "preferences", "feedback", "notifications", "value", "trips")
    assert len(ExportSettings().production_problems()) == 1 + len(SERVICES)
    safe = ExportSettings(api_key=SecretStr("k" * 32), **{f"{s}_url": f"https://{s}.internal" for s in SERVICES})
    assert safe.production_problems() == []


def test_exported_values_are_plain_json_with_iso_times_and_provenance_from_the_rows() -> None:
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    stored = {"at": at, "day": date(2026, 3, 1), "local": time(23, 30), "amount": Decimal("12.50"),
              "digest": b"\x01\xff", "nested": [{"at": at}]}  # fmt: skip
    exported = {"at": "2026-03-01T09:30:00+00:00", "day": "2026-03-01", "local": "23:30:00", "amount": "12.50",
                "digest": "01ff", "nested": [{"at": "2026-03-01T09:30:00+00:00"}]}  # fmt: skip
    assert plain(stored) == exported
    later = datetime(2026, 4, 1, tzinfo=UTC)
    s = section("bookings", [{"source_system": "gds", "at": at}, {"source_system": "crm", "at": later}], times=("at",))
    assert s.provenance.source_systems == ["crm", "gds"]
    assert (s.provenance.first_update, s.provenance.last_update, s.provenance.records) == (at, later, 2)
