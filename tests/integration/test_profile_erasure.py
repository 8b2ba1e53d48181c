"""Profile's part of an erasure, on the real broker and database: ids expanded, rows removed, tombstones,
subjects to shred, `CustomerErasedV1` for everyone else; repeated requests, unknown ids, late bookings."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.kit.contracts.bookings import BookingChangedV1, BookingCreatedV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.privacy import CustomerErasedV1, ErasureRequestedV1, ErasureStepDoneV1
from services.kit.db import connection
from services.kit.runtime import ServiceRuntime
from services.profile.bootstrap import build_definition
from services.profile.service_layer import curation
from services.profile.settings import ProfileSettings
from tests import builders
from tests.harness import TestEnv, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def profile(env: TestEnv) -> AsyncIterator[ServiceRuntime]:
    async with env.running(build_definition(env.settings(ProfileSettings))) as runtime:
        yield runtime


async def _book(env: TestEnv, source_system: str, **traveller: Any) -> Envelope[BookingCreatedV1]:
    created = builders.booking_created(source_system=source_system, traveller=builders.traveller(**traveller))
    await env.publish("booking.events.v1", created)
    return created


async def _customer_of(profile: ServiceRuntime, booking: Envelope[BookingCreatedV1]) -> str:
    async def linked() -> str | None:
        async with connection(profile.pool) as conn:
            found: str | None = await conn.fetchval(
                "SELECT customer_id FROM bookings WHERE source_system = $1 AND booking_id = $2",
                booking.payload.source_system, booking.payload.booking_id,
            )  # fmt: skip
            return found

    result: str = await wait_until(linked, timeout=60)
    return result


def _request(customer_id: str, erasure_id: str | None = None) -> Envelope[ErasureRequestedV1]:
    erasure_id = erasure_id or f"era_{uuid.uuid4().hex}"
    payload = ErasureRequestedV1(
        erasure_id=erasure_id, customer_id=customer_id, reason="data-subject-request", requested_by="dev-admin",
        requested_at=datetime.now(UTC),
    )  # fmt: skip
    return Envelope.new(payload, producer="privacy", subject_id=erasure_id)


async def _published(env: TestEnv, erasure_id: str, kind: type[Any], count: int = 1) -> list[Any]:
    def mine(events: list[Envelope[Any]]) -> list[Any]:
        return [e.payload for e in events if isinstance(e.payload, kind) and e.subject_id == erasure_id]

    return mine(await env.events("profile.erasures.v1", until=lambda evs: len(mine(evs)) >= count, timeout=60))


async def _count(profile: ServiceRuntime, sql: str, *args: Any) -> int:
    async with connection(profile.pool) as conn:
        return int(await conn.fetchval(sql, *args))


async def test_an_erasure_reaches_merged_split_off_and_restored_ids_and_leaves_the_others(
    env: TestEnv, profile: ServiceRuntime
) -> None:
    tag = uuid.uuid4().hex[:6]
    family = f"Oberwexler{tag}"
    email = f"vita.{tag}@example.com"
    a = await _book(env, "flight-desk", given_name="Vita", family_name=family, email=email, passport_number="P1234567")
    b = await _book(env, "hotel-desk", given_name="Vita", family_name=family, email=f"v.{tag}@private.example",
                    date_of_birth=None)  # fmt: skip
    y = await _book(env, "flight-desk", given_name="Yorick", family_name=f"Unrelated{tag}")
    survivor, absorbed, bystander = [await _customer_of(profile, x) for x in (a, b, y)]
    assert len({survivor, absorbed, bystander}) == 3
    config = profile.definition.extras["config"]
    async with connection(profile.pool, transaction=True) as conn:
        await curation.merge_customers(
            conn, survivor_id=survivor, absorbed_id=absorbed, reason="agent", actor="sup", config=config
        )
    # A third record links to the survivor by its email; an agent splits it off (a part that came from them).
    c = await _book(env, "crm", given_name="Vita", family_name=family, email=email)
    assert await _customer_of(profile, c) == survivor
    async with connection(profile.pool, transaction=True) as conn:
        split_off = await curation.split_record(
            conn, customer_id=survivor, source_system="crm", source_id=c.payload.source_traveller_id, actor="sup",
            config=config,
        )  # fmt: skip
    # Someone merged into them and restored again: they too had been part of the traveller.
    z = await _book(env, "flight-desk", given_name="Zeno", family_name=f"Quast{tag}")
    restored = await _customer_of(profile, z)
    async with connection(profile.pool, transaction=True) as conn:
        merge = await curation.merge_customers(
            conn, survivor_id=survivor, absorbed_id=restored, reason="agent", actor="sup", config=config
        )
        await curation.unmerge_customers(conn, merge_id=merge.merge_id, actor="sup", config=config)
    tokens_before = await _count(profile, "SELECT count(*) FROM value_frequencies WHERE token LIKE $1", f"%{tag}%")
    assert tokens_before > 0

    request = _request(absorbed)  # the id merged away: the whole traveller is reached from it
    await env.publish("privacy.erasures.v1", request)
    [erased] = await _published(env, request.payload.erasure_id, CustomerErasedV1)
    ids = {survivor, absorbed, split_off, restored}
    assert set(erased.customer_ids) == ids
    assert set(erased.record_keys) == {x.subject_id for x in (a, b, c, z)}
    [step] = await _published(env, request.payload.erasure_id, ErasureStepDoneV1)
    assert step.customer_ids == len(ids) + 4  # the ids and the booking record keys

    by_id = ("customers", "source_records", "bookings", "corrections", "quality_tasks", "customer_history")
    for table in by_id:
        left = await _count(profile, f"SELECT count(*) FROM {table} WHERE customer_id = ANY($1::text[])", list(ids))
        assert left == 0, table
    merges = "SELECT count(*) FROM merges WHERE survivor_id = $1 OR absorbed_id = $1"
    assert await _count(profile, merges, survivor) == 0
    assert await _count(profile, "SELECT count(*) FROM customers WHERE customer_id = $1", bystander) == 1
    tokens = "SELECT count(*) FROM value_frequencies WHERE token LIKE $1"
    assert await _count(profile, tokens, f"%{family.lower()}%") == 0
    assert await _count(profile, tokens, f"%unrelated{tag}%") == 1
    shred = await _count(
        profile, "SELECT count(*) FROM shred_requests WHERE erasure_id = $1 AND subject = ANY($2::text[])",
        request.payload.erasure_id, [*ids, *erased.record_keys],
    )  # fmt: skip
    assert shred == len(ids) + 4
    tombstoned = await env.read_topic(
        "profile.customers.v1", until=lambda rs: {k for k, v, _ in rs if v is None} >= {i.encode() for i in ids}
    )
    assert tombstoned

    # The request again (redelivered under another event id): the step is reported again, nothing more.
    await env.publish("privacy.erasures.v1", _request(absorbed, request.payload.erasure_id))
    await _published(env, request.payload.erasure_id, ErasureStepDoneV1, count=2)
    assert len(await _published(env, request.payload.erasure_id, CustomerErasedV1)) == 1
    audits = "SELECT count(*) FROM audit_log WHERE action = 'customer.erase' AND subject_id = $1"
    assert await _count(profile, audits, request.payload.erasure_id) == 1

    # A change of an erased booking arriving late does not bring the traveller back.
    late = Envelope.new(
        BookingChangedV1(**{**a.payload.model_dump(), "change_reason": "late"}), producer="flight-desk",
        subject_id=a.subject_id,
    )  # fmt: skip
    await env.publish("booking.events.v1", late)
    processed = "SELECT count(*) FROM processed_events WHERE event_id = $1"
    await wait_until(lambda: _count(profile, processed, late.event_id), timeout=60)
    assert await _count(
        profile, "SELECT count(*) FROM source_records WHERE source_system = 'flight-desk' AND source_id = $1",
        a.payload.source_traveller_id,
    ) == 0  # fmt: skip


async def test_a_traveller_profile_never_knew_is_still_announced_to_the_others(
    env: TestEnv, profile: ServiceRuntime
) -> None:
    unknown = f"cus_{uuid.uuid4().hex}"
    request = _request(unknown)
    await env.publish("privacy.erasures.v1", request)
    [erased] = await _published(env, request.payload.erasure_id, CustomerErasedV1)
    assert (erased.customer_ids, erased.record_keys) == ((unknown,), ())
    [step] = await _published(env, request.payload.erasure_id, ErasureStepDoneV1)
    assert step.customer_ids == 1
