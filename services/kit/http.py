"""The HTTP shell every service's API is built in.

Problem-details JSON (RFC 9457) for every 4xx/5xx, abuse limits (`services.kit.limits`), input
hygiene and response headers (`services.kit.hygiene`), the audit of personal-data reads and
refusals (`services.kit.auditing`), correlation ids, Prometheus metrics, `/healthz` (liveness,
open) and `/readyz` (dependencies, open), `/metrics` (ops role), and the API documentation
(open in development, behind a key or off in production: the `api_docs` setting).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.kit.auditing import NOT_PERSONAL, AuditWriter, pending_row, write_to_service_pool
from services.kit.auth import IMPLIED_ROLES, AbuseLimits, KeyRing, Principal, authenticate, require_roles
from services.kit.hygiene import BodySizeLimit, RejectNul, SecurityHeaders
from services.kit.logging import correlation_id_var
from services.kit.metrics import HTTP_LATENCY, HTTP_REQUESTS
from services.kit.openapi import METRICS_RESPONSES, READINESS_RESPONSES, document_problems, single_query_values
from services.kit.problems import PROBLEM_JSON, problem
from services.kit.sensitive import Category, redact_body, visible_to
from services.kit.settings import ServiceSettings

__all__ = [
    "CAPABILITY_PAGE_HEADERS",
    "PROBLEM_JSON",
    "REDACTION_NOTE",
    "BodySizeLimit",
    "ProblemError",
    "RedactSensitive",
    "create_app",
    "problem",
    "reveals",
    "withhold",
]

log = logging.getLogger(__name__)

# Pages whose URL carries a credential (a survey or answer link's token): never leak it in a
# Referer, never cache, never frame; inline styles and same-origin forms only.
CAPABILITY_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]
# PostgreSQL refuses these characters in text (NUL, or bytes the encoding cannot hold): the
# request asked for something no row can contain.
UNSTORABLE_TEXT = (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError)


class ProblemError(Exception):
    """Raise from a route to answer with problem details (e.g. 404 unknown customer, 409 conflict)."""

    def __init__(self, status: int, detail: str, *, type_: str = "about:blank", **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type_ = type_
        self.extra = extra


async def _audit_pending(request: Request, response: Response, writer: AuditWriter) -> Response:
    """Write the audit row the request still owes; a read whose row cannot be written is not sent."""
    row = pending_row(request, response.status_code)
    if row is None:
        return response
    try:
        await writer(request, row)
    except Exception:
        log.exception("audit row %s could not be written", row["action"])
        if response.status_code < 400:
            return problem(503, "the read could not be audited, so it is not answered; try again shortly")
    return response


REDACTION_NOTE = (
    "**Sensitive data.** Every JSON response passes one filter (`services/kit/sensitive.py`): a value the"
    ' caller\'s role may not see is replaced by `{"redacted": "<category>"}` where it stands.'
    " `special-category` (meal, dietary and accessibility codes, health: the `air.meal` and `needs.*`"
    " preferences, meal and wheelchair/medical SSR codes) needs the supervisor role, `date-of-birth` an agent,"
    " `secret-identifier` (passport, national id, known traveller and redress numbers) an admin."
)


def _visible(scope: Scope) -> frozenset[Category]:
    """What the request's caller may see (nothing before a key was accepted)."""
    state = scope.get("state") or {}
    principal: Principal | None = state.get("principal")
    if principal is None:
        return frozenset()
    return visible_to(principal.role, IMPLIED_ROLES[principal.role], withheld=state.get("withheld", ()))


def withhold(request: Request, *categories: Category) -> None:
    """Keep `categories` out of this response even where the caller's role may see them (need to know)."""
    request.state.withheld = frozenset(getattr(request.state, "withheld", frozenset())) | set(categories)


def reveals(request: Request, category: Category) -> bool:
    """Whether this response will show values of `category` to its caller."""
    return category in _visible(request.scope)


