"""Privacy HTTP API: erasure requests (GDPR art. 17) and their progress through every service."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response, status

from services.kit.auditing import NOT_PERSONAL
from services.kit.auth import Principal, require_roles
from services.kit.db import audit, connection
from services.kit.entry import runtime_lifespan, runtime_of
from services.kit.http import ProblemError, create_app
from services.kit.runtime import ServiceRuntime
from services.privacy.entrypoints import export_api
from services.privacy.entrypoints.schemas import ErasurePage, ErasurePublic, ErasureRequest, StepPublic
from services.privacy.export import ExportSettings
from services.privacy.service_layer import handlers
from services.privacy.service_layer.handlers import ErasureView
from services.privacy.settings import PrivacySettings

Admin = Annotated[Principal, Depends(require_roles("admin"))]

router = APIRouter(prefix="/v1", tags=["erasures"])


def _key(request: Request) -> bytes:
    return runtime_of(request).settings.erasure_key.get_secret_value().encode()


def _public(v: ErasureView) -> ErasurePublic:
    return ErasurePublic(
        erasure_id=v.erasure_id, reason=v.reason, note=v.note, requested_by=v.requested_by,
        requested_at=v.requested_at, status=v.status,
        completed_at=v.completed_at,
        steps=[
            StepPublic(service=s.service, status=s.status)
            if s.step is None
            else StepPublic(
                service=s.service, status=s.status, customer_ids=s.step.customer_ids, rows=dict(s.step.rows),
                completed_at=s.step.completed_at,
            )
            for s in v.steps
        ],
    )  # fmt: skip


@router.post(
    "/erasures", response_model=ErasurePublic, status_code=status.HTTP_202_ACCEPTED, dependencies=[NOT_PERSONAL]
)
async def request_erasure(
    body: ErasureRequest, request: Request, response: Response, principal: Admin
) -> ErasurePublic:
    """Erase a traveller everywhere (admins): every service removes or anonymises their data; audited.

    Accepted at once; the services do their parts in the background (follow `Location`)."""
    async with connection(runtime_of(request).pool, transaction=True) as conn:
        erasure_id = await handlers.request_erasure(
            conn, customer_id=body.customer_id, reason=body.reason, note=body.note, actor=principal,
            digest_key=_key(request), now=datetime.now(UTC),
        )  # fmt: skip
        # The audit row names the erasure, not the traveller (the erasure's record holds only a digest).
        await audit(conn, principal, "erasure.request", erasure_id, {"reason": body.reason, "note": body.note})
        view = await handlers.erasure(conn, erasure_id)
    assert view is not None
    response.headers["Location"] = f"/v1/erasures/{erasure_id}"
    return _public(view)


@router.get("/erasures/{erasure_id}", response_model=ErasurePublic, dependencies=[NOT_PERSONAL])
async def get_erasure(erasure_id: str, request: Request, _: Admin) -> ErasurePublic:
    """An erasure's progress: each service's step, pending or done (when, how many rows)."""
    async with connection(runtime_of(request).pool) as conn:
        view = await handlers.erasure(conn, erasure_id)
    if view is None:
        raise ProblemError(404, f"no erasure {erasure_id!r}", type_="/problems/unknown-erasure")
    return _public(view)


@router.get("/erasures", response_model=ErasurePage, dependencies=[NOT_PERSONAL])
async def list_erasures(
    request: Request,
    _: Admin,
    customer_id: Annotated[
        str | None, Query(max_length=100, description="Only erasures asked for this id (matched by its digest)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> ErasurePage:
    """Erasures, newest first (admins)."""
    async with connection(runtime_of(request).pool) as conn:
        views = await handlers.erasures(
            conn, customer_id=customer_id, digest_key=_key(request), limit=limit, offset=offset
        )
    return ErasurePage(items=[_public(v) for v in views], limit=limit, offset=offset)


def create_privacy_app(runtime: ServiceRuntime, workers: bool) -> FastAPI:
    app = create_app(
        title="Itinera privacy",
        description="Erasure of a traveller (GDPR art. 17) across every service, audited, with its progress; "
        "the export of everything every service holds about a traveller (GDPR art. 15/20) in one document.",
        settings=runtime.settings,
        lifespan=runtime_lifespan(runtime, workers=workers),
        readiness=lambda app: runtime.readiness,
    )
    app.include_router(router)
    # The one-call export (GDPR art. 15/20): every service's part in one document.
    app.include_router(export_api.router)
    settings = runtime.settings
    app.state.export_settings = settings.export if isinstance(settings, PrivacySettings) else ExportSettings()
    return app
