"""`GET /v1/customers/{customer_id}/export`: everything Itinera holds about a traveller, as one JSON file.

The app that includes `router` puts the `ExportSettings` in `app.state.export_settings` and, to reuse
connections, an `httpx.AsyncClient` in `app.state.export_client` (without one, each export opens its own).
"""

# No `from __future__ import annotations`: FastAPI reads the route's signature at runtime.
import re
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Request, Response

from services.kit.auditing import AuditTrail, PersonalRead
from services.kit.auth import Principal, require_roles
from services.kit.exporting import EXPORT_ACTION
from services.kit.http import ProblemError
from services.privacy.export import CustomerExport, ExportSettings, UnknownCustomerError, export_customer

router = APIRouter()
PARTIAL = 207  # Multi-Status: the document holds each service's own status, and some are not complete


def _settings(request: Request) -> ExportSettings:
    settings = getattr(request.app.state, "export_settings", None)
    if not isinstance(settings, ExportSettings):
        raise RuntimeError("the privacy app must set app.state.export_settings")
    return settings


def _filename(customer_id: str) -> str:
    return "itinera-export-" + re.sub(r"[^A-Za-z0-9_.-]", "_", customer_id)[:100] + ".json"


@router.get(
    "/v1/customers/{customer_id}/export",
    response_model=CustomerExport,
    tags=["privacy"],
    responses={
        PARTIAL: {"model": CustomerExport, "description": "Some services' parts are missing (see complete, missing)"},
        404: {"description": "No traveller is known by this id"},
    },
)
async def export(
    customer_id: str,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require_roles("admin"))],
    trail: Annotated[AuditTrail, Depends(PersonalRead(EXPORT_ACTION))],
) -> CustomerExport:
    """Everything every service holds about a traveller, with provenance, as one file (GDPR art. 15/20; admin; audited).

    200 when every service answered; 207 when a part is missing: the document names the services and why.
    """
    settings = _settings(request)
    client: httpx.AsyncClient | None = getattr(request.app.state, "export_client", None)
    try:
        if client is not None:
            document = await export_customer(client, settings, customer_id)
        else:
            async with httpx.AsyncClient() as own:
                document = await export_customer(own, settings, customer_id)
    except UnknownCustomerError:
        raise ProblemError(404, f"no traveller {customer_id!r} is known", type_="/problems/unknown-customer") from None
    trail.subject = document.customer_id
    trail.detail.update(customer_ids=document.customer_ids, complete=document.complete, missing=document.missing)
    response.status_code = 200 if document.complete else PARTIAL
    response.headers["Content-Disposition"] = f'attachment; filename="{_filename(document.customer_id)}"'
    response.headers["Cache-Control"] = "no-store"
    return document
