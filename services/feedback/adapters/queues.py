"""Read side of the work queues and the dashboard: cases and low scores by queue, tier and company.

A case or survey keeps the customer id it was opened for; a traveller merged since is found
through the view's redirect (one hop: merges of merges are rare and still listed under the id
they were opened for). Tier and company come from the value and customer snapshots in this
service's own customer view, never from a call to another service. The tier is today's, not the
one at the time of the answer or case. A customer without a value snapshot yet has no bookings
the value service knows of: they count as `regular`, the lowest tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

CaseQueue = Literal["mine", "unassigned", "late", "overdue", "escalated", "active"]
Breakdown = Literal["tier", "company", "month"]
LOW_CSAT_MAX = 2  # as a complaint: CSAT 1-2 is dissatisfied
LOW_NPS_MAX = 6  # NPS 0-6: a detractor

# Who a row is about, now: current id, name, company and tier, from the view.
_WHO = """
  LEFT JOIN customer_view rd ON rd.kind = 'customer' AND rd.customer_id = {t}.customer_id
  LEFT JOIN customer_view cv ON cv.kind = 'customer' AND cv.customer_id = COALESCE(rd.redirect_to, {t}.customer_id)
  LEFT JOIN customer_view vv ON vv.kind = 'value' AND vv.customer_id = COALESCE(rd.redirect_to, {t}.customer_id)
"""
_WHO_COLUMNS = """
  COALESCE(rd.redirect_to, {t}.customer_id) AS current_id,
  cv.snapshot->>'display_name' AS customer_name,
  COALESCE(cv.snapshot->>'company_id', vv.snapshot->>'company_id', {company}) AS company_now,
  cv.snapshot->>'company_name' AS company_name,
  COALESCE(vv.snapshot->>'tier', 'regular') AS tier
