"""What agents do to customers: merge, unmerge, split a record off, decide reviews, correct fields.

Every operation locks the customers it touches (rows, in id order), records history,
and queues snapshot/change events through the outbox in the caller's transaction.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from services.kit.contracts.customers import CustomerMergedV1, CustomerRedirectV1, CustomerUnmergedV1
from services.kit.contracts.envelope import Envelope
from services.kit.db import Connection
from services.kit.outbox import enqueue_many
from services.profile.adapters import bookings as bookings_db
from services.profile.adapters import corrections as corrections_db
from services.profile.adapters import customers as customers_db
from services.profile.adapters import history as history_db
from services.profile.adapters import identity as identity_db
from services.profile.adapters import merges as merges_db
from services.profile.adapters import reviews as reviews_db
from services.profile.domain.corrections import InvalidCorrectionError, normalize_correction
from services.profile.domain.merging import CustomerState, MergeError, MergeRecord, merge, unmerge
from services.profile.domain.model import GOLDEN_FIELDS
from services.profile.domain.resolution import ProfileConfig, new_customer_id
from services.profile.service_layer.deliverability import clear_mark
from services.profile.service_layer.events import CUSTOMER_EVENTS_TOPIC, CUSTOMERS_TOPIC, PRODUCER, Outgoing
from services.profile.service_layer.recompute import refresh_customers

__all__ = [
    "CurationError",
    "MergeError",
    "correct_field",
    "decide_review",
    "merge_customers",
    "split_record",
    "unmerge",
]

MergeReason = Literal["automatic", "review", "agent"]
CORRECTABLE_FIELDS = frozenset(GOLDEN_FIELDS)


class InvalidFieldValueError(Exception):
    """A corrected value that cannot stand in the golden record (HTTP 422 on the value)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class CurationError(Exception):
    """The request cannot be carried out in the current state (HTTP 404/409)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class MergeResult:
    merge_id: str
    survivor_id: str
    absorbed_id: str


def _env(payload: Any, subject: str) -> Envelope[Any]:
    return Envelope.new(payload, producer=PRODUCER, subject_id=subject)


async def _state(conn: Connection, customer_id: str) -> CustomerState:
    row = await customers_db.state_row(conn, customer_id)
    if row is None:
        raise CurationError(404, f"no customer {customer_id!r}")
    records = await identity_db.source_keys_of(conn, customer_id)
    bookings = await bookings_db.bookings_of(conn, customer_id)
    corrections = await corrections_db.corrections_by_field(conn, customer_id)
    return CustomerState(
        customer_id=row["customer_id"],
        status=row["status"],
        merged_into=row["merged_into"],
        version=row["version"],
        golden=row["golden"] or {},
        company_id=row["company_id"],
        records=frozenset((r["source_system"], r["source_id"]) for r in records),
        bookings=frozenset((r["source_system"], r["booking_id"]) for r in bookings),
        corrections=tuple(
            {"field": c["field"], "value": c["value"], "actor": c["actor"], "at": c["at"].isoformat()}
            for c in corrections
        ),
    )


async def _move(
    conn: Connection, *, records: frozenset[tuple[str, str]], bookings: frozenset[tuple[str, str]], to: str
) -> None:
    await identity_db.move_source_records(conn, records, to=to)
    await bookings_db.move_bookings(conn, bookings, to=to)


async def merge_customers(
    conn: Connection,
    *,
    survivor_id: str,
    absorbed_id: str,
    reason: MergeReason,
    actor: str | None,
    config: ProfileConfig,
    events_out: Outgoing | None = None,
) -> MergeResult:
    """Merge `absorbed_id` into `survivor_id`; the pre-merge state of both is kept for an exact unmerge.

    The merge's events are enqueued, or appended to `events_out` when given (a batch that merges
    after its own writes publishes them after the batch's events)."""
    now = datetime.now(UTC)
    await customers_db.lock_customers(conn, [survivor_id, absorbed_id])
    survivor = await _state(conn, survivor_id)
    absorbed = await _state(conn, absorbed_id)
    try:
        merged, _gone, record = merge(survivor, absorbed)
    except MergeError as exc:
        raise CurationError(409, str(exc)) from exc
    merge_id = f"mrg_{uuid.uuid4().hex}"
    await merges_db.insert_merge(
        conn,
        merge_id=merge_id,
        survivor_id=survivor_id,
        absorbed_id=absorbed_id,
        reason=reason,
        actor=actor,
        pre_state=record.to_json(),
        at=now,
    )
    await _move(conn, records=absorbed.records, bookings=absorbed.bookings, to=survivor_id)
    await corrections_db.replace_all(conn, survivor_id, merged.corrections)
    await corrections_db.delete_all(conn, absorbed_id)
    await customers_db.mark_merged(conn, absorbed_id, into=survivor_id, at=now)
    closed = await reviews_db.close_for_merge(conn, survivor_id=survivor_id, absorbed_id=absorbed_id, at=now)
    await merges_db.set_merge_reviews(conn, merge_id, closed)
    await customers_db.resolve_open_quality_tasks(conn, absorbed_id, at=now)
    detail = {"merge_id": merge_id, "survivor_id": survivor_id, "absorbed_id": absorbed_id, "reason": reason}
    await history_db.add_history_many(
        conn, [(survivor_id, "merged", actor, detail), (absorbed_id, "merged-into", actor, detail)]
    )
    events: Outgoing = await refresh_customers(
        conn, {survivor_id: None}, config=config, now=now, force=frozenset({survivor_id})
    )
    events.append(
        (
            CUSTOMERS_TOPIC,
            _env(CustomerRedirectV1(customer_id=absorbed_id, merged_into=survivor_id, merged_at=now), absorbed_id),
        )
    )
    events.append(
        (
            CUSTOMER_EVENTS_TOPIC,
            _env(
                CustomerMergedV1(
                    survivor_id=survivor_id, absorbed_id=absorbed_id, merge_id=merge_id, reason=reason, actor=actor
                ),
                survivor_id,
            ),
        )
    )
    if events_out is not None:
        events_out.extend(events)
    else:
        await enqueue_many(conn, events)
    return MergeResult(merge_id, survivor_id, absorbed_id)