class RedactSensitive:
    """The one response filter: every JSON body leaves redacted for its caller (`services.kit.sensitive`).

    ASGI, not a route class, so no route can be added without it; it holds a JSON body back until
    it is complete (responses here are small documents, never streams)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def filtered(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                content_type = next((v for k, v in message.get("headers", ()) if k.lower() == b"content-type"), b"")
                if b"json" in content_type:
                    start = message
                    return
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = redact_body(b"".join(chunks), _visible(scope))
                headers = [(k, v) for k, v in start.get("headers", ()) if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, filtered)


def create_app(
    *,
    title: str,
    settings: ServiceSettings,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    readiness: Callable[[FastAPI], ReadinessCheck] | None = None,
    description: str = "",
) -> FastAPI:
    """A FastAPI app with the kit's error format, auth, metrics and health endpoints."""
    public_docs = settings.api_docs == "public"
    app = FastAPI(
        title=title,
        description=f"{description}\n\n{REDACTION_NOTE}" if description else REDACTION_NOTE,
        version="1.0.0",
        lifespan=lifespan,
        docs_url="/docs" if public_docs else None,
        redoc_url="/redoc" if public_docs else None,
        openapi_url="/openapi.json" if public_docs else None,
        dependencies=[Depends(single_query_values)],
    )
    document_problems(app)  # every route's 4xx/5xx in the OpenAPI document, as problem details
    app.state.settings = settings
    app.state.keyring = KeyRing(settings.api_keys)
    app.state.limits = AbuseLimits.from_settings(settings)
    app.state.audit_writer = write_to_service_pool
    service = settings.service_name

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(exc.status_code, str(exc.detail) if exc.detail else None)
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"), "message": err.get("msg", "")}
            for err in exc.errors()
        ]
        fields = ", ".join(e["field"] or "(body)" for e in errors[:5])
        return problem(422, f"invalid request: {fields}", title="Unprocessable Content", errors=errors)

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem(exc.status, exc.detail, type_=exc.type_, **exc.extra)

    @app.exception_handler(UNSTORABLE_TEXT[0])
    @app.exception_handler(UNSTORABLE_TEXT[1])
    async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
        # A NUL in a path or query never gets this far (RejectNul); one inside a body does.
        errors = [{"field": "(body)", "message": "contains a character that cannot be stored (e.g. NUL)"}]
        return problem(422, "invalid request: (body)", title="Unprocessable Content", errors=errors)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        # Runs outside the request middleware, so the id comes from the request state.
        cid = getattr(request.state, "correlation_id", None)
        log.exception("unhandled error on %s %s", request.method, request.url.path, extra={"correlation_id": cid})
        return problem(500, "internal error; the correlation id identifies it in the logs", correlation_id=cid)

    # Innermost of the middleware (added first): it sees the principal the route authenticated.
    app.add_middleware(RedactSensitive)

    @app.middleware("http")
    async def _context(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        cid = request.headers.get("x-correlation-id") or str(uuid.uuid4())
        request.state.correlation_id = cid[:100]
        token = correlation_id_var.set(cid[:100])
        started = time.perf_counter()
        try:
            response = await call_next(request)
            response = await _audit_pending(request, response, request.app.state.audit_writer)
        finally:
            correlation_id_var.reset(token)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(service, request.method, path, str(response.status_code)).inc()
        HTTP_LATENCY.labels(service, request.method, path).observe(time.perf_counter() - started)
        response.headers["x-correlation-id"] = cid[:100]
        return response

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RejectNul)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type", "X-Correlation-ID"],
            expose_headers=["X-Correlation-ID"],
            max_age=600,
        )
    app.add_middleware(SecurityHeaders)

    @app.get("/healthz", tags=["operations"], include_in_schema=True)
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses=READINESS_RESPONSES)
    async def readyz() -> JSONResponse:
        """Readiness: database, broker and consumers are up."""
        checks = await readiness(app)() if readiness else {}
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503
        )

    @app.get("/v1/whoami", tags=["operations"], dependencies=[NOT_PERSONAL])
    async def whoami(principal: Annotated[Principal, Depends(authenticate)]) -> dict[str, Any]:
        """Who the API key belongs to, its role and the roles it may act in."""
        return {"name": principal.name, "role": principal.role, "acts_as": sorted(IMPLIED_ROLES[principal.role])}

    @app.get("/metrics", tags=["operations"], dependencies=[NOT_PERSONAL], responses=METRICS_RESPONSES)
    async def metrics(_: Annotated[Principal, Depends(require_roles("ops"))]) -> Response:
        """Prometheus metrics (role: ops)."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    if settings.api_docs == "key":

        @app.get("/openapi.json", include_in_schema=False, dependencies=[NOT_PERSONAL])
        async def openapi(_: Annotated[Principal, Depends(authenticate)]) -> JSONResponse:
            """The OpenAPI document, for holders of an API key."""
            return JSONResponse(app.openapi())

    return app