"""
# A case has no company of its own: the traveller's (view), else that of their latest trip here.
_CASE_COMPANY = (
    "(SELECT t.company_id FROM trips t WHERE t.customer_id = c.customer_id AND t.company_id IS NOT NULL"
    " ORDER BY t.last_event_at DESC LIMIT 1)"
)
_ACTIVE = "c.status NOT IN ('resolved', 'closed')"
_OVERDUE = (
    "((c.first_response_at IS NULL AND c.first_response_due < $1) OR (c.resolved_at IS NULL AND c.resolution_due < $1))"
)
_LOW = f"(s.csat <= {LOW_CSAT_MAX} OR s.nps <= {LOW_NPS_MAX})"
# A low score counts as followed up once an agent said so, or once the case it opened was answered.
_NOT_FOLLOWED_UP = (
    "s.followed_up_at IS NULL AND NOT EXISTS"
    " (SELECT 1 FROM cases fc WHERE fc.survey_id = s.survey_id AND fc.first_response_at IS NOT NULL)"
)


class _Where:
    """A WHERE clause built with numbered parameters (after the ones a query fixed itself)."""

    def __init__(self, *fixed: Any) -> None:
        self.args: list[Any] = list(fixed)
        self.parts: list[str] = []

    def add(self, sql: str, *values: Any) -> None:
        for v in values:
            self.args.append(v)
            sql = sql.replace("?", f"${len(self.args)}", 1)
        self.parts.append(sql)

    def sql(self) -> str:
        return " AND ".join(self.parts) if self.parts else "true"

    def next(self) -> str:
        self.args.append(None)
        return f"${len(self.args)}"


def _who_filters(w: _Where, *, tier: str | None, company_id: str | None, company_col: str) -> None:
    if tier:
        w.add("COALESCE(vv.snapshot->>'tier', 'regular') = ?", tier)
    if company_id:
        w.add(f"COALESCE(cv.snapshot->>'company_id', vv.snapshot->>'company_id', {company_col}) = ?", company_id)


def _case_where(
    queue: CaseQueue, *, now: datetime, assignee: str | None, tier: str | None, company_id: str | None
) -> _Where:
    w = _Where()
    w.parts.append(_ACTIVE)
    overdue = _OVERDUE.replace("$1", "?")  # `now` twice, as parameters of their own
    if queue == "mine":
        w.add("c.assignee = ?", assignee)
    elif queue == "unassigned":
        w.parts.append("c.assignee IS NULL")
    elif queue == "late":  # the console's one queue of cases past a deadline or escalated
        w.add(f"({overdue} OR c.escalated)", now, now)
    elif queue == "overdue":
        w.add(overdue, now, now)
    elif queue == "escalated":
        w.parts.append("c.escalated")
    _who_filters(w, tier=tier, company_id=company_id, company_col=_CASE_COMPANY)
    return w


async def case_queue(
    conn: asyncpg.Connection,
    queue: CaseQueue,
    *,
    now: datetime,
    assignee: str | None,
    tier: str | None,
    company_id: str | None,
    limit: int,
    offset: int,
) -> tuple[list[asyncpg.Record], int]:
    """Active cases of a queue, the nearest deadline first, with who they are about; and how many there are."""
    w = _case_where(queue, now=now, assignee=assignee, tier=tier, company_id=company_id)
    joins = _WHO.format(t="c")
    total = await conn.fetchval(f"SELECT count(*) FROM cases c {joins} WHERE {w.sql()}", *w.args)
    lim, off = w.next(), w.next()
    w.args[-2:] = [limit, offset]
    rows = await conn.fetch(
        f"""
        SELECT c.*, {_WHO_COLUMNS.format(t="c", company=_CASE_COMPANY)}
          FROM cases c {joins}
         WHERE {w.sql()}
         ORDER BY LEAST(CASE WHEN c.first_response_at IS NULL THEN c.first_response_due END,
                        CASE WHEN c.resolved_at IS NULL THEN c.resolution_due END) NULLS LAST,
                  c.opened_at, c.case_id
         LIMIT {lim} OFFSET {off}
        """,
        *w.args,
    )
    return rows, int(total)


async def low_scores(
    conn: asyncpg.Connection,
    *,
    tier: str | None,
    company_id: str | None,
    customer_ids: list[str] | None,
    limit: int,
    offset: int,
) -> tuple[list[asyncpg.Record], int]:
    """Answered surveys with a low score nobody followed up yet, oldest answer first; and how many."""
    w = _Where()
    w.parts += [_LOW, _NOT_FOLLOWED_UP]
    _who_filters(w, tier=tier, company_id=company_id, company_col="s.company_id")
    if customer_ids is not None:
        w.add("s.customer_id = ANY(?::text[])", customer_ids)
    joins = _WHO.format(t="s")
    total = await conn.fetchval(f"SELECT count(*) FROM surveys s {joins} WHERE {w.sql()}", *w.args)
    lim, off = w.next(), w.next()
    w.args[-2:] = [limit, offset]
    rows = await conn.fetch(
        f"""
        SELECT s.survey_id, s.customer_id, s.source_system, s.booking_id, s.answered_at, s.csat, s.nps,
               s.comment, c.case_id, c.status AS case_status, c.assignee AS case_assignee,
               {_WHO_COLUMNS.format(t="s", company="s.company_id")}
          FROM surveys s LEFT JOIN cases c ON c.survey_id = s.survey_id {joins}
         WHERE {w.sql()}
         ORDER BY s.answered_at, s.survey_id
         LIMIT {lim} OFFSET {off}
        """,
        *w.args,
    )
    return rows, int(total)


async def mark_followed_up(
    conn: asyncpg.Connection, survey_id: str, *, actor: str, note: str | None, now: datetime
) -> asyncpg.Record | None:
    """Record the follow-up of a low score; None when there is no such low score still waiting."""
    return await conn.fetchrow(
        f"""
        UPDATE surveys s SET followed_up_at = $2, followed_up_by = $3, follow_up_note = $4
         WHERE s.survey_id = $1 AND s.answered_at IS NOT NULL AND {_LOW} AND s.followed_up_at IS NULL
        RETURNING s.survey_id, s.customer_id, s.followed_up_at, s.followed_up_by, s.follow_up_note
        """,
        survey_id,
        now,
        actor,
        note,
    )


@dataclass(frozen=True)
class ScoreGroup:
    key: str
    label: str | None
    csat: dict[int, int]
    nps: dict[int, int]


_GROUP_KEY: dict[Breakdown, tuple[str, str]] = {
    "tier": ("COALESCE(vv.snapshot->>'tier', 'regular')", "NULL"),
    "company": ("COALESCE(s.company_id, '')", "max(cp.snapshot->>'company_name')"),
    "month": ("to_char(date_trunc('month', s.answered_at AT TIME ZONE 'UTC'), 'YYYY-MM')", "NULL"),
}


async def score_groups(
    conn: asyncpg.Connection,
    by: Breakdown,
    *,
    since: datetime,
    until: datetime,
    tier: str | None,
    company_id: str | None,
) -> list[ScoreGroup]:
    """CSAT and NPS answer counts in [since, until), grouped by today's tier, the company or the month."""
    key, label = _GROUP_KEY[by]
    w = _Where(since, until)
    w.parts.append("s.answered_at >= $1 AND s.answered_at < $2")
    _who_filters(w, tier=tier, company_id=company_id, company_col="s.company_id")
    rows = await conn.fetch(
        f"""
        SELECT {key} AS key, {label} AS label, s.csat, s.nps, count(*) AS n
          FROM surveys s {_WHO.format(t="s")}
          LEFT JOIN customer_view cp ON cp.kind = 'company-value' AND cp.customer_id = s.company_id
         WHERE {w.sql()}
         GROUP BY 1, s.csat, s.nps
         ORDER BY 1
        """,
        *w.args,
    )
    groups: dict[str, ScoreGroup] = {}
    for r in rows:
        g = groups.setdefault(r["key"], ScoreGroup(r["key"], r["label"], {}, {}))
        if r["csat"] is not None:
            g.csat[int(r["csat"])] = g.csat.get(int(r["csat"]), 0) + int(r["n"])
        if r["nps"] is not None:
            g.nps[int(r["nps"])] = g.nps.get(int(r["nps"]), 0) + int(r["n"])
    return list(groups.values())


