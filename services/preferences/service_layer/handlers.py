"""Preferences use cases: record bookings, edits and policy; publish effective snapshots.

Every handler runs inside the caller's transaction (a consumer batch or an API request)
and writes its events to the outbox in that same transaction. Bookings are handled a
batch at a time and coalesced per customer: one load, one write and at most one
snapshot per customer per batch, however many of its bookings the batch holds.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from pydantic_core import to_jsonable_python

from services.kit.contracts.customers import CustomerRedirectV1, CustomerSnapshotV1, ResolvedBookingV1
from services.kit.contracts.envelope import EncodedEnvelope, Envelope, encode_new, new_uuid
from services.kit.contracts.preferences import (
    PreferenceChangedV1,
    PreferenceConfirmationRequestedV1,
    PreferenceSnapshotV1,
)
from services.kit.jsontext import json_bytes
from services.kit.outbox import enqueue_many, enqueue_tombstone
from services.kit.redirects import MAX_REDIRECTS, follow_one, follow_redirects
from services.kit.sealing import ANSWER_TOKEN, link_sealer
from services.preferences.adapters import repository as repo
from services.preferences.adapters.repository import CustomerRow, PolicyRow
from services.preferences.domain import catalogue, policy
from services.preferences.domain.inference import Inference
from services.preferences.domain.model import CustomerPreferences, ExplicitSource, Preference

log = logging.getLogger(__name__)

PRODUCER = "preferences"
SNAPSHOTS_TOPIC = "preferences.snapshots.v1"
CHANGES_TOPIC = "preferences.changes.v1"
# A batch of a thousand bookings is a few hundred milliseconds of CPU between two awaits. The
# previous batch's events are published meanwhile by a background task of the same event loop,
# which only moves on when the loop gets a turn: handing the loop over every this many bookings
# (a few milliseconds) lets it, instead of holding those events back for the whole batch.
YIELD_EVERY = 32

Event = Envelope[Any] | EncodedEnvelope
Ask = repo.ConfirmationRow  # a confirmation request's row: id, customer, key, value, ...

# A question's answer link: a random token (only its digest is stored) that works this long.
QUESTION_TTL = timedelta(days=30)
QUESTION_TOKEN_BYTES = 24
TRAVELLER_LINK = "traveller (answer link)"  # who answered, for answers given through the link


def token_digest(token: str) -> bytes:
    """What is stored of an answer link's token: enough to find the question, useless to forge a link."""
    return hashlib.sha256(token.encode()).digest()


@dataclass
class Outgoing:
    """What recomputing customers gives: the events to publish, in order (topic, event), and the
    confirmation requests among them as rows to record."""

    events: list[tuple[str, Event]] = field(default_factory=list)
    asks: list[Ask] = field(default_factory=list)

    def extend(self, other: Outgoing) -> None:
        self.events += other.events
        self.asks += other.asks


class UnknownCustomerError(LookupError):
    """No preferences are known for this customer id."""


@dataclass(frozen=True)
class Effective:
    """A customer's effective preferences (after policy) and the conflicts found."""

    preferences: dict[str, Preference]
    conflicts: list[policy.Conflict]
    policy_version: int | None


def effective_of(
    prefs: CustomerPreferences, policy_row: PolicyRow | None, *, inferences: Mapping[str, Inference] | None = None
) -> Effective:
    """Resolve a customer's preferences against the company policy (if any)."""
    own = prefs.preferences(inferences)
    if policy_row is None or policy_row.deleted:
        resolved, conflicts = policy.resolve(own, None)
        return Effective(resolved, conflicts, None)
    travel_policy = _policy(policy_row)
    resolved, conflicts = policy.resolve(own, travel_policy, as_of=policy_row.updated_at)
    return Effective(resolved, conflicts, policy_row.version)


_POLICY_CACHE: dict[tuple[str, int], policy.TravelPolicy] = {}


