"""Erase a traveller from profile: every id they had, every row they left, tombstones, shredding.

Runs in the consumer's transaction for an `ErasureRequestedV1`. Profile is where ids are known,
so it expands the request (merged and absorbed ids, parts that came from them) and tells every
other service through `CustomerErasedV1`, also for an id it never knew (others may hold data).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from services.kit.contracts.envelope import Envelope
from services.kit.contracts.privacy import CustomerErasedV1, ErasureRequestedV1
from services.kit.db import Connection, Record, connection, record_audit
from services.kit.erasure import already_erased, erase_kit_rows, exclude_consumers, finish_erasure, report_again
from services.kit.kafka import end_offsets, trim_consumed
from services.kit.outbox import enqueue, enqueue_tombstone
from services.kit.runtime import ServiceRuntime
from services.profile.adapters import customers as customers_db
from services.profile.adapters import erasure as store
from services.profile.adapters import identity as identity_db
from services.profile.adapters import shredding
from services.profile.adapters.shredding import shred_subjects
from services.profile.domain import erasure as rules
from services.profile.domain.matching import MatchFeatures, blocking_keys
from services.profile.domain.resolution import frequency_tokens
from services.profile.service_layer.events import CUSTOMERS_TOPIC, PRODUCER

log = logging.getLogger(__name__)

ERASURES_TOPIC = "profile.erasures.v1"
LANDING_TOPIC = "booking.events.v1"
_MAX_ROUNDS = 20  # links are followed this many hops at most (merge chains are short)


async def expand_ids(conn: Connection, requested: str) -> set[str]:
    """Every id an erasure of `requested` reaches, following the links stored around them."""
    ids = {requested}
    for _ in range(_MAX_ROUNDS):
        reached = rules.expand(requested, await store.links_around(conn, sorted(ids)))
        if reached <= ids:
            return ids
        ids |= reached
    log.warning("erasure of %s: links followed %d hops and still growing", requested, _MAX_ROUNDS)
    return ids


async def _lock(conn: Connection, ids: set[str]) -> list[Record]:
    """Take the resolver's locks on the traveller's records, then their customers' rows, until the set holds.

    A batch resolving one of these records waits, and afterwards reads the record gone (it is
    decided again, as a new traveller); one that committed first is erased with the rest."""
    records: list[Record] = []
    for _ in range(_MAX_ROUNDS):
        records = await store.records_of(conn, sorted(ids))
        keys = [f"src:{r['source_system']}:{r['source_id']}" for r in records]
        keys += [k for r in records for k in blocking_keys(MatchFeatures.from_json(r["features"]))]
        await identity_db.lock_identities(conn, keys)
        await customers_db.lock_customers(conn, ids)
        again = await store.records_of(conn, sorted(ids))
        if [(r["source_system"], r["source_id"]) for r in again] == [
            (r["source_system"], r["source_id"]) for r in records
        ]:
            return again
    return await store.records_of(conn, sorted(ids))


async def handle_erasure_requested(conn: Connection, event: Envelope[Any], *, digest_key: bytes, now: datetime) -> None:
    """Erase the traveller's rows and ids here; tombstone them; ask for their keys to go; tell the others."""
    p: ErasureRequestedV1 = event.payload
    await exclude_consumers(conn)  # a booking batch in flight commits first, and is erased with the rest
    done_before = await already_erased(conn, p.erasure_id)
    if done_before is not None:  # a request delivered again, or sent twice: nothing is erased twice
        await report_again(conn, service=PRODUCER, erasure_id=p.erasure_id, done_before=done_before)
        return
    ids = await expand_ids(conn, p.customer_id)
    records = await _lock(conn, ids)
    known = await store.known_ids(conn, sorted(ids))
    bookings = await store.bookings_of(conn, known)
    goldens = await store.goldens_of(conn, known)
    raws = [dict(r["raw"].get("traveller", r["raw"])) if isinstance(r["raw"], dict) else {} for r in records]
    values = rules.personal_values(goldens, raws)
    emails = sorted({v.lower() for v in values if "@" in v})
    tokens = rules.frequency_token_counts(
        [t for r in records for t in frequency_tokens(MatchFeatures.from_json(r["features"]))]
    )
    rows = await store.erase(
        conn, ids=known, records=[(r["source_system"], r["source_id"]) for r in records], frequency_tokens=tokens,
        emails=emails,
    )  # fmt: skip
    customer_ids = sorted(ids)
    rows.update({f"kit.{k}": n for k, n in (await erase_kit_rows(conn, customer_ids, values)).items() if n})
    for customer_id in customer_ids:
        await enqueue_tombstone(conn, topic=CUSTOMERS_TOPIC, key=customer_id)
    record_keys = rules.record_keys(bookings)
    await shred_subjects(conn, [*customer_ids, *record_keys], erasure_id=p.erasure_id, now=now)
    await record_audit(
        conn, principal=p.requested_by, role="admin", action="customer.erase", subject_id=p.erasure_id,
        detail={"reason": p.reason, "customer_ids": len(customer_ids), "records": len(records),
                "bookings": len(bookings)},
        correlation_id=str(event.correlation_id),
    )  # fmt: skip
    erased = CustomerErasedV1(
        erasure_id=p.erasure_id, requested_id=p.customer_id, customer_ids=tuple(customer_ids),
        record_keys=tuple(record_keys), reason=p.reason, requested_by=p.requested_by, erased_at=now,
    )  # fmt: skip
    await enqueue(
        conn, topic=ERASURES_TOPIC,
        envelope=Envelope.new(erased, producer=PRODUCER, subject_id=p.erasure_id, caused_by=event),
    )  # fmt: skip
    await finish_erasure(
        conn, service=PRODUCER, erasure_id=p.erasure_id, subjects=[*customer_ids, *record_keys], key=digest_key,
        rows=rows, now=now,
    )  # fmt: skip
    log.info("erasure %s: %d id(s), %d record(s), %d booking(s) erased", p.erasure_id, len(customer_ids),
             len(records), len(bookings))  # fmt: skip


