"""Topic trends: what travellers' comments are about, per month, and how negative (supervisors, ops)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from services.feedback.adapters import readings
from services.feedback.entrypoints.deps import ScoreReader, utc_now
from services.feedback.entrypoints.reading_schemas import MonthTrend, TopicMonth, TopicTrends
from services.kit.auditing import NOT_PERSONAL
from services.kit.db import connection
from services.kit.entry import runtime_of
from services.kit.http import ProblemError
from services.kit.isotime import IsoInstant

router = APIRouter(prefix="/v1", tags=["scores"])
DEFAULT_PERIOD = timedelta(days=365)
MAX_PERIOD = timedelta(days=3 * 366)


# Counts per company, month and topic; no traveller is named or can be asked for.
@router.get("/topics/trends", response_model=TopicTrends, dependencies=[NOT_PERSONAL])
async def topic_trends(
    request: Request,
    principal: ScoreReader,
    company_id: Annotated[str | None, Query(max_length=100)] = None,
    tier: Annotated[str | None, Query(max_length=50, description="Travellers of this value tier (gold, …)")] = None,
    since: Annotated[
        IsoInstant | None, Query(alias="from", description="Period start; default a year before `to`")
    ] = None,
    until: Annotated[IsoInstant | None, Query(alias="to", description="Period end, exclusive; default now")] = None,
) -> TopicTrends:
    """Per month: comments read, and per topic how many mention it and the share of them that is negative."""
    end = until or utc_now()
    try:
        start = since or end - DEFAULT_PERIOD
    except OverflowError:  # `to` within a year of the first representable date
        raise ProblemError(422, "`to` is too early", title="Unprocessable Content") from None
    if start >= end:
        raise ProblemError(422, "`from` must be before `to`", title="Unprocessable Content")
    if end - start > MAX_PERIOD:
        raise ProblemError(422, "ask for at most three years at a time", title="Unprocessable Content")
    async with connection(runtime_of(request).pool) as conn:
        counts, totals = await readings.topic_counts(conn, since=start, until=end, company_id=company_id, tier=tier)
    by_month: dict[str, list[TopicMonth]] = defaultdict(list)
    for c in counts:
        by_month[c.month].append(
            TopicMonth(
                topic=c.topic,
                comments=c.comments,
                negative=c.negative,
                negative_share=round(c.negative / c.comments, 4),
                share_of_comments=round(c.comments / max(totals.get(c.month, 0), c.comments), 4),
            )
        )
    months = [
        MonthTrend(month=m, comments=totals[m], topics=sorted(by_month.get(m, []), key=lambda t: -t.comments))
        for m in sorted(totals)
    ]
    return TopicTrends(company_id=company_id, tier=tier, since=start, until=end, months=months)
