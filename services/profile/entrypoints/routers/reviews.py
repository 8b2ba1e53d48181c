"""The review queue: suspected duplicates and supervisors' decisions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from services.kit.http import ProblemError
from services.profile.adapters import queries
from services.profile.entrypoints.deps import (
    Agent,
    Limit,
    Offset,
    ReviewRead,
    ReviewsRead,
    Supervisor,
    config_of,
    connect,
    curation_problem,
    next_offset,
    record_audit,
    review_public,
)
from services.profile.entrypoints.schemas import Page, ReviewDecision, ReviewPublic
from services.profile.service_layer import curation

router = APIRouter(prefix="/v1")


@router.get("/reviews", response_model=Page[ReviewPublic], tags=["review queue"])
async def list_reviews(
    request: Request,
    principal: Agent,
    trail: ReviewsRead,
    review_status: Annotated[Literal["open", "accepted", "rejected", "superseded"], Query(alias="status")] = "open",
    limit: Limit = 20,
    offset: Offset = 0,
) -> Page[ReviewPublic]:
    """Suspected duplicates waiting for (or decided by) an agent, highest score first."""
    async with connect(request) as conn:
        rows = await queries.reviews_page(conn, status=review_status, limit=limit, offset=offset)
        await trail.record(conn, status=review_status, results=len(rows))
    items = [review_public(r) for r in rows]
    return Page[ReviewPublic](
        items=items, limit=limit, offset=offset, next_offset=next_offset(offset, limit, len(items))
    )


@router.get("/reviews/{review_id}", response_model=ReviewPublic, tags=["review queue"])
async def get_review(review_id: str, request: Request, principal: Agent, trail: ReviewRead) -> ReviewPublic:
    """One review item with the pair's score and per-field evidence."""
    async with connect(request) as conn:
        r = await queries.review(conn, review_id)
        if r is None:
            raise ProblemError(404, f"no review {review_id!r}", type_="/problems/not-found")
        await trail.record(conn, r["customer_id"], review_id=review_id)
    return review_public(r)


@router.post("/reviews/{review_id}/decision", response_model=ReviewPublic, tags=["review queue"])
async def decide_review(review_id: str, body: ReviewDecision, request: Request, principal: Supervisor) -> ReviewPublic:
    """Accept (the two customers are merged) or reject (they are remembered as different people)."""
    async with connect(request, transaction=True) as conn:
        try:
            result = await curation.decide_review(
                conn,
                review_id=review_id,
                accept=body.decision == "accept",
                actor=principal.name,
                config=config_of(request),
            )
        except curation.CurationError as exc:
            raise curation_problem(exc) from exc
        await record_audit(conn, principal, f"review.{body.decision}", result["customer_id"], result)
        r = await queries.review(conn, review_id)
    assert r is not None  # locked and updated in this transaction
    return review_public(r)
