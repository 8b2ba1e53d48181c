"""Corporate accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from services.kit.auditing import NOT_PERSONAL
from services.kit.http import ProblemError
from services.profile.domain.companies import company_key
from services.profile.entrypoints.deps import Agent, Limit, Offset, company_public, connect, next_offset
from services.profile.entrypoints.schemas import CompanyPublic, Page

router = APIRouter(prefix="/v1")


@router.get("/companies", response_model=Page[CompanyPublic], tags=["companies"], dependencies=[NOT_PERSONAL])
async def search_companies(
    request: Request,
    principal: Agent,
    q: Annotated[str | None, Query(max_length=200, description="Company name in any legal form or spelling")] = None,
    domain: Annotated[str | None, Query(max_length=255)] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Page[CompanyPublic]:
    """Corporate accounts by name (legal forms and case ignored) or email domain."""
    async with connect(request) as conn:
        rows = await conn.fetch(
            """
            SELECT DISTINCT c.company_id, c.name FROM companies c
              LEFT JOIN company_aliases a USING (company_id) LEFT JOIN company_domains d USING (company_id)
             WHERE ($1::text IS NULL OR a.alias_key = $1 OR a.alias_key LIKE $1 || '%')
               AND ($2::text IS NULL OR d.domain = lower($2))
             ORDER BY c.name, c.company_id LIMIT $3 OFFSET $4
            """,
            company_key(q) if q else None,
            domain,
            limit,
            offset,
        )
        items = [c for r in rows if (c := await company_public(conn, r["company_id"])) is not None]
    return Page[CompanyPublic](
        items=items, limit=limit, offset=offset, next_offset=next_offset(offset, limit, len(items))
    )


@router.get("/companies/{company_id}", response_model=CompanyPublic, tags=["companies"], dependencies=[NOT_PERSONAL])
async def get_company(company_id: str, request: Request, principal: Agent) -> CompanyPublic:
    """One corporate account with its aliases, domains and number of travellers."""
    async with connect(request) as conn:
        company = await company_public(conn, company_id)
    if company is None:
        raise ProblemError(404, f"no company {company_id!r}", type_="/problems/not-found")
    return company