async def unmerge_customers(
    conn: Connection, *, merge_id: str, actor: str | None, config: ProfileConfig
) -> MergeResult:
    """Undo a merge: the absorbed customer gets back exactly its records, bookings, corrections and golden record."""
    now = datetime.now(UTC)
    row = await merges_db.lock_merge(conn, merge_id)
    if row is None:
        raise CurationError(404, f"no merge {merge_id!r}")
    if row["status"] != "active":
        raise CurationError(409, f"merge {merge_id} was already undone")
    survivor_id, absorbed_id = row["survivor_id"], row["absorbed_id"]
    await customers_db.lock_customers(conn, [survivor_id, absorbed_id])
    record = MergeRecord.from_json(row["pre_state"])
    survivor = await _state(conn, survivor_id)
    absorbed = await _state(conn, absorbed_id)
    try:
        restored_survivor, restored_absorbed = unmerge(survivor, absorbed, record)
    except MergeError as exc:
        raise CurationError(409, str(exc)) from exc
    await _move(conn, records=record.absorbed.records, bookings=record.absorbed.bookings, to=absorbed_id)
    await corrections_db.replace_all(conn, survivor_id, restored_survivor.corrections)
    await corrections_db.replace_all(conn, absorbed_id, restored_absorbed.corrections)
    # The restored customer comes back exactly as it was; its version moves past every one it had.
    await customers_db.restore(
        conn,
        absorbed_id,
        status=restored_absorbed.status,
        merged_into=restored_absorbed.merged_into,
        golden=dict(restored_absorbed.golden),
        company_id=restored_absorbed.company_id,
        version=restored_absorbed.version - 1,
        at=now,
    )
    await merges_db.mark_undone(conn, merge_id, actor=actor, at=now)
    # An undo is not a verdict that the two are different people: the question goes back to the
    # queue (the items the merge accepted or closed reopen), for an agent to decide again.
    reopened = await reviews_db.reopen_after_undo(
        conn, merge_id=merge_id, survivor_id=survivor_id, absorbed_id=absorbed_id, changes=row["reviews"]
    )
    detail = {"merge_id": merge_id, "survivor_id": survivor_id, "restored_id": absorbed_id}
    history = [(survivor_id, "unmerged", actor, detail), (absorbed_id, "restored", actor, detail)]
    for r in reopened:
        item = {"review_id": r["review_id"], "merge_id": merge_id}
        history += [(cid, "review-reopened", actor, item) for cid in (r["customer_id"], r["candidate_id"])]
    await history_db.add_history_many(conn, history)
    events = await refresh_customers(
        conn,
        {survivor_id: None, absorbed_id: None},
        config=config,
        now=now,
        force=frozenset({survivor_id, absorbed_id}),
    )
    events.append(
        (
            CUSTOMER_EVENTS_TOPIC,
            _env(
                CustomerUnmergedV1(survivor_id=survivor_id, restored_id=absorbed_id, merge_id=merge_id, actor=actor),
                survivor_id,
            ),
        )
    )
    await enqueue_many(conn, events)
    return MergeResult(merge_id, survivor_id, absorbed_id)