def _policy(row: PolicyRow) -> policy.TravelPolicy:
    """Parsed policies, cached by (company, version): a version never changes once written."""
    key = (row.company_id, row.version)
    parsed = _POLICY_CACHE.get(key)
    if parsed is None:
        if len(_POLICY_CACHE) > 10_000:
            _POLICY_CACHE.clear()
        parsed = _POLICY_CACHE[key] = policy.TravelPolicy.from_json(row.company_id, row.policy)
    return parsed


_JSON_SCALARS = (str, int, float, bool, type(None))


def _json_value(value: Any) -> Any:
    """`value` as pydantic dumps a `JsonValue` in JSON mode (lists and objects copied)."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is list and all(type(v) in _JSON_SCALARS for v in value):
        return list(value)
    return to_jsonable_python(value)


_JSON_TIMES: dict[tuple[datetime, Any, int], str] = {}


def _json_time(at: datetime) -> str:
    """A datetime as pydantic dumps it in JSON mode, remembered: converting one costs about 1 us,
    and a customer's preferences share a few times (the same booking's segments) with each other
    and with other customers'. Equal times with equal zones (and fold) are spelt the same."""
    key = (at, at.tzinfo, at.fold)
    text = _JSON_TIMES.get(key)
    if text is None:
        if len(_JSON_TIMES) >= 200_000:
            _JSON_TIMES.clear()
        text = _JSON_TIMES[key] = to_jsonable_python(at)
    return text


def _published_entries(preferences: Mapping[str, Preference]) -> list[dict[str, Any]]:
    """Every preference but the sensitive ones, in their order, each as
    `PreferenceV1.model_dump(mode="json")` gives it (unit tests pin this).

    A customer's preferences share a few time objects (a booking's segments), so each is spelt
    once by identity (all alive meanwhile).
    """
    sensitive = catalogue.SENSITIVE_KEYS
    spelt: dict[int, str] = {}
    out = []
    for key, (own_key, value, source, confidence, evidence_count, first_seen, last_seen) in preferences.items():
        if key in sensitive:
            continue
        first = spelt.get(id(first_seen))
        if first is None:
            first = spelt[id(first_seen)] = _json_time(first_seen)
        last = spelt.get(id(last_seen))
        if last is None:
            last = spelt[id(last_seen)] = _json_time(last_seen)
        kind = type(value)
        out.append(
            {
                "key": own_key,
                "value": value if kind is str or kind is int else _json_value(value),
                "source": source,
                "confidence": float(confidence),
                "evidence_count": evidence_count,
                "first_seen": first,
                "last_seen": last,
            }
        )
    return out


def _published_form(effective: Effective) -> dict[str, Any]:
    """What the snapshot says, without its version and timestamps: the thing to diff.

    Its preferences are in the JSON form `PreferenceV1.model_dump(mode="json")` gives; the
    snapshot is validated from them (pydantic validates times given as text twice as fast as
    datetime objects, and spells them back the same).
    """
    return {
        "preferences": _published_entries(effective.preferences),
        "conflicts": [
            {"key": c.key, "preferred": c.preferred, "allowed": c.allowed, "message": c.message}
            for c in effective.conflicts
        ],
        "policy_version": effective.policy_version,
    }


def _comparable(value: Any) -> Any:
    """A JSON value in a form that compares equal exactly when the values are the same JSON:
    object keys in any order, but 1, 1.0 and true told apart."""
    kind = type(value)
    if kind is dict:
        return (dict, tuple(sorted((k, _comparable(v)) for k, v in value.items())))
    if kind is list or kind is tuple:
        return (list, tuple(_comparable(v) for v in value))
    return (kind, value)


def _same_json(a: Any, b: Any) -> bool:
    """`_comparable(a) == _comparable(b)`, without building either in the usual cases."""
    kind = type(a)
    if kind is str or kind is bool or kind is int or kind is float or a is None:
        return type(b) is kind and a == b
    if kind is list and type(b) is list and len(a) == len(b):
        return all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(_comparable(a) == _comparable(b))


