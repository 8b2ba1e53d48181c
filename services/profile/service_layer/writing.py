"""The write phase of resolution: what `planning` decided, written in the caller's transaction.

Customers, source records, blocking keys, reviews and bookings with one statement each;
the golden records of the customers touched recomputed (`recompute.py`); the events returned
for the outbox (`events.py`). Customers chosen from the database are row-locked first, and
merged ones followed to their survivor.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any

from services.kit.contracts.envelope import Envelope
from services.kit.db import Connection, Record
from services.kit.redirects import follow_redirects
from services.profile.adapters import blocking as blocking_db
from services.profile.adapters import bookings as bookings_db
from services.profile.adapters import customers as customers_db
from services.profile.adapters import history as history_db
from services.profile.adapters import identity as identity_db
from services.profile.adapters import reviews as reviews_db
from services.profile.domain import matching
from services.profile.domain.model import StoredRecord
from services.profile.domain.resolution import (
    Decision,
    Incoming,
    Outcome,
    ProfileConfig,
    SourceKey,
    new_frequency_tokens,
)
from services.profile.service_layer.companies import resolve_companies
from services.profile.service_layer.curation import merge_customers
from services.profile.service_layer.events import Outgoing, created_event, resolved_event, snapshot_events
from services.profile.service_layer.planning import Plan
from services.profile.service_layer.recompute import prepare_new_customers, refresh_customers


async def count_new_names(conn: Connection, items: Sequence[Incoming], *, carried: dict[SourceKey, str]) -> None:
    """Count the name and address parts of records stored for the first time, in a statement of its own (the bulk
    importer does so before a chunk's transaction: inside it they would hold the shared frequency
    rows until commit and stall the next chunk's read phase). `carried`: links not committed yet."""
    features = [it.features or it.record.features() for it in items]  # no blocking keys needed here
    known = await identity_db.existing_links(conn, [it.record.key for it in items])
    await identity_db.count_frequencies(conn, new_frequency_tokens(items, features, {**known, **carried}))


async def write(
    conn: Connection, planned: Plan, *, config: ProfileConfig, now: datetime
) -> tuple[list[Outcome], Outgoing]:
    """Write a decided batch: companies, name counts, customers, source records, keys, reviews,
    history, golden records, bookings; returns the outcomes and the events to enqueue."""
    items, features, keys, decisions = planned.items, planned.features, planned.keys, planned.decisions
    company_ids = await resolve_companies(conn, items)
    await identity_db.count_frequencies(conn, planned.new_names)
    before = planned.before
    if before is None:
        before = await identity_db.stored_features(conn, planned.linked)
    # Customers chosen from the database may have been merged since: lock them and follow redirects.
    new_ids = {d.customer_id for d in decisions if d.created}
    redirect, locked = await lock_and_redirect(conn, {d.customer_id for d in decisions} - new_ids)
    for d in decisions:
        d.customer_id = redirect.get(d.customer_id, d.customer_id)

    # Agents' "different people" verdicts keep pairs out of the review queue.
    review_pairs = [tuple(sorted((d.customer_id, c))) for d in decisions for c, _ in (*d.reviews, *d.joins)]
    declared = await reviews_db.distinct_pairs(conn, [(p[0], p[1]) for p in review_pairs])

    first_of: dict[SourceKey, int] = {}
    last_of: dict[SourceKey, int] = {}
    for i, it in enumerate(items):
        first_of.setdefault(it.record.key, i)
        last_of[it.record.key] = i

    created_at = {d.customer_id: i for i, d in enumerate(decisions) if d.created and first_of[items[i].record.key] == i}
    source_rows: list[dict[str, Any]] = []
    # New customers are written once, golden record included, from the batch's own records.
    new_records: dict[str, list[tuple[StoredRecord, int]]] = {}
    for key, i in last_of.items():
        it, d0 = items[i], decisions[first_of[key]]
        fields = it.record.normalized_fields()
        # A record that names no company now keeps the company an earlier statement named.
        kept_company = it.company is None and it.record.company_id is not None
        fields["company_id"] = it.record.company_id if kept_company else company_ids[i]
        problems = it.record.problems()
        seen_at = it.record.seen_at.astimezone(UTC)
        if d0.customer_id in created_at:
            new_records.setdefault(d0.customer_id, []).append(
                (StoredRecord(key[0], key[1], fields, seen_at, it.record.stated_at), len(problems))
            )
        source_rows.append(
            {
                "source_system": key[0],
                "source_id": key[1],
                "customer_id": d0.customer_id,
                "raw": dict(it.record.raw),
                "normalized": fields,
                "problems": problems,
                "passport_hash": it.record.passport_hash,
                "match_rule": d0.rule,
                "match_score": d0.score,
                "features": features[i].to_json(),
                "match_evidence": d0.evidence,
                "matched_to": {"source_system": d0.matched_to[0], "source_id": d0.matched_to[1]}
                if d0.matched_to
                else None,
                "seen_at": seen_at,
                "stated_at": {k: t.isoformat() for k, t in it.record.stated_at.items()},
            }
        )
    new_rows, new_tasks, new_snapshots = await prepare_new_customers(
        conn,
        {d.customer_id: items[i].caused_by for i, d in enumerate(decisions) if d.customer_id in created_at},
        company_ids={cid: company_ids[i] for cid, i in created_at.items()},
        records=new_records,
        config=config,
        now=now,
    )
    # From here to the refresh of existing customers only writes follow: each is sent while the
    # next one's rows and the batch's events are built.
    writes = _Writes()
    try:
        await writes.send(customers_db.insert_customers_full(conn, new_rows))
        outgoing: Outgoing = []
        history: list[tuple[str, str, str | None, dict[str, Any]]] = []
        for i, d in enumerate(decisions):
            it = items[i]
            if first_of[it.record.key] != i:
                continue
            detail: dict[str, Any] = {
                "source_system": it.record.source_system,
                "source_id": it.record.source_id,
                "rule": d.rule,
            }
            if d.score is not None:
                detail["score"] = round(d.score, 3)
            if d.created:
                history.append((d.customer_id, "created", None, detail))
                outgoing.append(created_event(d.customer_id, it.record.key, it.caused_by))
            elif d.rule != "source-link":
                history.append((d.customer_id, "source-record-linked", None, detail))
        await writes.send(customers_db.insert_quality_tasks(conn, new_tasks))
        await writes.send(identity_db.upsert_source_records(conn, source_rows))
        outgoing += snapshot_events(new_snapshots, now)
        await writes.send(
            blocking_db.replace_blocking_keys(
                conn,
                [(key, keys[i]) for key, i in last_of.items()],
                stored_before={key: matching.blocking_keys(f) for key, f in before.items()},
            )
        )
        reviews: dict[tuple[str, str], dict[str, Any]] = {}
        for i, d in enumerate(decisions):
            for candidate, result in d.reviews:
                pair = (min(d.customer_id, candidate), max(d.customer_id, candidate))
                if pair in declared or candidate == d.customer_id:
                    continue
                # One item per pair, either way round: the best-scored evidence (then the first record).
                kept = reviews.get(pair)
                if kept is not None and (-kept["score"], kept["source_system"], kept["source_id"]) <= (
                    -result.score,
                    *items[i].record.key,
                ):
                    continue
                reviews[pair] = {
                    "review_id": f"rev_{uuid.uuid4().hex}",
                    "customer_id": d.customer_id,
                    "candidate_id": candidate,
                    "source_system": items[i].record.source_system,
                    "source_id": items[i].record.source_id,
                    "score": result.score,
                    "evidence": result.to_json(),
                }
        await writes.send(reviews_db.insert_reviews(conn, list(reviews.values())))
        await writes.send(history_db.add_history_many(conn, history))
        await writes.flush()
    except BaseException:
        await writes.abandon()
        raise

    touched: dict[str, Envelope[Any] | None] = {}
    for i, d in enumerate(decisions):
        if d.customer_id not in created_at:
            touched[d.customer_id] = items[i].caused_by
    # Their rows as locked above: nothing in this batch has written them since.
    outgoing += await refresh_customers(conn, touched, config=config, now=now, rows=locked)

    bookings: dict[tuple[str, str], dict[str, Any]] = {}
    for i, d in enumerate(decisions):
        b = items[i].booking
        if b is None:
            continue
        status = {"created": "confirmed", "changed": "confirmed", "cancelled": "cancelled"}.get(b.kind, b.kind)
        summary: dict[str, Any] = (
            {
                "segments": [s.model_dump(mode="json") for s in b.segments],
                "total_price": str(b.total_price) if b.total_price else None,
                "currency": b.currency,
            }
            if b.segments
            else {}
        )
        key = (items[i].record.source_system, b.booking_id)
        if not summary and key in bookings:
            # Trip started/completed and cancellations name no segments: the itinerary an earlier
            # event of this batch stated stands (as the upsert keeps the stored one).
            summary = bookings[key]["summary"]
        bookings[key] = {
            "source_system": items[i].record.source_system,
            "booking_id": b.booking_id,
            "customer_id": d.customer_id,
            "status": status,
            "summary": summary,
            "traveller_source_id": items[i].record.source_id,
            "at": now,
        }
        outgoing.append(resolved_event(d.customer_id, company_ids[i], items[i].record.source_system, b))
    await bookings_db.upsert_bookings(conn, list(bookings.values()))
    await join_matched_customers(conn, decisions, declared, config=config, outgoing=outgoing)

    outcomes = [
        Outcome(
            source_system=it.record.source_system,
            source_id=it.record.source_id,
            customer_id=d.customer_id,
            rule=d.rule,
            created=d.created and first_of[it.record.key] == i,
            score=d.score,
            review_candidate=d.reviews[0][0] if d.reviews else None,
        )
        for i, (it, d) in enumerate(zip(items, decisions, strict=True))
    ]
    return outcomes, outgoing


async def join_matched_customers(
    conn: Connection,
    decisions: list[Decision],
    declared: set[tuple[str, str]],
    *,
    config: ProfileConfig,
    outgoing: Outgoing,
) -> None:
    """Join the customers a record matched besides its own into it (merge reason "automatic").

    After the batch's writes, in its transaction, in decision order; a customer a previous join of
    the batch absorbed is followed to its survivor. Pairs agents declared different people stay
    apart. The merges' events follow the batch's own (an absorbed customer's redirect comes after
    its last snapshot), and `unmerge` takes a join back like any merge.
    """
    survivor_of: dict[str, str] = {}

    def current(customer_id: str) -> str:
        while customer_id in survivor_of:
            customer_id = survivor_of[customer_id]
        return customer_id

    for d in decisions:
        for other, _result in d.joins:
            survivor, absorbed = current(d.customer_id), current(other)
            if survivor == absorbed or (min(survivor, absorbed), max(survivor, absorbed)) in declared:
                continue
            redirect, _locked = await lock_and_redirect(conn, {absorbed})
            absorbed = redirect.get(absorbed, absorbed)
            if absorbed == survivor:
                continue
            await merge_customers(
                conn,
                survivor_id=survivor,
                absorbed_id=absorbed,
                reason="automatic",
                actor=None,
                config=config,
                events_out=outgoing,
            )
            survivor_of[absorbed] = survivor


async def lock_and_redirect(conn: Connection, ids: set[str]) -> tuple[dict[str, str], dict[str, Record]]:
    """Row-lock the existing customers a batch writes to; map merged ones to their survivor.

    Returns the redirects and the rows of every customer locked (survivors included)."""
    locked: dict[str, Record] = {}

    async def read(pending: list[str]) -> dict[str, str | None]:
        rows = await customers_db.lock_customers(conn, pending)
        locked.update(rows)
        return {cid: (row["merged_into"] or None) if row["status"] == "merged" else None for cid, row in rows.items()}

    followed = await follow_redirects(ids, read)
    redirect = {cid: f.current for cid, f in followed.items() if f.current != cid}
    return redirect, locked


class _Writes:
    """Writes sent one at a time on the batch's connection while Python goes on with the next step.

    asyncpg runs one statement per connection at a time; a write is sent as a task and
    awaited only before the next statement, so the database executes it while this process
    builds what comes next (rows, events) instead of the two taking turns.
    """

    def __init__(self) -> None:
        self._pending: asyncio.Future[None] | None = None

    async def send(self, write: Coroutine[Any, Any, None]) -> None:
        await self.flush()
        self._pending = asyncio.ensure_future(write)
        await asyncio.sleep(0)  # let the task put its statement on the wire

    async def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending

    async def abandon(self) -> None:
        """After an error: wait for a write in flight, so the caller can roll the transaction back."""
        pending, self._pending = self._pending, None
        if pending is not None:
            with contextlib.suppress(BaseException):
                await pending