async def trim_landing_topic_job(runtime: ServiceRuntime, *, poll_seconds: float = 2.0) -> None:
    """The background job that takes consumed booking events off the landing topic after erasures
    (see `services.profile.adapters.shredding`). Supervised: a broker or database outage ends a pass,
    and the supervisor starts it again.

    Every record of an erased traveller was written before their erasure was recorded, so the job
    notes where the topic ends when it first sees pending erasures, trims up to what profile's
    bookings consumer has committed, and calls those erasures done once the trim has passed the
    noted ends (a consumer commits a little after it handles a batch: until then it trims again)."""
    s = runtime.settings
    app_id = f"{s.topic_prefix}itinera-{s.service_name}"
    # The bookings consumer fetches whole batches: it always runs on the kit's batch consumer, whose
    # group is `<app>.<consumer>` (a group that never consumed the topic would hold every trim back).
    groups = [f"{app_id}.bookings"]
    topic = s.topic(LANDING_TOPIC)
    worker = runtime.health.worker(trim_landing_topic_job.__name__)
    target: dict[int, int] | None = None
    noted_at = datetime.now(UTC)
    while True:
        async with connection(runtime.pool) as conn:
            pending = await shredding.untrimmed(conn)
        if pending is None:
            worker.progressed()
            await asyncio.sleep(poll_seconds)
            continue
        worker.busy()
        if target is None:
            noted_at = datetime.now(UTC)
            target = await end_offsets(bootstrap_servers=s.kafka_bootstrap_servers, topic=topic)
        starts = await trim_consumed(bootstrap_servers=s.kafka_bootstrap_servers, topic=topic, groups=groups)
        worker.progressed()  # waiting for the consumer to commit is not a stall of this job
        if all(starts.get(partition, 0) >= end for partition, end in target.items() if end > 0):
            async with connection(runtime.pool) as conn:
                await shredding.mark_trimmed(conn, up_to=noted_at, at=datetime.now(UTC))
            log.info("landing topic trimmed after erasures, up to %s", target)
            target = None
        else:
            await asyncio.sleep(poll_seconds)
