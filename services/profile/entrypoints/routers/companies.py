"""Corporate accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from services.kit.auditing import NOT_PERSONAL
from services.kit.http import ProblemError
from services.profile.adapters import queries
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
        ids = await queries.company_ids_page(
            conn, name_key=company_key(q) if q else None, domain=domain, limit=limit, offset=offset
        )
        items = [c for cid in ids if (c := await company_public(conn, cid)) is not None]
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
