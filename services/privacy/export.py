"""The one-call export of a traveller (GDPR art. 15/20): every service's export, assembled into one document.

Profile is asked first: it knows the traveller's ids (the current one and every id merged into it).
The other services are then asked at once, each with all those ids, each within its own timeout.
A service that does not answer, answers with an error or with something that is not an export is
named in the document with what went wrong (`status` per service, `complete` false): a partial
export is never passed off as the whole. When profile cannot be asked, the others are asked with
the id given, and the document says the traveller's other ids could not be known.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field, SecretStr, ValidationError

from services.kit.exporting import ServiceExport

DOCUMENT_FORMAT: Literal["itinera.customer-export.v1"] = "itinera.customer-export.v1"
ServiceName = Literal["profile", "preferences", "feedback", "notifications", "value", "trips"]
SERVICES: tuple[ServiceName, ...] = ("profile", "preferences", "feedback", "notifications", "value", "trips")
DEV_EXPORT_KEY = "dev-admin-key"


class ExportSettings(BaseModel):
    """Where the six services answer, and the admin key the privacy service calls them with."""

    profile_url: str = "http://127.0.0.1:8001"
    preferences_url: str = "http://127.0.0.1:8002"
    feedback_url: str = "http://127.0.0.1:8003"
    notifications_url: str = "http://127.0.0.1:8004"
    value_url: str = "http://127.0.0.1:8005"
    trips_url: str = "http://127.0.0.1:8007"
    api_key: SecretStr = Field(default=SecretStr(DEV_EXPORT_KEY), description="An admin key of every service")
    timeout_seconds: float = Field(default=20.0, gt=0, le=300, description="Per service, for its whole answer")

    def url(self, service: ServiceName) -> str:
        return str(getattr(self, f"{service}_url")).rstrip("/")

    def production_problems(self) -> list[str]:
        """What production must not run with (the settings of the privacy app refuse to start on any)."""
        problems = []
        if self.api_key.get_secret_value() == DEV_EXPORT_KEY:
            problems.append("the development admin key is refused in production; set the export key")
        problems += [f"{s}_url must use https in production" for s in SERVICES if not self.url(s).startswith("https")]
        return problems


class ServicePart(BaseModel):
    """One service's part of the document: its export, or why it is missing."""

    status: Literal["complete", "failed", "timeout", "unreachable"]
    http_status: int | None = None
    error: str | None = Field(default=None, description="Why the part is missing (status other than complete)")
    export: ServiceExport | None = None


class CustomerExport(BaseModel):
    """Everything Itinera holds about a traveller: one part per service, each with its provenance."""

    format: Literal["itinera.customer-export.v1"] = DOCUMENT_FORMAT
    customer_id: str = Field(description="The traveller's current id")
    requested_id: str
    customer_ids: list[str] = Field(description="Every id of the traveller the services were asked about")
    generated_at: datetime
    complete: bool = Field(description="False when a service's part is missing (see services.<name>.status)")
    missing: list[str] = Field(description="Services whose part is missing")
    services: dict[str, ServicePart]


class UnknownCustomerError(Exception):
    """Profile, which knows every traveller, knows none by this id."""


async def _ask(
    client: httpx.AsyncClient, settings: ExportSettings, service: ServiceName, customer_id: str, also: list[str]
) -> ServicePart:
    url = f"{settings.url(service)}/v1/privacy/customers/{customer_id}/export"
    headers = {"X-API-Key": settings.api_key.get_secret_value()}
    try:
        async with asyncio.timeout(settings.timeout_seconds):
            response = await client.get(url, params=[("also", i) for i in also], headers=headers)
    except TimeoutError:
        return ServicePart(status="timeout", error=f"no answer within {settings.timeout_seconds:g} s")
    except httpx.TimeoutException as exc:
        return ServicePart(status="timeout", error=f"no answer in time ({type(exc).__name__})")
    except httpx.TransportError as exc:
        return ServicePart(status="unreachable", error=f"{type(exc).__name__}: {exc}"[:300])
    if response.status_code != 200:
        return ServicePart(status="failed", http_status=response.status_code, error=_problem_detail(response))
    try:
        export = ServiceExport.model_validate_json(response.content)
    except ValidationError as exc:
        return ServicePart(status="failed", http_status=200, error=f"not an export: {exc.error_count()} error(s)")
    if export.service != service:
        return ServicePart(status="failed", http_status=200, error=f"answered as {export.service!r}")
    return ServicePart(status="complete", http_status=200, export=export)


def _problem_detail(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    detail = body.get("detail") if isinstance(body, dict) else None
    return f"HTTP {response.status_code}: {detail}"[:300] if detail else f"HTTP {response.status_code}"


async def export_customer(client: httpx.AsyncClient, settings: ExportSettings, customer_id: str) -> CustomerExport:
    """Ask profile for the traveller's ids, then every other service for its part (raises UnknownCustomerError)."""
    profile = await _ask(client, settings, "profile", customer_id, [])
    if profile.status == "failed" and profile.http_status == 404:
        raise UnknownCustomerError(customer_id)
    if profile.export is not None:
        current, ids = profile.export.customer_id, profile.export.customer_ids
    else:
        profile.error = f"{profile.error}; the traveller's merged ids could not be known, only {customer_id} was asked"
        current, ids = customer_id, [customer_id]
    also = [i for i in ids if i != current]
    others = SERVICES[1:]
    answers = await asyncio.gather(*(_ask(client, settings, s, current, also) for s in others))
    parts: dict[str, ServicePart] = {"profile": profile, **dict(zip(others, answers, strict=True))}
    # A service may know more ids than profile told (a merge it heard of first): keep them all.
    known = list(dict.fromkeys([*ids, *(i for p in parts.values() if p.export for i in p.export.customer_ids)]))
    missing = [name for name, part in parts.items() if part.status != "complete"]
    return CustomerExport(
        customer_id=current, requested_id=customer_id, customer_ids=known, generated_at=datetime.now(UTC),
        complete=not missing, missing=missing, services=parts,
    )  # fmt: skip
