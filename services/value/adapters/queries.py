"""Read side of the value service: the lists behind work queues (tier, stage, risk, company, manager)."""

from __future__ import annotations

from typing import Any, Literal

import asyncpg

AT_RISK_STAGES = ("at_risk", "lapsed")


def _filters(
    *, tier: str | None, stage: str | None, risk: str | None, at_risk: bool | None, company_id: str | None,
    manager: str | None, subject: Literal["customer", "company"],
) -> tuple[str, list[Any]]:  # fmt: skip
    where: list[str] = []
    args: list[Any] = []

    def add(sql: str, value: Any) -> None:
        args.append(value)
        where.append(sql.replace("?", f"${len(args)}"))

    if tier:
        add("v.tier = ?", tier)
    if stage:
        add("v.stage = ?", stage)
    if risk:
        add("v.risk = ?", risk)
    if at_risk is not None:
        add(("" if at_risk else "NOT ") + "(v.stage = ANY(?::text[]))", list(AT_RISK_STAGES))
    if company_id and subject == "customer":
        add("v.company_id = ?", company_id)
    if manager:
        add("v.snapshot->'account_manager'->>'id' = ?", manager)
    return (" WHERE " + " AND ".join(where)) if where else "", args


async def list_values(
    conn: asyncpg.Connection, subject: Literal["customer", "company"], *, tier: str | None = None,
    stage: str | None = None, risk: str | None = None, at_risk: bool | None = None, company_id: str | None = None,
    manager: str | None = None, limit: int, offset: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """Published snapshots, most valuable first (then by id, so pages are stable)."""
    table, key = ("customer_value", "customer_id") if subject == "customer" else ("company_value", "company_id")
    where, args = _filters(
        tier=tier, stage=stage, risk=risk, at_risk=at_risk, company_id=company_id, manager=manager, subject=subject
    )
    rows = await conn.fetch(
        f"SELECT v.snapshot FROM {table} v{where} ORDER BY v.monetary DESC, v.frequency DESC, v.{key}"
        f" LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    return [r["snapshot"] for r in rows]


async def tier_counts(conn: asyncpg.Connection, subject: Literal["customer", "company"]) -> dict[str, dict[str, int]]:
    """How many customers (or companies) are in each tier and stage: the dashboard's distribution."""
    table = "customer_value" if subject == "customer" else "company_value"
    rows = await conn.fetch(f"SELECT tier, stage, count(*) AS n FROM {table} GROUP BY tier, stage")
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["tier"], {})[r["stage"]] = r["n"]
    return out
