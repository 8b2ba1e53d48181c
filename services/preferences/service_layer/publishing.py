"""Effective preferences and their publication: the snapshot, change and question events a customer's state gives.

`refresh` recomputes a customer's effective preferences (after company policy) and returns the
events to publish if they changed; `write` saves the rows and enqueues those events to the outbox,
in the caller's transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from pydantic_core import to_jsonable_python

from services.kit.contracts.envelope import EncodedEnvelope, Envelope, encode_new, new_uuid
from services.kit.contracts.preferences import (
    PreferenceChangedV1,
    PreferenceConfirmationRequestedV1,
    PreferenceSnapshotV1,
)
from services.kit.jsontext import json_bytes
from services.kit.outbox import enqueue_many
from services.kit.sealing import ANSWER_TOKEN, link_sealer
from services.preferences.adapters import repository as repo
from services.preferences.adapters.repository import CustomerRow, PolicyRow
from services.preferences.domain import catalogue, policy
from services.preferences.domain.inference import Inference
from services.preferences.domain.model import CustomerPreferences, Preference

PRODUCER = "preferences"
SNAPSHOTS_TOPIC = "preferences.snapshots.v1"
CHANGES_TOPIC = "preferences.changes.v1"

Event = Envelope[Any] | EncodedEnvelope
Ask = repo.ConfirmationRow  # a confirmation request's row: id, customer, key, value, ...

# A question's answer link: a random token (only its digest is stored) that works this long.
QUESTION_TTL = timedelta(days=30)
QUESTION_TOKEN_BYTES = 24


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


async def write(conn: asyncpg.Connection, rows: Sequence[CustomerRow], outgoing: Outgoing, *, now: datetime) -> None:
    """Save the rows, record the confirmation requests asked and enqueue the events, in the caller's transaction."""
    await repo.save_many(conn, rows)
    await repo.add_confirmation_requests(conn, outgoing.asks)
    await enqueue_many(conn, outgoing.events)
