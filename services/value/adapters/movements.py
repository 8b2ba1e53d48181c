"""Read side of tier movement for the ops dashboard: tier changes in a period, by pair and by month."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import asyncpg

_RANK = "CASE {col} WHEN 'gold' THEN 3 WHEN 'silver' THEN 2 ELSE 1 END"


async def tier_moves(
    conn: asyncpg.Connection, subject: Literal["customer", "company"], *, since: datetime, until: datetime
) -> list[asyncpg.Record]:
    """How many moved from each tier to each other one in [since, until) (from None: a first tier)."""
    return await conn.fetch(
        "SELECT from_tier, to_tier, count(*) AS count FROM tier_history"
        " WHERE subject = $1 AND changed_at >= $2 AND changed_at < $3 GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
        subject,
        since,
        until,
    )


async def moves_by_month(
    conn: asyncpg.Connection, subject: Literal["customer", "company"], *, since: datetime, until: datetime
) -> list[asyncpg.Record]:
    """Moves up and down per month (UTC); a first tier above regular counts as up."""
    return await conn.fetch(
        f"""
        SELECT to_char(date_trunc('month', changed_at AT TIME ZONE 'UTC'), 'YYYY-MM') AS month,
               count(*) FILTER (WHERE {_RANK.format(col="to_tier")} > {_RANK.format(col="from_tier")}
                                   OR (from_tier IS NULL AND to_tier <> 'regular')) AS up,
               count(*) FILTER (WHERE {_RANK.format(col="to_tier")} < {_RANK.format(col="from_tier")}) AS down
          FROM tier_history WHERE subject = $1 AND changed_at >= $2 AND changed_at < $3
         GROUP BY 1 ORDER BY 1
        """,
        subject,
        since,
        until,
    )
