"""Preferences' next best actions on the real broker and database: hotel suggestions from the stays of
resolved bookings (a cancellation takes its stay back), confirmations of unconfident inferences."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.kit.contracts.bookings import HotelSegmentV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.preferences import PreferenceSnapshotV1
from services.preferences.bootstrap import build_definition
from services.preferences.settings import PreferencesSettings
from tests.harness import TestEnv, wait_until
from tests.integration.test_preferences_service import AGENT, api, latest_snapshot, new_customer, prefs_of, resolved

pytestmark = pytest.mark.integration

BOOKINGS = "profile.bookings.v1"


def stay(chain: str, city: str, check_in: date) -> HotelSegmentV1:
    return HotelSegmentV1(
        hotel_name=f"{chain} {city}", chain_code=chain, city=city, country="FR", check_in=check_in,
        check_out=check_in + timedelta(days=2), star_rating=4, room_type="Double",
    )  # fmt: skip


async def _actions(client: httpx.AsyncClient, cid: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/customers/{cid}/next-actions", headers=AGENT)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_city_visited_often_gets_a_hotel_suggestion_until_its_stays_are_cancelled(env: TestEnv) -> None:
    cid = new_customer()
    today = datetime.now(UTC).date()
    ids = [f"BK-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    bookings = [
        resolved(cid, stay("MC", "Paris", today - timedelta(days=90)), booking_id=ids[0]),
        resolved(cid, stay("HI", "Paris", today - timedelta(days=60)), booking_id=ids[1]),
        resolved(cid, stay("MC", "Paris", today - timedelta(days=30)), booking_id=ids[2]),
    ]
    async with env.running(build_definition(env.settings(PreferencesSettings))) as runtime, api(runtime) as client:
        for b in bookings:
            await env.publish(BOOKINGS, b)

        def inferred(events: list[Envelope[Any]]) -> bool:
            snap: PreferenceSnapshotV1 | None = latest_snapshot(events, cid)
            return snap is not None and "hotel.chains.preferred" in prefs_of(snap)

        await env.events("preferences.snapshots.v1", until=inferred)

        async def suggestion() -> dict[str, Any] | None:
            return next((a for a in await _actions(client, cid) if a["kind"] == "suggest_hotel"), None)

        found = await wait_until(suggestion)
        assert found["facts"]["city"] == "Paris"
        assert found["facts"]["stays"] == 3
        assert found["facts"]["chains_used"] == {"MC": 2, "HI": 1}
        assert "Stayed in Paris 3 times" in found["reason"]
        assert found["service"] == "preferences"

        # Two of the three stays are cancelled: Paris is no longer a city the traveller often visits.
        for booking_id, chain, days in ((ids[1], "HI", 60), (ids[2], "MC", 30)):
            cancelled = resolved(
                cid, stay(chain, "Paris", today - timedelta(days=days)), booking_id=booking_id, kind="cancelled"
            )
            await env.publish(BOOKINGS, cancelled)

        async def gone() -> bool:
            return all(a["kind"] != "suggest_hotel" for a in await _actions(client, cid))

        assert await wait_until(gone)


async def test_next_actions_of_an_unknown_traveller_are_a_404_problem(env: TestEnv) -> None:
    async with env.running(build_definition(env.settings(PreferencesSettings))) as runtime, api(runtime) as client:
        response = await client.get(f"/v1/customers/{new_customer()}/next-actions", headers=AGENT)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
