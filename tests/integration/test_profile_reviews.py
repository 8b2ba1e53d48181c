"""The review queue on the real database: an undone merge puts its items back, and review items
do not depend on the order a batch arrives in (issue: what the customer view says is true)."""

from __future__ import annotations

import itertools
import random
import string
import uuid
from typing import Any

import httpx
import pytest

from services.kit.contracts.bookings import TravellerV1
from services.kit.runtime import ServiceRuntime
from services.profile.bootstrap import profile_config
from services.profile.service_layer.handlers import handle_booking_events
from services.profile.settings import ProfileSettings
from tests import builders

pytestmark = pytest.mark.integration

AGENT = {"X-API-Key": "dev-agent-key"}
SUPERVISOR = {"X-API-Key": "dev-supervisor-key"}
BOOKING_SYSTEM = {"X-API-Key": "dev-booking-system-key"}


def name() -> str:
    """A name no other test uses (so tests sharing the database never match each other)."""
    return "".join(random.choices(string.ascii_lowercase, k=9)).capitalize()


async def post_record(client: httpx.AsyncClient, system: str, source_id: str, **traveller: Any) -> str:
    body = {"source_system": system, "source_id": source_id, "traveller": traveller}
    r = await client.post("/v1/source-records", json=body, headers=BOOKING_SYSTEM)
    assert r.status_code == 200, r.text
    customer_id: str = r.json()["customer_id"]
    return customer_id


async def open_pairs(client: httpx.AsyncClient, customers: set[str]) -> dict[frozenset[str], dict[str, Any]]:
    """The open review items among `customers`, by pair."""
    items = (await client.get("/v1/reviews", params={"limit": 100}, headers=AGENT)).json()["items"]
    mine = [i for i in items if {i["customer_id"], i["candidate_id"]} <= customers]
    pairs = {frozenset((i["customer_id"], i["candidate_id"])): i for i in mine}
    assert len(pairs) == len(mine)  # one open item per pair
    return pairs


async def three_alike(client: httpx.AsyncClient) -> tuple[str, str, str]:
    """Three travellers who may be one: each pair is a review item."""
    given, family = name(), name()
    a = await post_record(client, "crm", f"A-{family}", given_name=given, family_name=family, nationality="AT")
    b = await post_record(client, "web", f"B-{family}", given_name=given, family_name=family, nationality="Austria")
    c = await post_record(client, "hr", f"C-{family}", full_name=f"{given} {family}", nationality="Österreich")
    assert len({a, b, c}) == 3
    assert len(await open_pairs(client, {a, b, c})) == 3
    return a, b, c