def _changed_keys(old: dict[str, Any] | None, new: dict[str, Any]) -> tuple[str, ...]:
    def index(form: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
        return {p["key"]: p for p in form["preferences"]} if form else {}

    before, after = index(old), index(new)
    changed = []
    for key in before.keys() | after.keys():
        b, a = before.get(key), after.get(key)
        if b is None or a is None or b["source"] != a["source"] or not _same_json(b["value"], a["value"]):
            changed.append(key)
    return tuple(sorted(changed))


def refresh(
    row: CustomerRow, policy_row: PolicyRow | None, *, now: datetime, caused_by: Envelope[Any] | None
) -> Outgoing:
    """Recompute a customer's effective preferences; the events to publish if they changed."""
    prefs = row.prefs
    inferences = prefs.inferences()
    effective = effective_of(prefs, policy_row, inferences=inferences)
    form = _published_form(effective)
    # The version seen, even of a deleted policy, so the policy job does not revisit this customer.
    row.policy_version = policy_row.version if policy_row is not None else None
    out = Outgoing()
    events = out.events
    cid = prefs.customer_id
    if form != row.published:
        changed = _changed_keys(row.published, form)
        row.version += 1
        row.published = form
        events.append((SNAPSHOTS_TOPIC, _snapshot_event(row, form, now=now, caused_by=caused_by)))
        if changed:
            change = _dumped({"customer_id": cid, "version": row.version, "changed_keys": changed})
            event = encode_new(PreferenceChangedV1, change, producer=PRODUCER, subject_id=cid, caused_by=caused_by)
            events.append((CHANGES_TOPIC, event))
    new_ids = iter(lambda: str(new_uuid()), None)
    expires_at = now + QUESTION_TTL
    for request in prefs.confirmations_to_ask(new_request_id=new_ids, at=now, inferences=inferences):
        token = secrets.token_urlsafe(QUESTION_TOKEN_BYTES)
        # The payload as `PreferenceConfirmationRequestedV1` dumps it: the value is a catalogue's
        # preference value (JSON already), the confidence an inference's (a unit test pins this).
        question = {
            "customer_id": cid,
            "request_id": request.request_id,
            "key": request.key,
            "value": request.value,
            "confidence": request.confidence,
            "evidence_count": request.evidence_count,
            "question": catalogue.question(request.key, request.value),
            # The token is the traveller's credential: it travels sealed (only its digest is kept here).
            "answer_token": None,
            "sealed_answer_token": link_sealer().seal(token, purpose=ANSWER_TOKEN, subject=request.request_id),
            "expires_at": _json_time(expires_at),
            "questions": catalogue.questions(request.key, request.value),
        }
        event = encode_new(
            PreferenceConfirmationRequestedV1, _dumped(question), producer=PRODUCER, subject_id=cid, caused_by=caused_by
        )
        events.append((CHANGES_TOPIC, event))
        out.asks.append(
            (request.request_id, cid, request.key, request.value, request.confidence, now, token_digest(token),
             expires_at)
        )  # fmt: skip
    return out


def _dumped(payload: dict[str, Any]) -> bytes:
    """A payload in JSON form (times spelt already) as its model's `model_dump_json()` spells it."""
    return json_bytes(payload, inf_nan_mode="null")


def _snapshot_event(
    row: CustomerRow, form: dict[str, Any], *, now: datetime, caused_by: Envelope[Any] | None
) -> Envelope[Any] | EncodedEnvelope:
    """The snapshot event of a customer whose published form is `form` (already `row.published`).

    Its preferences are already in pydantic's JSON form (`_published_entries`), so without conflicts
    the payload is written straight from the form: the same bytes `PreferenceSnapshotV1`, validated
    and dumped, gives (a unit test pins this), at a fraction of the cost. With conflicts (their
    values are whatever the policy holds) the snapshot is validated and dumped as a model.
    """
    prefs = row.prefs
    cid = prefs.customer_id
    payload = {
        "customer_id": cid,
        "version": row.version,
        "preferences": form["preferences"],
        "conflicts": form["conflicts"],
        "updated_at": _json_time(now),
        "company_id": prefs.company_id,
        "policy_version": form["policy_version"],
        "last_event_at": None if prefs.last_event_at is None else _json_time(prefs.last_event_at),
    }
    if not form["conflicts"]:
        return encode_new(
            PreferenceSnapshotV1, _dumped(payload), producer=PRODUCER, subject_id=cid, caused_by=caused_by
        )
    snapshot = PreferenceSnapshotV1.model_validate(payload)  # nested models included, in one call
    return Envelope.new(snapshot, producer=PRODUCER, subject_id=cid, caused_by=caused_by)


def _blank(row: CustomerRow) -> bool:
    """A customer row holding nothing yet (as `repo.load_or_create_for_update` creates it)."""
    return row.version == 0 and row.prefs.to_json() == CustomerPreferences(customer_id=row.prefs.customer_id).to_json()


async def _load_following_merges(conn: asyncpg.Connection, customer_ids: Sequence[str]) -> dict[str, CustomerRow]:
    """Rows for the given ids and for the customers merged ones now live in (keyed by the given id)."""
    rows = await repo.load_or_create_for_update(conn, customer_ids)

    async def read(ids: list[str]) -> dict[str, str | None]:
        if missing := [i for i in ids if i not in rows]:
            rows.update(await repo.load_for_update(conn, missing))
        return {i: (row.merged_into or None) if row.status == "merged" else None for i in ids if (row := rows.get(i))}

    followed = await follow_redirects(customer_ids, read, max_hops=MAX_REDIRECTS + 1)
    ends: dict[str, str] = {}
    for cid in customer_ids:
        f = followed[cid]
        # A chain still redirecting after its hops ends at the last row read.
        ends[cid] = f.chain[-2] if f.end == "too-long" and len(f.chain) > 1 else f.current
    if unknown := [at for at in ends.values() if at not in rows]:  # a survivor this service never saw
        rows.update(await repo.load_or_create_for_update(conn, unknown))
    return {cid: rows[at] for cid, at in ends.items()}


async def _write(conn: asyncpg.Connection, rows: Sequence[CustomerRow], outgoing: Outgoing, *, now: datetime) -> None:
    await repo.save_many(conn, rows)
    await repo.add_confirmation_requests(conn, outgoing.asks)
    await enqueue_many(conn, outgoing.events)


async def handle_resolved_bookings(
    conn: asyncpg.Connection, events: Sequence[Envelope[Any]], *, now: datetime | None = None
) -> None:
    """Record what a batch of resolved bookings reveals and publish one snapshot per changed customer."""
    now = now or datetime.now(UTC)
    bookings = [e for e in events if isinstance(e.payload, ResolvedBookingV1)]
    if not bookings:
        return
    rows = await _load_following_merges(conn, [e.payload.customer_id for e in bookings])
    touched: dict[str, tuple[CustomerRow, Envelope[Any]]] = {}
    for n, event in enumerate(bookings, 1):
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # see YIELD_EVERY
        p: ResolvedBookingV1 = event.payload
        row = rows[p.customer_id]
        if p.company_id:
            row.prefs.company_id = p.company_id
        row.prefs.record_booking(
            booking=f"{p.source_system}:{p.booking_id}", kind=p.kind, segments=p.segments, at=p.occurred_at
        )
        touched[row.prefs.customer_id] = (row, event)
    policies = await repo.load_policies(conn, (row.prefs.company_id for row, _ in touched.values()))
    outgoing = Outgoing()
    for n, (row, last_event) in enumerate(touched.values(), 1):
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        outgoing.extend(refresh(row, policies.get(row.prefs.company_id or ""), now=now, caused_by=last_event))
    await _write(conn, [row for row, _ in touched.values()], outgoing, now=now)


async def handle_resolved_booking(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    """One resolved booking (the per-record path of the kit consumer)."""
    await handle_resolved_bookings(conn, [event])


async def handle_customer_event(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    """Follow the profile's golden records: company changes, and merges (redirects)."""
    p = event.payload
    now = datetime.now(UTC)
    if isinstance(p, CustomerSnapshotV1):
        rows = await repo.load_for_update(conn, [p.customer_id])
        row = rows.get(p.customer_id)
        if row is None:
            return  # nothing known yet; the first booking brings the company along
        if row.status == "merged":
            row.status, row.merged_into = "active", None  # an unmerge restored this customer
        if p.company_id == row.prefs.company_id and row.status == "active" and row.published is not None:
            return
        row.prefs.company_id = p.company_id or row.prefs.company_id
        policies = await repo.load_policies(conn, [row.prefs.company_id])
        out = refresh(row, policies.get(row.prefs.company_id or ""), now=now, caused_by=event)
        await _write(conn, [row], out, now=now)
    elif isinstance(p, CustomerRedirectV1):
        await merge_customers(conn, absorbed_id=p.customer_id, survivor_id=p.merged_into, caused_by=event, now=now)


async def handle_customer_events(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
    """A run of golden-record events: every customer they touch is locked first, in key order, then each
    event is handled in stream order. Locking one by one in stream order, while a bookings batch of
    another process locks its sorted set, is how two workers deadlocked."""
    ids: set[str] = set()
    for event in events:
        p = event.payload
        if isinstance(p, CustomerSnapshotV1):
            ids.add(p.customer_id)
        elif isinstance(p, CustomerRedirectV1):
            ids.update((p.customer_id, p.merged_into))
    await repo.load_for_update(conn, ids)
    for event in events:
        await handle_customer_event(conn, event)


async def merge_customers(
    conn: asyncpg.Connection, *, absorbed_id: str, survivor_id: str, caused_by: Envelope[Any] | None, now: datetime
) -> None:
    """The absorbed customer's preferences join the survivor's; its snapshot is tombstoned."""
    rows = await repo.load_for_update(conn, [absorbed_id, survivor_id])
    if absorbed_id not in rows:  # created now: a first booking of the absorbed id in flight is waited for
        rows.update(await repo.load_or_create_for_update(conn, [absorbed_id]))
    absorbed = rows[absorbed_id]
    if absorbed.status == "merged" or _blank(absorbed):
        absorbed.status, absorbed.merged_into = "merged", survivor_id
        await repo.save_many(conn, [absorbed])
        return
    if survivor_id not in rows:  # created now, so a first booking of the survivor's in flight waits for it
        rows.update(await repo.load_or_create_for_update(conn, [survivor_id]))
    survivor = rows[survivor_id]
    survivor.prefs.absorb(absorbed.prefs)
    absorbed.status, absorbed.merged_into = "merged", survivor_id
    policies = await repo.load_policies(conn, [survivor.prefs.company_id])
    out = refresh(survivor, policies.get(survivor.prefs.company_id or ""), now=now, caused_by=caused_by)
    await _write(conn, [survivor, absorbed], out, now=now)
    if absorbed.version > 0:
        await enqueue_tombstone(conn, topic=SNAPSHOTS_TOPIC, key=absorbed_id)


async def handle_customer_tombstone(conn: asyncpg.Connection, topic: str, key: str) -> None:
    """An erased customer: forget everything about them and tombstone their snapshot."""
    if topic != "profile.customers.v1":
        return
    deleted = await conn.fetchval("DELETE FROM customers WHERE customer_id = $1 RETURNING version", key)
    await conn.execute("DELETE FROM confirmation_requests WHERE customer_id = $1", key)
    if deleted:
        await enqueue_tombstone(conn, topic=SNAPSHOTS_TOPIC, key=key)


async def resolve_id(conn: asyncpg.Connection, customer_id: str) -> str:
    """The id a customer's preferences live under now (following merges)."""
    current = (await follow_one(customer_id, functools.partial(repo.merged_into, conn))).found
    if current is None:
        raise UnknownCustomerError(customer_id)
    return current


async def set_preferences(
    conn: asyncpg.Connection,
    customer_id: str,
    values: dict[str, Any],
    *,
    source: ExplicitSource,
    actor: str,
    now: datetime | None = None,
) -> CustomerRow:
    """Set explicit preferences (validated; all or nothing) and publish the new snapshot."""
    now = now or datetime.now(UTC)
    canonical = {key: catalogue.validate(key, value) for key, value in values.items()}
    rows = await _load_following_merges(conn, [customer_id])
    row = rows[customer_id]
    _check_explicit_consistency(row, canonical)
    for key, value in canonical.items():
        row.prefs.set_explicit(key, value, source=source, set_by=actor, at=now)
    row.prefs.last_event_at = now
    await _publish_one(conn, row, now=now)
    return row


def _check_explicit_consistency(row: CustomerRow, new: dict[str, Any]) -> None:
    """Raises if the customer's explicit preferences with `new` set would contradict each other."""
    catalogue.check_consistency({k: e.value for k, e in row.prefs.explicit.items()} | new)


async def clear_preference(
    conn: asyncpg.Connection, customer_id: str, key: str, *, now: datetime | None = None
) -> bool:
    """Remove an explicit preference (inference applies again); False if none was set."""
    now = now or datetime.now(UTC)
    catalogue.spec(key)
    real_id = await resolve_id(conn, customer_id)
    row = (await repo.load_for_update(conn, [real_id]))[real_id]
    if not row.prefs.clear_explicit(key):
        return False
    row.prefs.last_event_at = now
    await _publish_one(conn, row, now=now)
    return True


async def answer_confirmation(
    conn: asyncpg.Connection, customer_id: str, request_id: str, *, accepted: bool, actor: str
) -> Any:
    """The traveller's answer to a confirmation request; returns the value asked about."""
    now = datetime.now(UTC)
    request = await repo.get_confirmation(conn, request_id, for_update=True)
    real_id = await resolve_id(conn, customer_id)
    if request is None or await resolve_id(conn, request["customer_id"]) != real_id:
        raise LookupError(f"no confirmation request {request_id} for customer {customer_id}")
    if request["status"] != "pending":
        raise ValueError(f"confirmation request {request_id} is already {request['status']}")
    row = (await repo.load_for_update(conn, [real_id]))[real_id]
    key = request["key"]
    if key in row.prefs.asked and row.prefs.asked[key].request_id == str(request["request_id"]):
        value = row.prefs.answer_confirmation(key, accepted=accepted, answered_by=actor, at=now)
    else:  # asked before a merge or under another id: answer with the stored value
        value = request["value"]
        if accepted:
            row.prefs.set_explicit(key, value, source="stated", set_by=actor, at=now)
        else:
            row.prefs.declined.setdefault(key, []).append(value)
    row.prefs.last_event_at = now
    await repo.answer_confirmation(conn, request_id, accepted=accepted, answered_by=actor)
    await _publish_one(conn, row, now=now)
    return value


@dataclass(frozen=True)
class LinkedQuestion:
    """A confirmation request as its answer link shows it."""

    request_id: str
    customer_id: str
    key: str
    value: Any
    question: str
    status: str  # pending, accepted, declined or superseded
    expires_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.status == "pending" and self.expires_at is not None and now >= self.expires_at


class UnknownQuestionError(LookupError):
    """No confirmation request has this answer token."""


class QuestionClosedError(ValueError):
    """The question was answered, superseded by a newer one, or its link expired."""

    def __init__(self, message: str, question: LinkedQuestion) -> None:
        super().__init__(message)
        self.question = question


async def question_by_token(conn: asyncpg.Connection, token: str, *, for_update: bool = False) -> LinkedQuestion:
    """The question an answer link asks (whatever its state); locked with `for_update`."""
    r = await repo.confirmation_by_token(conn, token_digest(token), for_update=for_update)
    if r is None:
        raise UnknownQuestionError("this link does not belong to any question")
    value = r["value"]
    return LinkedQuestion(
        request_id=str(r["request_id"]), customer_id=r["customer_id"], key=r["key"], value=value,
        question=catalogue.question(r["key"], value), status=r["status"], expires_at=r["expires_at"],
    )  # fmt: skip


async def answer_by_token(
    conn: asyncpg.Connection, token: str, *, accepted: bool, now: datetime | None = None
) -> LinkedQuestion:
    """The traveller answers through the link they were sent; returns the question as answered.

    Raises `UnknownQuestionError` for a token of no question, `QuestionClosedError` when the
    question is no longer open (answered, superseded or expired).
    """
    now = now or datetime.now(UTC)
    q = await question_by_token(conn, token, for_update=True)  # a second answer waits, then finds it closed
    if q.expired(now):
        raise QuestionClosedError("this question has expired", q)
    if q.status != "pending":
        raise QuestionClosedError(f"this question is already {q.status}", q)
    await answer_confirmation(conn, q.customer_id, q.request_id, accepted=accepted, actor=TRAVELLER_LINK)
    return replace(q, status="accepted" if accepted else "declined")


class NothingInferredError(LookupError):
    """There is no inferred value to confirm or reject for this key, and none was named."""


async def confirm_inference(
    conn: asyncpg.Connection,
    customer_id: str,
    key: str,
    *,
    accepted: bool,
    value: Any = None,
    source: ExplicitSource,
    actor: str,
    now: datetime | None = None,
) -> tuple[CustomerRow, Any]:
    """Confirm or reject an inferred preference without a pending question; returns the row and the value.

    `value` defaults to what the bookings point to now. Pending confirmation requests for the key
    (under this id or ids merged into it) are closed: answered when they asked about this value,
    superseded otherwise.
    """
    now = now or datetime.now(UTC)
    catalogue.spec(key)
    real_id = await resolve_id(conn, customer_id)
    row = (await repo.load_for_update(conn, [real_id]))[real_id]
    if value is None:
        value = row.prefs.inferred_value(key)
        if value is None:
            raise NothingInferredError(key)
    else:
        value = catalogue.validate(key, value)
    if accepted:
        _check_explicit_consistency(row, {key: value})
    row.prefs.confirm_inference(key, value, accepted=accepted, source=source, set_by=actor, at=now)
    row.prefs.last_event_at = now
    await repo.close_confirmations(conn, real_id, key, value=value, accepted=accepted, answered_by=actor)
    await _publish_one(conn, row, now=now)
    return row, value


async def _publish_one(conn: asyncpg.Connection, row: CustomerRow, *, now: datetime) -> None:
    policies = await repo.load_policies(conn, [row.prefs.company_id])
    out = refresh(row, policies.get(row.prefs.company_id or ""), now=now, caused_by=None)
    await _write(conn, [row], out, now=now)


async def refresh_customers(conn: asyncpg.Connection, customer_ids: Sequence[str]) -> int:
    """Re-resolve customers against their company's current policy; returns how many snapshots changed."""
    now = datetime.now(UTC)
    rows = await repo.load_for_update(conn, customer_ids)
    policies = await repo.load_policies(conn, (r.prefs.company_id for r in rows.values()))
    outgoing = Outgoing()
    for row in rows.values():
        outgoing.extend(refresh(row, policies.get(row.prefs.company_id or ""), now=now, caused_by=None))
    await _write(conn, list(rows.values()), outgoing, now=now)
    return sum(1 for topic, _ in outgoing.events if topic == SNAPSHOTS_TOPIC)
