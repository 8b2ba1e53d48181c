"""Company travel policies: list, read, create or replace, and remove (admins write them)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from pydantic import ValidationError

from services.kit.auditing import NOT_PERSONAL
from services.kit.http import ProblemError
from services.preferences.adapters import repository as repo
from services.preferences.domain import policy
from services.preferences.entrypoints.deps import Admin, Agent, record_audit, transaction
from services.preferences.entrypoints.schemas import PolicyPublic

router = APIRouter(prefix="/v1")


def _policy_public(row: repo.PolicyRow) -> PolicyPublic:
    return PolicyPublic(
        company_id=row.company_id, version=row.version, policy=row.policy, updated_by=row.updated_by,
        updated_at=row.updated_at,
    )  # fmt: skip


@router.get("/policies", response_model=list[PolicyPublic], tags=["policy"], dependencies=[NOT_PERSONAL])
async def list_policies(request: Request, principal: Admin) -> list[PolicyPublic]:
    """Every company's travel policy (role: admin)."""
    async with transaction(request) as conn:
        return [_policy_public(r) for r in await repo.list_policies(conn)]


@router.get("/companies/{company_id}/policy", response_model=PolicyPublic, tags=["policy"], dependencies=[NOT_PERSONAL])
async def get_policy(company_id: str, request: Request, principal: Agent) -> PolicyPublic:
    """A company's travel policy."""
    async with transaction(request) as conn:
        row = (await repo.load_policies(conn, [company_id])).get(company_id)
    if row is None or row.deleted:
        raise ProblemError(404, f"no travel policy for company {company_id!r}", type_="/problems/unknown-policy")
    return _policy_public(row)


def _policy_body() -> tuple[dict[str, Any], dict[str, Any]]:
    """The policy body's schema (the policy without its company, which the path names) and its parts."""
    schema = policy.TravelPolicy.model_json_schema(ref_template="#/components/schemas/{model}")
    parts = schema.pop("$defs", {})
    schema["properties"].pop("company_id")
    schema["required"] = [r for r in schema.get("required", []) if r != "company_id"]
    return schema, parts


_POLICY_BODY, _POLICY_PARTS = _policy_body()


@router.put(
    "/companies/{company_id}/policy",
    response_model=PolicyPublic,
    tags=["policy"],
    responses={
        422: {
            "description": "An invalid policy (`errors` names each field), including two cabin rules for the same"
            " min_hours and an airline both preferred and blocked"
        }
    },
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": _POLICY_BODY}}},
        "x-component-schemas": _POLICY_PARTS,
    },
)
async def put_policy(
    company_id: str, body: Annotated[dict[str, Any], Body()], request: Request, principal: Admin
) -> PolicyPublic:
    """Create or replace a company's travel policy (role: admin); travellers' snapshots follow shortly."""
    try:
        validated = policy.TravelPolicy.from_json(company_id, body)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        fields = ", ".join(e["field"] or "(body)" for e in errors[:5])
        raise ProblemError(422, f"invalid policy: {fields}", type_="/problems/invalid-policy", errors=errors) from None
    stored = validated.model_dump(mode="json", exclude={"company_id"})
    async with transaction(request) as conn:
        version = await repo.save_policy(
            conn, company_id=company_id, policy=stored, deleted=False, updated_by=principal.name
        )
        await record_audit(conn, principal, "policy.write", None, company_id=company_id, version=version)
        await conn.execute("SELECT pg_notify('preferences_policy', $1)", company_id)
        row = (await repo.load_policies(conn, [company_id]))[company_id]
    return _policy_public(row)


@router.delete("/companies/{company_id}/policy", status_code=204, tags=["policy"])
async def delete_policy(company_id: str, request: Request, principal: Admin) -> None:
    """Remove a company's travel policy (role: admin); travellers' effective preferences lose its limits."""
    async with transaction(request) as conn:
        row = (await repo.load_policies(conn, [company_id])).get(company_id)
        if row is None or row.deleted:
            raise ProblemError(404, f"no travel policy for company {company_id!r}", type_="/problems/unknown-policy")
        version = await repo.save_policy(
            conn, company_id=company_id, policy=row.policy, deleted=True, updated_by=principal.name
        )
        await record_audit(conn, principal, "policy.delete", None, company_id=company_id, version=version)
        await conn.execute("SELECT pg_notify('preferences_policy', $1)", company_id)
