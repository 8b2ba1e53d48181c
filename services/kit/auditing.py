"""The audit of personal-data reads and of refused attempts, kept by the HTTP shell.

A route says what it is in its signature, and the shell does the rest:

- `PersonalRead("customer.read")` (a dependency giving the route its `AuditTrail`): the route
  reads personal data. Every successful call writes one audit row with that action: the route
  may write it itself, in its own transaction (`await trail.record(conn)`), or name the subject
  it resolved (`trail.subject = ...`) and add details (`trail.detail[...]`) for the shell to
  write once the response is ready. A response whose audit row cannot be written is not sent
  (503): no read of personal data goes unrecorded.
- `NOT_PERSONAL` (in the route's `dependencies`): the route returns no personal data.
- Every 403, whichever route or dependency refused, writes an `access.denied` row naming the
  principal, the route and (when the route names one) the subject.

A test enumerates every route of every service and checks that each GET behind an API key is
classified one way or the other, that the personal ones audit, and that refusals do.
"""

# No `from __future__ import annotations`: FastAPI reads the signature of `PersonalRead.__call__`,
# an instance's method, whose string annotations it could not resolve.
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from services.kit.auth import Principal, authenticate
from services.kit.db import audit, connection, record_audit
from services.kit.logging import correlation_id_var

log = logging.getLogger(__name__)

DENIED = "access.denied"


@dataclass
class AuditTrail:
    """The audit row of one read of personal data: its action, subject and details."""

    action: str
    subject: str | None
    principal: Principal | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    written: bool = False

    async def record(self, conn: asyncpg.Connection, subject: str | None = None, **detail: Any) -> None:
        """Write the row now, on the route's connection (in its transaction, if it has one), naming
        the subject the route resolved (when given) and adding `detail`."""
        if subject is not None:
            self.subject = subject
        self.detail.update(detail)
        if self.written or self.principal is None:
            return
        await audit(conn, self.principal, self.action, self.subject, self.detail)
        self.written = True


class PersonalRead:
    """Marks a route as a read of personal data (a dependency; see the module's doc)."""

    def __init__(self, action: str, *, subject: str | None = "customer_id") -> None:
        self.action = action
        self.subject = subject

    def subject_of(self, request: Request) -> str | None:
        """The subject the request names: the path parameter, else the query parameter `subject`."""
        if self.subject is None:
            return None
        value = request.path_params.get(self.subject) or request.query_params.get(self.subject)
        return str(value) if value else None

    def __call__(self, request: Request, principal: Annotated[Principal, Depends(authenticate)]) -> AuditTrail:
        trail = AuditTrail(self.action, self.subject_of(request), principal=principal)
        request.state.audit_trail = trail
        return trail


class _NotPersonal:
    """Marks a route as returning no personal data."""

    def __call__(self) -> None:
        return None


NO_PERSONAL_DATA = _NotPersonal()
NOT_PERSONAL = Depends(NO_PERSONAL_DATA)


def route_marker(route: BaseRoute | None) -> PersonalRead | _NotPersonal | None:
    """How a route is classified (None: not at all)."""
    if not isinstance(route, APIRoute):
        return None
    for dep in route.dependant.dependencies:
        if isinstance(dep.call, PersonalRead | _NotPersonal):
            return dep.call
    return None


AuditWriter = Callable[[Request, dict[str, Any]], Awaitable[None]]


async def write_to_service_pool(request: Request, row: dict[str, Any]) -> None:
    """Write an audit row through the service's own pool (the runtime the app runs with)."""
    pool: asyncpg.Pool = request.app.state.runtime.pool
    async with connection(pool) as conn:
        await record_audit(conn, correlation_id=correlation_id_var.get(), **row)


def pending_row(request: Request, status: int) -> dict[str, Any] | None:
    """The audit row the shell still owes for a finished request (None: nothing to write)."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return None
    route = request.scope.get("route")
    marker = route_marker(route)
    trail: AuditTrail | None = getattr(request.state, "audit_trail", None)
    if status == 403:
        subject = trail.subject if trail is not None else None
        if subject is None and isinstance(marker, PersonalRead):
            subject = marker.subject_of(request)
        detail: dict[str, Any] = {"method": request.method, "route": getattr(route, "path", request.url.path)}
        if isinstance(marker, PersonalRead):
            detail["action"] = marker.action
        return {"principal": principal.name, "role": principal.role, "action": DENIED, "subject_id": subject,
                "detail": detail}  # fmt: skip
    if trail is None or trail.written or status >= 400:
        return None
    return {"principal": principal.name, "role": principal.role, "action": trail.action, "subject_id": trail.subject,
            "detail": trail.detail}  # fmt: skip
