"""Privacy use cases: an erasure is requested, services report their steps, progress is read.

Handlers run inside the caller's transaction (an API request's, a consumer's savepoint).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.kit.contracts.envelope import Envelope
from services.kit.contracts.privacy import ERASURE_STEPS, ErasureReasonV1, ErasureRequestedV1, ErasureStepDoneV1
from services.kit.db import Actor, record_audit
from services.kit.erasure import subject_digest
from services.kit.outbox import enqueue
from services.privacy.adapters import repository as repo
from services.privacy.domain.erasures import StepProgress, completed_at, progress, status

log = logging.getLogger(__name__)

PRODUCER = "privacy"
REQUESTS_TOPIC = "privacy.erasures.v1"


@dataclass(frozen=True)
class ErasureView:
    erasure_id: str
    reason: str
    note: str | None
    requested_by: str
    requested_at: datetime
    status: str
    completed_at: datetime | None
    steps: list[StepProgress]


async def request_erasure(
    conn: asyncpg.Connection, *, customer_id: str, reason: ErasureReasonV1, note: str | None, actor: Actor,
    digest_key: bytes, now: datetime,
) -> str:  # fmt: skip
    """Record the request (the traveller only as a keyed digest) and publish it for profile to carry out."""
    erasure_id = f"era_{uuid.uuid4().hex}"
    await repo.insert_erasure(
        conn, erasure_id=erasure_id, subject_digest=subject_digest(digest_key, customer_id), reason=reason, note=note,
        requested_by=actor.name, requested_role=actor.role, requested_at=now,
    )  # fmt: skip
    request = ErasureRequestedV1(
        erasure_id=erasure_id, customer_id=customer_id, reason=reason, requested_by=actor.name, requested_at=now
    )
    await enqueue(conn, topic=REQUESTS_TOPIC, envelope=Envelope.new(request, producer=PRODUCER, subject_id=erasure_id))
    return erasure_id


async def handle_step_done(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    """A service finished its part: record it (audited), and complete the erasure after the last one."""
    p: ErasureStepDoneV1 = event.payload
    erasure = await repo.get_erasure(conn, p.erasure_id, for_update=True)
    if erasure is None:
        log.warning("step of an unknown erasure %s from %s ignored", p.erasure_id, p.service)
        return
    if not await repo.record_step(
        conn, erasure_id=p.erasure_id, service=p.service, customer_ids=p.customer_ids, rows=p.rows,
        completed_at=p.completed_at,
    ):  # fmt: skip
        return  # reported again (a repeated request): done once is enough
    await record_audit(
        conn, principal=p.service, role="service", action="erasure.step_done", subject_id=p.erasure_id,
        detail={"service": p.service, "customer_ids": p.customer_ids, "rows": sum(p.rows.values())},
        correlation_id=str(event.correlation_id),
    )  # fmt: skip
    steps = (await repo.steps_of(conn, [p.erasure_id]))[p.erasure_id]
    done_at = completed_at(ERASURE_STEPS, steps)
    if done_at is not None and erasure["completed_at"] is None:
        await repo.set_completed(conn, p.erasure_id, done_at)
        await record_audit(
            conn, principal=PRODUCER, role="service", action="erasure.completed", subject_id=p.erasure_id,
            detail={"services": list(ERASURE_STEPS)}, correlation_id=str(event.correlation_id),
        )  # fmt: skip


def _view(row: asyncpg.Record, steps: list[Any]) -> ErasureView:
    return ErasureView(
        erasure_id=row["erasure_id"], reason=row["reason"], note=row["note"], requested_by=row["requested_by"],
        requested_at=row["requested_at"], status=status(row["completed_at"]), completed_at=row["completed_at"],
        steps=progress(ERASURE_STEPS, steps),
    )  # fmt: skip


async def erasure(conn: asyncpg.Connection, erasure_id: str) -> ErasureView | None:
    row = await repo.get_erasure(conn, erasure_id)
    if row is None:
        return None
    return _view(row, (await repo.steps_of(conn, [erasure_id]))[erasure_id])


async def erasures(
    conn: asyncpg.Connection, *, customer_id: str | None, digest_key: bytes, limit: int, offset: int
) -> list[ErasureView]:
    """Erasures newest first; with `customer_id`, those asked for that id (found by its digest)."""
    digest = None if customer_id is None else subject_digest(digest_key, customer_id)
    rows = await repo.list_erasures(conn, subject_digest=digest, limit=limit, offset=offset)
    steps = await repo.steps_of(conn, [r["erasure_id"] for r in rows])
    return [_view(r, steps[r["erasure_id"]]) for r in rows]
