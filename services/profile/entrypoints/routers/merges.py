"""Merge, unmerge and split (supervisors)."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from services.profile.entrypoints.deps import Supervisor, config_of, connect, curation_problem, record_audit
from services.profile.entrypoints.schemas import MergeIn, MergePublic, SplitIn, SplitPublic
from services.profile.service_layer import curation

router = APIRouter(prefix="/v1")


@router.post(
    "/merges",
    status_code=status.HTTP_201_CREATED,
    response_model=MergePublic,
    tags=["merge"],
    responses={
        404: {"description": "survivor_id or absorbed_id names no known customer"},
        409: {"description": "The same customer twice, or a customer that is no longer active"},
    },
)
async def merge_customers(body: MergeIn, request: Request, principal: Supervisor) -> MergePublic:
    """Merge `absorbed_id` into `survivor_id`; the absorbed id keeps redirecting to the survivor."""
    async with connect(request, transaction=True) as conn:
        try:
            result = await curation.merge_customers(
                conn,
                survivor_id=body.survivor_id,
                absorbed_id=body.absorbed_id,
                reason="agent",
                actor=principal.name,
                config=config_of(request),
            )
        except curation.CurationError as exc:
            raise curation_problem(exc) from exc
        await record_audit(
            conn,
            principal,
            "customer.merge",
            body.survivor_id,
            {"absorbed_id": body.absorbed_id, "merge_id": result.merge_id},
        )
    return MergePublic(merge_id=result.merge_id, survivor_id=result.survivor_id, absorbed_id=result.absorbed_id)


@router.post("/merges/{merge_id}/undo", response_model=MergePublic, tags=["merge"])
async def unmerge_customers(merge_id: str, request: Request, principal: Supervisor) -> MergePublic:
    """Undo a merge exactly: the absorbed customer gets back its records, bookings and golden record."""
    async with connect(request, transaction=True) as conn:
        try:
            result = await curation.unmerge_customers(
                conn, merge_id=merge_id, actor=principal.name, config=config_of(request)
            )
        except curation.CurationError as exc:
            raise curation_problem(exc) from exc
        await record_audit(
            conn,
            principal,
            "customer.unmerge",
            result.survivor_id,
            {"restored_id": result.absorbed_id, "merge_id": merge_id},
        )
    return MergePublic(
        merge_id=merge_id, survivor_id=result.survivor_id, absorbed_id=result.absorbed_id, status="undone"
    )


@router.post(
    "/customers/{customer_id}/split",
    response_model=SplitPublic,
    tags=["merge"],
    responses={
        404: {"description": "No such customer, or no such source record"},
        409: {"description": "The source record belongs to another customer, or is the customer's only one"},
    },
)
async def split_record(customer_id: str, body: SplitIn, request: Request, principal: Supervisor) -> SplitPublic:
    """Split one source record off into a customer of its own (with the bookings it came with)."""
    async with connect(request, transaction=True) as conn:
        try:
            new_id = await curation.split_record(
                conn,
                customer_id=customer_id,
                source_system=body.source_system,
                source_id=body.source_id,
                actor=principal.name,
                config=config_of(request),
            )
        except curation.CurationError as exc:
            raise curation_problem(exc) from exc
        await record_audit(
            conn,
            principal,
            "customer.split",
            customer_id,
            {"source": f"{body.source_system}:{body.source_id}", "to": new_id},
        )
    return SplitPublic(customer_id=customer_id, new_customer_id=new_id)
