"""Webhook endpoints of a company (or a traveller): registered, listed and removed by supervisors; audited."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Depends, Path, Query, Request, status
from pydantic import BaseModel, Field, SecretStr

from services.kit.auditing import NOT_PERSONAL
from services.kit.auth import Principal, require_roles
from services.kit.db import audit
from services.kit.entry import runtime_of
from services.kit.http import ProblemError
from services.kit.sealing import Sealer
from services.notifications.adapters import repository as repo
from services.notifications.adapters import webhooks as store
from services.notifications.domain.model import PURPOSES, Purpose
from services.notifications.domain.webhooks import SIGNATURE_HEADER, url_problem
from services.notifications.service_layer.webhooks import new_endpoint_id, new_secret, seal_secret
from services.notifications.settings import NotificationsSettings

Supervisor = Annotated[Principal, Depends(require_roles("supervisor", "admin"))]
EndpointId = Annotated[str, Path(min_length=1, max_length=100)]

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class EndpointCreate(BaseModel):
    owner_kind: Literal["company", "customer"] = "company"
    owner_id: str = Field(min_length=1, max_length=200, description="The company id (or a traveller's id)")
    url: str = Field(min_length=8, max_length=2000, description="https, a public host, in production")
    purposes: list[Purpose] = Field(default_factory=lambda: list(PURPOSES), min_length=1)
    secret: SecretStr | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="The signing secret; one is made (and shown once) when none is given",
    )
    description: str | None = Field(default=None, max_length=500)


class EndpointPublic(BaseModel):
    endpoint_id: str
    owner_kind: str
    owner_id: str
    url: str
    purposes: list[str]
    description: str | None
    active: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointPublic):
    secret: str = Field(description="The signing secret, shown only in this answer: it is stored sealed")
    signature_header: str = Field(
        default=SIGNATURE_HEADER,
        description='t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>"> under the secret',
    )


class EndpointList(BaseModel):
    items: list[EndpointPublic]


def _settings(request: Request) -> NotificationsSettings:
    settings = runtime_of(request).settings
    assert isinstance(settings, NotificationsSettings)
    return settings


def _public(row: asyncpg.Record) -> EndpointPublic:
    return EndpointPublic(**{k: row[k] for k in EndpointPublic.model_fields})


@router.post("", response_model=EndpointCreated, status_code=status.HTTP_201_CREATED)
async def create_endpoint(body: EndpointCreate, request: Request, principal: Supervisor) -> EndpointCreated:
    """Register an endpoint that receives every message event of its owner's travellers for the chosen purposes."""
    settings = _settings(request)
    problem = url_problem(body.url, production=settings.environment == "production")
    if problem is not None:
        raise ProblemError(422, f"url: {problem}")
    secret = body.secret.get_secret_value() if body.secret is not None else new_secret()
    endpoint_id = new_endpoint_id()
    sealed = seal_secret(Sealer(settings.webhook_secret_keys), secret, endpoint_id)
    async with repo.connect(runtime_of(request).pool) as conn, conn.transaction():
        row = await store.insert_endpoint(
            conn,
            endpoint_id=endpoint_id,
            owner_kind=body.owner_kind,
            owner_id=body.owner_id,
            url=body.url,
            secret_sealed=sealed,
            purposes=sorted(set(body.purposes)),
            description=body.description,
            created_by=principal.name,
        )
        detail = {"endpoint_id": endpoint_id, "url": body.url, "owner_kind": body.owner_kind, "purposes": body.purposes}
        await audit(conn, principal, "webhook.create", body.owner_id, dict(detail))
    return EndpointCreated(**_public(row).model_dump(), secret=secret)


# Endpoints of companies' tools (URLs, purposes): no traveller's data.
@router.get("", response_model=EndpointList, dependencies=[NOT_PERSONAL])
async def list_endpoints(
    request: Request,
    principal: Supervisor,
    owner_kind: Literal["company", "customer"] | None = None,
    owner_id: Annotated[str | None, Query(max_length=200)] = None,
) -> EndpointList:
    """The active endpoints (secrets are never shown again)."""
    async with repo.connect(runtime_of(request).pool) as conn:
        rows = await store.list_endpoints(conn, owner_kind=owner_kind, owner_id=owner_id)
    return EndpointList(items=[_public(r) for r in rows])


@router.delete("/{endpoint_id}", response_model=EndpointPublic)
async def delete_endpoint(endpoint_id: EndpointId, request: Request, principal: Supervisor) -> EndpointPublic:
    """Stop posting to an endpoint; posts still owed to it end as failed. Audited."""
    async with repo.connect(runtime_of(request).pool) as conn, conn.transaction():
        row = await store.deactivate_endpoint(conn, endpoint_id)
        if row is None:
            raise ProblemError(404, f"no active webhook endpoint {endpoint_id}")
        await audit(conn, principal, "webhook.delete", row["owner_id"], {"endpoint_id": endpoint_id})
    return _public(row)