async def test_undoing_the_merge_of_an_accepted_review_puts_it_back_in_the_queue(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, client = service
    a, b, c = await three_alike(client)
    item = (await open_pairs(client, {a, b, c}))[frozenset((a, b))]
    r = await client.post(f"/v1/reviews/{item['review_id']}/decision", json={"decision": "accept"}, headers=SUPERVISOR)
    assert r.status_code == 200, r.text
    merge_id = r.json()["merge_id"]
    survivor = (await client.get(f"/v1/customers/{b}", headers=AGENT)).json()["customer_id"]
    absorbed = ({a, b} - {survivor}).pop()
    # The merge closed the pair's item and moved the absorbed customer's item with c to the survivor.
    assert set(await open_pairs(client, {a, b, c})) == {frozenset((survivor, c))}

    r = await client.post(f"/v1/merges/{merge_id}/undo", headers=SUPERVISOR)
    assert r.status_code == 200, r.text
    back = (await client.get(f"/v1/reviews/{item['review_id']}", headers=AGENT)).json()
    assert (back["status"], back["merge_id"], back["decided_by"]) == ("open", None, None)
    assert set(await open_pairs(client, {a, b, c})) == {frozenset(p) for p in itertools.combinations((a, b, c), 2)}
    async with runtime.pool.acquire() as conn:
        distinct = await conn.fetchval(
            "SELECT count(*) FROM distinct_pairs WHERE customer_a = $1 AND customer_b = $2", *sorted((a, b))
        )
    assert distinct == 0  # undoing is not a verdict: the agent decides the pair again
    history = (await client.get(f"/v1/customers/{absorbed}/history", headers=AGENT)).json()["items"]
    assert "review-reopened" in {h["change"] for h in history}
    again = await client.post(
        f"/v1/reviews/{item['review_id']}/decision", json={"decision": "reject"}, headers=SUPERVISOR
    )
    assert again.status_code == 200, again.text


async def test_a_manual_merge_and_its_undo_leave_the_queue_as_it_was(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    _, client = service
    a, b, c = await three_alike(client)
    before = await open_pairs(client, {a, b, c})
    r = await client.post("/v1/merges", json={"survivor_id": a, "absorbed_id": b}, headers=SUPERVISOR)
    assert r.status_code == 201, r.text
    assert set(await open_pairs(client, {a, b, c})) == {frozenset((a, c))}
    r = await client.post(f"/v1/merges/{r.json()['merge_id']}/undo", headers=SUPERVISOR)
    assert r.status_code == 200, r.text
    after = await open_pairs(client, {a, b, c})
    assert {p: i["review_id"] for p, i in after.items()} == {p: i["review_id"] for p, i in before.items()}
    assert {p: (i["customer_id"], i["candidate_id"]) for p, i in after.items()} == {
        p: (i["customer_id"], i["candidate_id"]) for p, i in before.items()
    }


async def test_review_items_do_not_depend_on_the_order_a_batch_arrives_in(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    """The same records in four orders (fresh travellers each run, same roles): the same review items."""
    runtime, client = service
    settings = runtime.settings
    assert isinstance(settings, ProfileSettings)
    outcomes = []
    for run in range(4):
        given, families, prefix = name(), [name() for _ in range(3)], uuid.uuid4().hex[:8]
        dob = f"19{random.randint(50, 99)}-{random.randint(1, 12):02d}-{random.randint(1, 28):02d}"
        run_of = {"given": given, "dob": dob, "prefix": prefix}
        first = mailbox()
        events = [
            role(run_of, 1, families[0], email=first, phone="+49 30 1234567", nationality="DE"),
            # someone else: the same first name and birth date
            role(run_of, 2, families[1], email=mailbox(), nationality="DE"),
            # the first traveller again, from another desk
            role(run_of, 3, families[0], email=first, system="hotel-desk"),
            role(run_of, 4, families[2], email=mailbox(), nationality="DE"),  # and a third one
        ]
        labels = {f"{prefix}-{n}": n for n in range(1, 5)}
        random.Random(run).shuffle(events)
        async with runtime.pool.acquire() as conn, conn.transaction():
            await handle_booking_events(conn, events, config=profile_config(settings))
        async with runtime.pool.acquire() as conn:
            records = await conn.fetch(
                "SELECT source_id, customer_id FROM source_records WHERE source_id = ANY($1::text[])", list(labels)
            )
        roles: dict[str, frozenset[int]] = {}
        for r in records:
            roles[r["customer_id"]] = roles.get(r["customer_id"], frozenset()) | {labels[r["source_id"]]}
        items = (await open_pairs(client, set(roles))).values()
        outcomes.append(
            sorted(
                (sorted(roles[i["customer_id"]]), sorted(roles[i["candidate_id"]]), labels[i["source_id"]], i["score"])
                for i in items
            )
        )
    assert outcomes[0]
    assert all(o == outcomes[0] for o in outcomes), outcomes


def role(run: dict[str, str], n: int, family: str, system: str = "acme-gds", **extra: Any) -> Any:
    """The booking of role `n` in a run of the order test (its source id sorts by role)."""
    given, prefix = run["given"], run["prefix"]
    traveller = TravellerV1(given_name=given, family_name=family, date_of_birth=run["dob"], **extra)
    return builders.booking_created(source_system=system, traveller_id=f"{prefix}-{n}", traveller=traveller)


def mailbox() -> str:
    """An address like no other (addresses that look alike count as evidence)."""
    return f"{uuid.uuid4().hex[:12]}@{name().lower()}.example"