async def split_record(
    conn: Connection,
    *,
    customer_id: str,
    source_system: str,
    source_id: str,
    actor: str | None,
    config: ProfileConfig,
) -> str:
    """Move one source record (and the bookings it came with) to a new customer of its own."""
    now = datetime.now(UTC)
    await customers_db.lock_customers(conn, [customer_id])
    owner = await identity_db.lock_owner(conn, source_system, source_id)
    if owner is None:
        raise CurationError(404, f"no source record {source_system}:{source_id}")
    if owner != customer_id:
        raise CurationError(409, f"source record {source_system}:{source_id} belongs to {owner}, not {customer_id}")
    if await identity_db.count_of(conn, customer_id) <= 1:
        raise CurationError(409, "the customer's only source record cannot be split off")
    new_id = new_customer_id()
    await customers_db.insert_customers(conn, [(new_id, None, now)])
    await identity_db.split_off(conn, source_system, source_id, to=new_id)
    await bookings_db.move_bookings_of_record(conn, source_system, source_id, owner=customer_id, to=new_id)
    a, b = sorted((customer_id, new_id))
    await reviews_db.declare_distinct(conn, a, b, actor=actor)
    detail = {"source_system": source_system, "source_id": source_id, "from": customer_id, "to": new_id}
    await history_db.add_history_many(
        conn, [(customer_id, "record-split-off", actor, detail), (new_id, "created", actor, detail)]
    )
    from services.kit.contracts.customers import CustomerCreatedV1

    events: Outgoing = [
        (
            CUSTOMER_EVENTS_TOPIC,
            _env(
                CustomerCreatedV1(customer_id=new_id, source_system=source_system, source_record_id=source_id), new_id
            ),
        )
    ]
    events += await refresh_customers(
        conn, {customer_id: None, new_id: None}, config=config, now=now, force=frozenset({customer_id, new_id})
    )
    await enqueue_many(conn, events)
    return new_id


