"""A record that matches two customers joins them (issue 15: clustering), unless their identifiers conflict."""

from __future__ import annotations

import functools
import random
import uuid
from typing import Any

import pytest

from services.kit.contracts.customers import CustomerMergedV1
from services.kit.contracts.envelope import Envelope
from services.kit.db import connection
from services.profile.bootstrap import build_definition
from services.profile.service_layer import curation
from services.profile.settings import ProfileSettings
from tests import builders
from tests.harness import TestEnv

pytestmark = pytest.mark.integration


def _people(
    given: str, son_dob: str | None
) -> tuple[dict[str, str | None], dict[str, str | None], dict[str, str | None]]:
    # The tests share one store: each has its own given name, so one test's traveller never
    # matches another's (two family names "Novak" and six random letters can be one typo apart).
    family = f"Novak{uuid.uuid4().hex[:6]}"
    email = f"{given.lower()}.{uuid.uuid4().hex[:8]}@example.com"
    phone = f"+49 30 {random.randint(2_000_000, 9_999_999)}"
    # The HR record: email and birth date. The hotel record: only the phone (and a birth date when
    # it is somebody else). The booking: email and phone, no birth date — it matches both.
    hr = {"given_name": given, "family_name": family, "email": email, "phone": None, "date_of_birth": "1980-05-04"}
    hotel = {"given_name": given, "family_name": family, "email": None, "phone": phone, "date_of_birth": son_dob}
    booking = {"given_name": given, "family_name": family, "email": email, "phone": phone, "date_of_birth": None}
    return hr, hotel, booking


def _has_booking(booking_id: str, events: list[Envelope[Any]]) -> bool:
    return any(e.payload.booking_id == booking_id for e in events)


async def _resolve(env: TestEnv, travellers: list[dict[str, str | None]]) -> list[str]:
    """Send the travellers one after another (each resolved before the next), return their customer ids."""
    ids = []
    for i, t in enumerate(travellers):
        # No company and no nationality: the names alone leave the first two apart (a review).
        traveller = builders.traveller(**t, nationality=None, language=None)
        event = builders.booking_created(source_system=f"desk-{i}", traveller=traveller, company=None)
        await env.publish("booking.events.v1", event)
        booking_id = event.payload.booking_id
        resolved = await env.events("profile.bookings.v1", until=functools.partial(_has_booking, booking_id))
        ids.append(next(e.payload.customer_id for e in resolved if e.payload.booking_id == booking_id))
    return ids


async def test_a_record_matching_two_customers_joins_them_and_the_join_can_be_undone(env: TestEnv) -> None:
    hr, hotel, booking = _people("Mila", son_dob=None)
    async with env.running(build_definition(env.settings(ProfileSettings))) as profile:
        first, second, third = await _resolve(env, [hr, hotel, booking])
        assert first != second  # names alone: two customers (and a review between them)
        merged = await env.events(
            "profile.customer-events.v1",
            until=lambda evs: any(
                isinstance(e.payload, CustomerMergedV1)
                and {e.payload.survivor_id, e.payload.absorbed_id} == {first, second}
                for e in evs
            ),
        )
        event = next(
            e.payload
            for e in merged
            if isinstance(e.payload, CustomerMergedV1) and e.payload.absorbed_id in (first, second)
        )
        assert event.reason == "automatic"
        assert event.actor is None
        assert third == event.survivor_id
        conn = await env.admin_connect()
        try:
            row = await conn.fetchrow(
                "SELECT reason, pre_state IS NOT NULL AS undoable FROM profile.merges WHERE merge_id = $1",
                event.merge_id,
            )
            status = await conn.fetchval(
                "SELECT status FROM profile.customers WHERE customer_id = $1", event.absorbed_id
            )
        finally:
            await conn.close()
        # The existing unmerge takes it back: both customers active again.
        async with connection(profile.pool, transaction=True) as conn:
            await curation.unmerge_customers(
                conn, merge_id=event.merge_id, actor="sup", config=profile.definition.extras["config"]
            )
            statuses = await conn.fetch("SELECT status FROM customers WHERE customer_id = ANY($1)", [first, second])
    assert row is not None
    assert (row["reason"], row["undoable"], status) == ("automatic", True, "merged")
    assert [r["status"] for r in statuses] == ["active", "active"]


async def test_a_record_matching_a_father_and_his_son_does_not_join_them(env: TestEnv) -> None:
    hr, son, booking = _people("Tomasz", son_dob="2008-11-30")
    async with env.running(build_definition(env.settings(ProfileSettings))):
        father_id, son_id, _third = await _resolve(env, [hr, son, booking])
    assert father_id != son_id
    conn = await env.admin_connect()
    try:
        joined = await conn.fetchval(
            "SELECT count(*) FROM profile.merges WHERE survivor_id = ANY($1) OR absorbed_id = ANY($1)",
            [father_id, son_id],
        )
        statuses = await conn.fetch(
            "SELECT status FROM profile.customers WHERE customer_id = ANY($1)", [father_id, son_id]
        )
    finally:
        await conn.close()
    assert joined == 0
    assert {r["status"] for r in statuses} == {"active"}
