"""Explain: why a record belongs to its customer, and how two customers compare."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.kit.http import ProblemError
from services.profile.adapters import identity as identity_db
from services.profile.adapters import queries
from services.profile.domain import matching
from services.profile.domain.resolution import frequency_tokens
from services.profile.entrypoints.deps import Agent, PairExplain, RecordExplain, config_of, connect, resolve_customer
from services.profile.entrypoints.schemas import ExplainPublic, PairExplainPublic
from services.profile.service_layer.parameters import current_parameters

router = APIRouter(prefix="/v1")


@router.get("/source-records/{source_system}/{source_id}/explain", response_model=ExplainPublic, tags=["matching"])
async def explain_link(
    source_system: str, source_id: str, request: Request, principal: Agent, trail: RecordExplain
) -> ExplainPublic:
    """Why a source record belongs to its customer: rule, score and per-field evidence of its link."""
    async with connect(request) as conn:
        r = await queries.record_link(conn, source_system, source_id)
        if r is None:
            raise ProblemError(404, f"no source record {source_system}:{source_id}", type_="/problems/not-found")
        await trail.record(conn, r["customer_id"], source=f"{source_system}:{source_id}")
    return ExplainPublic(
        source_system=source_system,
        source_id=source_id,
        customer_id=r["customer_id"],
        match_rule=r["match_rule"],
        match_score=r["match_score"],
        matched_to=r["matched_to"],
        evidence=r["match_evidence"],
        parameters_version=(r["match_evidence"] or {}).get("parameters_version"),
    )


@router.get(
    "/explain",
    response_model=PairExplainPublic,
    tags=["matching"],
    responses={404: {"description": "customer_a or customer_b names no known customer"}},
)
async def explain_pair(
    request: Request,
    principal: Agent,
    trail: PairExplain,
    customer_a: Annotated[str, Query(max_length=100)],
    customer_b: Annotated[str, Query(max_length=100)],
) -> PairExplainPublic:
    """How two customers compare now: the best-scoring pair of their source records, field by field."""
    config = config_of(request)
    async with connect(request) as conn:
        a = await resolve_customer(conn, customer_a)
        b = await resolve_customer(conn, customer_b)
        rows = await queries.records_with_features(conn, [a["customer_id"], b["customer_id"]])
        await trail.record(conn, a["customer_id"], other=b["customer_id"])
        feats = {(r["source_system"], r["source_id"]): matching.MatchFeatures.from_json(r["features"]) for r in rows}
        freq = await identity_db.value_frequencies(
            conn, [t for f in feats.values() for t in frequency_tokens(f)], min_records=config.frequency_min_records
        )
        params = await current_parameters(conn, config.parameters)
    upper, lower = config.parameters.thresholds(upper=config.upper_threshold, lower=config.lower_threshold)
    left = [r for r in rows if r["customer_id"] == a["customer_id"]]
    right = [r for r in rows if r["customer_id"] == b["customer_id"]]
    best: tuple[matching.MatchResult, Any, Any] | None = None
    for ra in left:
        for rb in right:
            res = matching.score_pair(
                feats[(ra["source_system"], ra["source_id"])],
                feats[(rb["source_system"], rb["source_id"])],
                upper=upper,
                lower=lower,
                freq=freq,
                params=params,
            )
            if best is None or matching.rank(res) > matching.rank(best[0]):
                best = (res, ra, rb)
    return PairExplainPublic(
        customer_a=a["customer_id"],
        customer_b=b["customer_id"],
        record_a={"source_system": best[1]["source_system"], "source_id": best[1]["source_id"]} if best else None,
        record_b={"source_system": best[2]["source_system"], "source_id": best[2]["source_id"]} if best else None,
        result=best[0].to_json() if best else None,
        parameters_version=params.version,
    )