async def decide_review(
    conn: Connection, *, review_id: str, accept: bool, actor: str, config: ProfileConfig
) -> dict[str, Any]:
    """Accept (merge the pair) or reject (remember they are different people) a review item."""
    row = await reviews_db.lock_review(conn, review_id)
    if row is None:
        raise CurationError(404, f"no review {review_id!r}")
    if row["status"] != "open":
        raise CurationError(409, f"review {review_id} is already {row['status']}")
    now = datetime.now(UTC)
    customer = await customers_db.follow_redirects(conn, row["customer_id"])
    candidate = await customers_db.follow_redirects(conn, row["candidate_id"])
    if customer is None or candidate is None:
        raise CurationError(409, "a customer of this review no longer exists")
    merge_id = None
    if accept:
        if customer != candidate:
            # The older customer survives: its id is the one other systems have seen longest.
            result = await merge_customers(
                conn, survivor_id=candidate, absorbed_id=customer, reason="review", actor=actor, config=config
            )
            merge_id = result.merge_id
    else:
        a, b = sorted((customer, candidate))
        await reviews_db.declare_distinct(conn, a, b, actor=actor)
        await history_db.add_history_many(
            conn,
            [
                (c, "review-rejected", actor, {"review_id": review_id, "other": o})
                for c, o in ((customer, candidate), (candidate, customer))
            ],
        )
    status = "accepted" if accept else "rejected"
    await reviews_db.decide(conn, review_id, status=status, actor=actor, at=now, merge_id=merge_id)
    return {
        "review_id": review_id,
        "status": status,
        "merge_id": merge_id,
        "customer_id": candidate if accept else customer,
    }


async def correct_field(
    conn: Connection, *, customer_id: str, field: str, value: Any, actor: str, config: ProfileConfig
) -> int:
    """Record an agent's correction of a golden field; returns the customer's new version."""
    _check_correctable(field)
    try:
        value = normalize_correction(field, value, phone_region=config.phone_region)
    except InvalidCorrectionError as exc:
        raise InvalidFieldValueError(field, str(exc)) from exc
    current = await _locked_survivor(conn, customer_id)
    now = datetime.now(UTC)
    await corrections_db.upsert(
        conn, customer_id=current, field=field, value=json.loads(json.dumps(value)), actor=actor, at=now
    )
    await history_db.add_history(
        conn, customer_id=current, change="corrected", actor=actor, detail={"field": field, "value": value}
    )
    if field == "email" and value:
        # Saving an address is the agent's word that it works (the traveller confirmed it).
        await clear_mark(conn, customer_id=current, email=value, actor=actor, how="correction")
    return await _republish(conn, current, config=config, now=now)


async def withdraw_correction(
    conn: Connection, *, customer_id: str, field: str, actor: str, config: ProfileConfig
) -> int:
    """Withdraw an agent's correction: the field follows the sources again. Returns the new version."""
    _check_correctable(field)
    current = await _locked_survivor(conn, customer_id)
    withdrawn = await corrections_db.withdraw(conn, current, field)
    if withdrawn is None:
        raise CurationError(404, f"customer {current!r} has no correction of {field!r}")
    await history_db.add_history(
        conn,
        customer_id=current,
        change="correction-withdrawn",
        actor=actor,
        detail={"field": field, "value": withdrawn["value"], "corrected_by": withdrawn["actor"]},
    )
    return await _republish(conn, current, config=config, now=datetime.now(UTC))


def _check_correctable(field: str) -> None:
    if field not in CORRECTABLE_FIELDS:
        raise CurationError(422, f"{field!r} cannot be corrected; one of {sorted(CORRECTABLE_FIELDS)}")


async def _locked_survivor(conn: Connection, customer_id: str) -> str:
    """The customer an id stands for now (merges followed), row-locked; 404 when unknown."""
    current = await customers_db.follow_redirects(conn, customer_id)
    if current is None:
        raise CurationError(404, f"no customer {customer_id!r}")
    await customers_db.lock_customers(conn, [current])
    return current


async def _republish(conn: Connection, customer_id: str, *, config: ProfileConfig, now: datetime) -> int:
    """Recompute a customer whose corrections changed, enqueue its events; returns its new version."""
    events = await refresh_customers(conn, {customer_id: None}, config=config, now=now, force=frozenset({customer_id}))
    await enqueue_many(conn, events)
    return await customers_db.version_of(conn, customer_id)
