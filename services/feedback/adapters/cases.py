"""PostgreSQL persistence of complaint and feedback cases and their history (asyncpg, inside the
caller's transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.feedback.adapters.repository import ConcurrentUpdateError
from services.feedback.domain.cases import Case, CaseKind, CaseSource, CaseStatus, HistoryEntry, Priority, SlaTarget


def case_from_row(row: asyncpg.Record) -> Case:
    escalations: tuple[SlaTarget, ...] = tuple(t for t in row["escalations"] if t in ("first_response", "resolution"))
    return Case(
        case_id=row["case_id"],
        customer_id=row["customer_id"],
        kind=CaseKind(row["kind"]),
        source=CaseSource(row["source"]),
        subject=row["subject"],
        description=row["description"],
        status=CaseStatus(row["status"]),
        priority=Priority(row["priority"]),
        opened_by=row["opened_by"],
        opened_at=row["opened_at"],
        first_response_due=row["first_response_due"],
        resolution_due=row["resolution_due"],
        assignee=row["assignee"],
        survey_id=row["survey_id"],
        source_system=row["source_system"],
        booking_id=row["booking_id"],
        first_response_at=row["first_response_at"],
        resolved_at=row["resolved_at"],
        closed_at=row["closed_at"],
        escalated=row["escalated"],
        escalations=escalations,
        updated_at=row["updated_at"],
        version=row["version"],
    )


async def insert_case(conn: asyncpg.Connection, case: Case) -> bool:
    """Store a new case and its history; False when its survey already has a case."""
    inserted = await conn.fetchval(
        """
        INSERT INTO cases (case_id, customer_id, kind, source, subject, description, status, priority, assignee,
                           survey_id, source_system, booking_id, opened_by, opened_at, first_response_due,
                           first_response_at, resolution_due, resolved_at, closed_at, escalated, escalations,
                           version, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, 1, $22)
        ON CONFLICT (survey_id) DO NOTHING
        RETURNING true
        """,
        case.case_id,
        case.customer_id,
        case.kind.value,
        case.source.value,
        case.subject,
        case.description,
        case.status.value,
        case.priority.value,
        case.assignee,
        case.survey_id,
        case.source_system,
        case.booking_id,
        case.opened_by,
        case.opened_at,
        case.first_response_due,
        case.first_response_at,
        case.resolution_due,
        case.resolved_at,
        case.closed_at,
        case.escalated,
        list(case.escalations),
        case.updated_at or case.opened_at,
    )
    if not inserted:
        return False
    case.version = 1
    await _write_history(conn, case)
    return True


async def update_case(conn: asyncpg.Connection, case: Case) -> None:
    """Write a changed case and its new history entries (optimistic lock on `version`)."""
    if not case.new_history:
        return
    version = await conn.fetchval(
        """
        UPDATE cases
           SET status = $3, priority = $4, assignee = $5, first_response_due = $6, first_response_at = $7,
               resolved_at = $8, closed_at = $9, escalated = $10, escalations = $11, updated_at = $12,
               version = version + 1
         WHERE case_id = $1 AND version = $2
        RETURNING version
        """,
        case.case_id,
        case.version,
        case.status.value,
        case.priority.value,
        case.assignee,
        case.first_response_due,
        case.first_response_at,
        case.resolved_at,
        case.closed_at,
        case.escalated,
        list(case.escalations),
        case.updated_at,
    )
    if version is None:
        raise ConcurrentUpdateError(f"case {case.case_id} changed meanwhile")
    case.version = version
    await _write_history(conn, case)


async def _write_history(conn: asyncpg.Connection, case: Case) -> None:
    await conn.executemany(
        "INSERT INTO case_history (case_id, at, actor, action, detail) VALUES ($1, $2, $3, $4, $5)",
        [(case.case_id, h.at, h.actor, h.action, dict(h.detail)) for h in case.new_history],
    )
    case.new_history.clear()


async def get_case(conn: asyncpg.Connection, case_id: str, *, for_update: bool = False) -> Case | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT * FROM cases WHERE case_id = $1{lock}", case_id)
    return None if row is None else case_from_row(row)


async def case_history(conn: asyncpg.Connection, case_id: str) -> list[HistoryEntry]:
    rows = await conn.fetch(
        "SELECT at, actor, action, detail FROM case_history WHERE case_id = $1 ORDER BY id", case_id
    )
    return [HistoryEntry(at=r["at"], actor=r["actor"], action=r["action"], detail=r["detail"]) for r in rows]


async def find_cases(
    conn: asyncpg.Connection,
    *,
    now: datetime,
    status: CaseStatus | None,
    customer_ids: Sequence[str] | None,
    breached: bool | None,
    limit: int,
    offset: int,
) -> list[Case]:
    """Cases matching the filters, newest first.

    `breached` mirrors `Case.breaches`: a target met late, or overdue and not met.
    """
    rows = await conn.fetch(
        """
        SELECT * FROM cases
         WHERE ($1::text IS NULL OR status = $1)
           AND ($2::text[] IS NULL OR customer_id = ANY($2::text[]))
           AND ($3::boolean IS NULL OR $3 = (COALESCE(first_response_at, $4) > first_response_due
                                          OR COALESCE(resolved_at, $4) > resolution_due))
         ORDER BY opened_at DESC, case_id
         LIMIT $5 OFFSET $6
        """,
        None if status is None else status.value,
        None if customer_ids is None else list(customer_ids),
        breached,
        now,
        limit,
        offset,
    )
    return [case_from_row(r) for r in rows]


async def cases_to_escalate(conn: asyncpg.Connection, *, now: datetime, limit: int) -> list[Case]:
    """Locked cases with an overdue SLA target not escalated yet (other workers skip them)."""
    rows = await conn.fetch(
        """
        SELECT * FROM cases
         WHERE status NOT IN ('resolved', 'closed')
           AND ((first_response_at IS NULL AND first_response_due < $1 AND NOT 'first_response' = ANY(escalations))
             OR (resolved_at IS NULL AND resolution_due < $1 AND NOT 'resolution' = ANY(escalations)))
         ORDER BY LEAST(first_response_due, resolution_due)
         LIMIT $2
         FOR UPDATE SKIP LOCKED
        """,
        now,
        limit,
    )
    return [case_from_row(r) for r in rows]
