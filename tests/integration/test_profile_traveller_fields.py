"""A traveller's addresses, HR data and identity numbers on the real broker and database: the
golden record with provenance through the API, the snapshot on the topic without any identity
number, and the same fields from a bulk-import row."""

from __future__ import annotations

import json
import random
import string
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.kit.contracts.customers import CustomerSnapshotV1
from services.kit.contracts.envelope import Envelope
from services.kit.runtime import ServiceRuntime
from services.profile.bootstrap import build_definition, profile_config
from services.profile.entrypoints.api import create_profile_app
from services.profile.entrypoints.cli import run_import
from services.profile.service_layer.handlers import handle_booking_events
from services.profile.settings import ProfileSettings
from tests import builders
from tests.harness import TestEnv

pytestmark = pytest.mark.integration

AGENT = {"X-API-Key": "dev-agent-key"}
NATIONAL_ID = "65929970489"
# Another traveller's number: a shared national id makes two records one traveller.
BULK_NATIONAL_ID = "57419348408"
KTN = "TT1234567"
REDRESS = "1234567"
SECRETS = (NATIONAL_ID, KTN, REDRESS)


def surname() -> str:
    return "".join(random.choices(string.ascii_lowercase, k=9)).capitalize()


@pytest.fixture(scope="module")
async def service(env: TestEnv) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    async with env.running(build_definition(env.settings(ProfileSettings))) as runtime:
        app = create_profile_app(runtime, workers=False)
        app.state.runtime = runtime
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://profile") as client:
            yield runtime, client


async def customer_of(runtime: ServiceRuntime, source: tuple[str, str]) -> str:
    async with runtime.pool.acquire() as conn:
        value = await conn.fetchval(
            "SELECT customer_id FROM source_records WHERE source_system = $1 AND source_id = $2", *source
        )
    assert isinstance(value, str)
    return value


async def test_a_booking_with_addresses_and_ids_gives_a_golden_record_and_a_snapshot_without_ids(
    env: TestEnv, service: tuple[ServiceRuntime, httpx.AsyncClient]
) -> None:
    runtime, client = service
    family = surname()
    traveller = builders.traveller(
        given_name="Edda",
        family_name=family,
        email=f"edda.{family}@{family}.example".lower(),
        home_address={"line": "Hauptstr. 5, 10115 Berlin", "country": "DE"},
        business_address={"street": "1 Main Street", "postcode": "62704", "city": "Springfield", "country": "US"},
        employee_number="E-4711",
        gender="female",
        secondary_emails=("edda@private.example", "broken@"),
        national_id_number=NATIONAL_ID,
        national_id_country="DE",
        known_traveller_number=KTN,
        redress_number=REDRESS,
    )
    created = builders.booking_created(traveller=traveller)
    settings = runtime.settings
    assert isinstance(settings, ProfileSettings)
    async with runtime.pool.acquire() as conn, conn.transaction():
        await handle_booking_events(conn, [created], config=profile_config(settings))
    cid = await customer_of(runtime, (created.payload.source_system, created.payload.source_traveller_id))

    r = await client.get(f"/v1/customers/{cid}", headers=AGENT)
    assert r.status_code == 200, r.text
    fields = r.json()["fields"]
    home = fields["home_address"]
    assert home["value"]["postcode"] == "10115"
    assert home["value"]["city"] == "Berlin"
    assert (home["source_system"], home["rule"]) == (created.payload.source_system, "recency")
    assert fields["business_address"]["value"]["street"] == "1 Main Street"
    assert fields["employee_number"]["value"] == "E-4711"
    assert fields["gender"]["value"] == "female"
    assert fields["other_emails"]["value"] == ["edda@private.example"]
    assert fields["identity_numbers_on_file"]["value"] == ["known_traveller", "national_id", "redress"]
    records = await client.get(f"/v1/customers/{cid}/source-records", headers=AGENT)
    assert records.status_code == 200, records.text
    [record] = records.json()["items"]
    # kept as "(hashed)", and an agent is not even shown that (services/kit/sensitive.py)
    assert record["received"]["national_id_number"] == {"redacted": "secret-identifier"}
    assert "sealed" not in record["normalized"]
    assert "secondary_emails:broken@" in record["problems"]  # flagged, and the quality views count it
    assert r.json()["quality"]["invalid_values"] >= 1
    assert not any(s in r.text + records.text for s in SECRETS)

    def published(evs: list[Envelope[Any]]) -> bool:
        return any(isinstance(e.payload, CustomerSnapshotV1) and e.payload.customer_id == cid for e in evs)

    events = await env.events("profile.customers.v1", until=published)
    [snapshot] = [
        e.payload for e in events if isinstance(e.payload, CustomerSnapshotV1) and e.payload.customer_id == cid
    ]
    assert snapshot.home_address is not None
    assert snapshot.home_address.city == "Berlin"
    assert snapshot.employee_number == "E-4711"
    assert snapshot.other_emails == ("edda@private.example",)
    wire = snapshot.model_dump_json()
    assert not any(s in wire for s in SECRETS)
    assert "identity_numbers" not in wire


async def test_a_bulk_row_with_the_new_columns(
    env: TestEnv, service: tuple[ServiceRuntime, httpx.AsyncClient], tmp_path: Path
) -> None:
    runtime, client = service
    family = surname()
    row = {
        "source_system": "hr",
        "source_id": f"hr-{family}".lower(),
        "given_name": "Jorin",
        "family_name": family,
        "home_address": "Hauptstr. 5, 10115 Berlin",
        "home_country": "DE",
        "business_street": "1 Main Street",
        "business_city": "Springfield",
        "business_postcode": "62704",
        "business_country": "US",
        "employee_number": "E-0815",
        "national_id_number": BULK_NATIONAL_ID,
        "national_id_country": "DE",
        "secondary_phones": "+44 20 7946 0958",
        "gender": "male",
    }
    path = tmp_path / "hr.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    summary = await run_import(
        path, fmt="jsonl", source_system=None, settings=env.settings(ProfileSettings), batch_size=10,
        show_progress=False,
    )  # fmt: skip
    assert (summary.records, summary.errors) == (1, [])
    cid = await customer_of(runtime, ("hr", row["source_id"]))
    r = await client.get(f"/v1/customers/{cid}", headers=AGENT)
    fields = r.json()["fields"]
    assert fields["home_address"]["value"]["city"] == "Berlin"
    assert fields["business_address"]["value"]["postcode"] == "62704"
    assert fields["employee_number"]["value"] == "E-0815"
    assert fields["other_phones"]["value"] == ["+442079460958"]
    assert fields["identity_numbers_on_file"]["value"] == ["national_id"]
    assert BULK_NATIONAL_ID not in r.text
    assert datetime.fromisoformat(fields["gender"]["last_seen"]) <= datetime.now(UTC)