async def breach_groups(
    conn: asyncpg.Connection, by: Literal["tier", "company"], *, now: datetime, since: datetime, until: datetime
) -> list[asyncpg.Record]:
    """Cases opened in [since, until) per tier or company: how many, how many missed each SLA target
    (met late, or overdue and not met: as `Case.breaches`), and how many are overdue now."""
    key = (
        "COALESCE(vv.snapshot->>'tier', 'regular')"
        if by == "tier"
        else "COALESCE(cv.snapshot->>'company_id', vv.snapshot->>'company_id', '')"
    )
    return await conn.fetch(
        f"""
        SELECT {key} AS key, max(cv.snapshot->>'company_name') AS label, count(*) AS cases,
               count(*) FILTER (WHERE COALESCE(c.first_response_at, $1) > c.first_response_due) AS first_response,
               count(*) FILTER (WHERE COALESCE(c.resolved_at, $1) > c.resolution_due) AS resolution,
               count(*) FILTER (WHERE COALESCE(c.first_response_at, $1) > c.first_response_due
                                   OR COALESCE(c.resolved_at, $1) > c.resolution_due) AS breached,
               count(*) FILTER (WHERE {_ACTIVE} AND {_OVERDUE}) AS overdue_now
          FROM cases c {_WHO.format(t="c")}
         WHERE c.opened_at >= $2 AND c.opened_at < $3
         GROUP BY 1 ORDER BY breached DESC, 1
        """,
        now,
        since,
        until,
    )


async def customer_cases_due(
    conn: asyncpg.Connection, customer_ids: list[str], *, now: datetime
) -> list[asyncpg.Record]:
    """A customer's active cases that are overdue or escalated, the nearest deadline first."""
    return await conn.fetch(
        f"""
        SELECT c.* FROM cases c
         WHERE c.customer_id = ANY($2::text[]) AND {_ACTIVE} AND ({_OVERDUE} OR c.escalated)
         ORDER BY LEAST(c.first_response_due, c.resolution_due), c.case_id
        """,
        now,
        customer_ids,
    )


async def company_customer_ids(conn: asyncpg.Connection, company_id: str) -> list[str]:
    """Every customer id this service has seen for a company (on trips, surveys, or in the view)."""
    rows = await conn.fetch(
        """
        SELECT customer_id FROM trips WHERE company_id = $1
        UNION SELECT customer_id FROM surveys WHERE company_id = $1
        UNION SELECT customer_id FROM customer_view WHERE kind IN ('customer', 'value') AND snapshot->>'company_id' = $1
        """,
        company_id,
    )
    return [r["customer_id"] for r in rows]
