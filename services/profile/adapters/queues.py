"""Read side of profile's work queues: data-quality tasks and suspected duplicates, by tier and company.

The company is the customer's own (profile owns it); the tier comes from the value service's
snapshot in profile's customer view (a customer without one counts as `regular`, the lowest).
"""

from __future__ import annotations

from typing import Any

import asyncpg

_NAME = "NULLIF(concat_ws(' ', {c}.golden->'given_name'->>'value', {c}.golden->'family_name'->>'value'), '')"
_TIER = "COALESCE({v}.snapshot->>'tier', 'regular')"
# The account manager as feedback names assignees: an agent's name, or `team:<name>`.
_MANAGER = (
    "CASE WHEN {v}.snapshot->'account_manager'->>'kind' = 'team'"
    " THEN 'team:' || ({v}.snapshot->'account_manager'->>'id') ELSE {v}.snapshot->'account_manager'->>'id' END"
)


class _Where:
    def __init__(self) -> None:
        self.args: list[Any] = []
        self.parts: list[str] = []

    def add(self, sql: str, value: Any) -> None:
        self.args.append(value)
        self.parts.append(sql.replace("?", f"${len(self.args)}"))

    def sql(self) -> str:
        return " AND ".join(self.parts) if self.parts else "true"

    def page(self, limit: int, offset: int) -> str:
        self.args += [limit, offset]
        return f"LIMIT ${len(self.args) - 1} OFFSET ${len(self.args)}"


async def quality_tasks(
    conn: asyncpg.Connection,
    *,
    kind: str | None,
    tier: str | None,
    company_id: str | None,
    account_manager: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[asyncpg.Record], int]:
    """Open data-quality tasks with who they are about, oldest first; and how many there are.

    `account_manager` keeps the tasks of the travellers that agent (or `team:<name>`) manages:
    data-quality tasks route to the account manager as cases do."""
    w = _Where()
    w.parts.append("t.status = 'open'")
    if kind:
        w.add("t.kind = ?", kind)
    if account_manager:
        w.add(_MANAGER.format(v="v") + " = ?", account_manager)
    if tier:
        w.add(_TIER.format(v="v") + " = ?", tier)
    if company_id:
        w.add("c.company_id = ?", company_id)
    joins = """
      JOIN customers c ON c.customer_id = t.customer_id AND c.status = 'active'
      LEFT JOIN companies co ON co.company_id = c.company_id
      LEFT JOIN customer_view v ON v.kind = 'value' AND v.customer_id = t.customer_id
    """
    total = await conn.fetchval(f"SELECT count(*) FROM quality_tasks t {joins} WHERE {w.sql()}", *w.args)
    rows = await conn.fetch(
        f"""
        SELECT t.task_id, t.customer_id, t.kind, t.detail, t.status, t.created_at,
               {_NAME.format(c="c")} AS customer_name,
               c.company_id, co.name AS company_name, {_TIER.format(v="v")} AS tier,
               {_MANAGER.format(v="v")} AS account_manager
          FROM quality_tasks t {joins}
         WHERE {w.sql()}
         ORDER BY t.created_at, t.task_id {w.page(limit, offset)}
        """,
        *w.args,
    )
    return rows, int(total)


async def reviews(
    conn: asyncpg.Connection, *, tier: str | None, company_id: str | None, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    """Open suspected duplicates, highest score first, with both customers' names, companies and tiers.

    A filter matches when either customer of the pair matches it (the pair is one item of work)."""
    w = _Where()
    w.parts.append("r.status = 'open'")
    if tier:
        w.add(f"(? IN ({_TIER.format(v='va')}, {_TIER.format(v='vb')}))", tier)
    if company_id:
        w.add("(? IN (a.company_id, b.company_id))", company_id)
    joins = """
      LEFT JOIN customers a ON a.customer_id = r.customer_id
      LEFT JOIN customers b ON b.customer_id = r.candidate_id
      LEFT JOIN companies ca ON ca.company_id = a.company_id
      LEFT JOIN companies cb ON cb.company_id = b.company_id
      LEFT JOIN customer_view va ON va.kind = 'value' AND va.customer_id = r.customer_id
      LEFT JOIN customer_view vb ON vb.kind = 'value' AND vb.customer_id = r.candidate_id
    """
    total = await conn.fetchval(f"SELECT count(*) FROM review_queue r {joins} WHERE {w.sql()}", *w.args)
    rows = await conn.fetch(
        f"""
        SELECT r.*, {_NAME.format(c="a")} AS customer_name, {_NAME.format(c="b")} AS candidate_name,
               a.company_id, ca.name AS company_name, b.company_id AS candidate_company_id,
               cb.name AS candidate_company_name, {_TIER.format(v="va")} AS tier,
               {_TIER.format(v="vb")} AS candidate_tier
          FROM review_queue r {joins}
         WHERE {w.sql()}
         ORDER BY r.score DESC, r.created_at, r.review_id {w.page(limit, offset)}
        """,
        *w.args,
    )
    return rows, int(total)


async def open_tasks_of(conn: asyncpg.Connection, customer_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT task_id, kind, detail, created_at FROM quality_tasks WHERE customer_id = $1 AND status = 'open'"
        " ORDER BY created_at, task_id",
        customer_id,
    )


async def open_reviews_of(conn: asyncpg.Connection, customer_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT review_id, customer_id, candidate_id, score FROM review_queue"
        " WHERE status = 'open' AND $1 IN (customer_id, candidate_id) ORDER BY score DESC, review_id",
        customer_id,
    )


async def company_work(conn: asyncpg.Connection, company_id: str) -> asyncpg.Record | None:
    """A company's name, travellers, and how many of them have open quality tasks and open reviews."""
    return await conn.fetchrow(
        """
        SELECT co.company_id, co.name,
               (SELECT count(*) FROM customers c
                 WHERE c.company_id = co.company_id AND c.status = 'active') AS travellers,
               (SELECT count(DISTINCT t.customer_id) FROM quality_tasks t JOIN customers c USING (customer_id)
                 WHERE c.company_id = co.company_id AND c.status = 'active' AND t.status = 'open') AS with_tasks,
               (SELECT count(*) FROM review_queue r JOIN customers c ON c.customer_id IN (r.customer_id, r.candidate_id)
                 WHERE c.company_id = co.company_id AND r.status = 'open') AS reviews,
               (SELECT count(*) FROM customers c WHERE c.company_id = co.company_id AND c.status = 'active'
                   AND NOT (c.golden ? 'email')) AS without_email
          FROM companies co WHERE co.company_id = $1
        """,
        company_id,
    )
