"""Preferences commands of agents and travellers: set and clear preferences, answer questions, confirm inferences.

Each runs inside the caller's transaction (an API request) and publishes the customer's new
snapshot through the outbox in that same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.preferences.adapters import repository as repo
from services.preferences.adapters.repository import CustomerRow
from services.preferences.domain import catalogue
from services.preferences.domain.model import ExplicitSource
from services.preferences.service_layer.handlers import load_following_merges, resolve_id
from services.preferences.service_layer.publishing import refresh, token_digest, write

TRAVELLER_LINK = "traveller (answer link)"  # who answered, for answers given through the link


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
    rows = await load_following_merges(conn, [customer_id])
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
    await write(conn, [row], out, now=now)
