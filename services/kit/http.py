"""The HTTP shell every service's API is built in.

Problem-details JSON (RFC 9457) for every 4xx/5xx, a request-body size limit,
correlation ids, Prometheus metrics, `/healthz` (liveness, open) and `/readyz`
(dependencies, open), `/metrics` (ops role).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.kit.auth import IMPLIED_ROLES, KeyRing, Principal, authenticate, require_roles
from services.kit.logging import correlation_id_var
from services.kit.metrics import HTTP_LATENCY, HTTP_REQUESTS
from services.kit.settings import ServiceSettings

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

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


def problem(
    status: int, detail: str | None = None, *, title: str | None = None, type_: str = "about:blank", **extra: Any
) -> JSONResponse:
    """A problem-details response."""
    body: dict[str, Any] = {"type": type_, "title": title or HTTPStatus(status).phrase, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    cid = body.get("correlation_id") or correlation_id_var.get()
    if cid:
        body["correlation_id"] = cid
    else:
        body.pop("correlation_id", None)
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM_JSON)


class ProblemError(Exception):
    """Raise from a route to answer with problem details (e.g. 404 unknown customer, 409 conflict)."""

    def __init__(self, status: int, detail: str, *, type_: str = "about:blank", **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type_ = type_
        self.extra = extra


class BodySizeLimit:
    """Refuses request bodies over `max_bytes` with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLargeError
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLargeError:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, f"request body larger than {self.max_bytes} bytes")
        await response(scope, receive, send)


class _BodyTooLargeError(Exception):
    pass


def create_app(
    *,
    title: str,
    settings: ServiceSettings,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    readiness: Callable[[FastAPI], ReadinessCheck] | None = None,
    description: str = "",
) -> FastAPI:
    """A FastAPI app with the kit's error format, auth, metrics and health endpoints."""
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.keyring = KeyRing(settings.api_keys)
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

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        # Runs outside the request middleware, so the id comes from the request state.
        cid = getattr(request.state, "correlation_id", None)
        log.exception("unhandled error on %s %s", request.method, request.url.path, extra={"correlation_id": cid})
        return problem(500, "internal error; the correlation id identifies it in the logs", correlation_id=cid)

    @app.middleware("http")
    async def _context(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        cid = request.headers.get("x-correlation-id") or str(uuid.uuid4())
        request.state.correlation_id = cid[:100]
        token = correlation_id_var.set(cid[:100])
        started = time.perf_counter()
        try:
            response = await call_next(request)
        finally:
            correlation_id_var.reset(token)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(service, request.method, path, str(response.status_code)).inc()
        HTTP_LATENCY.labels(service, request.method, path).observe(time.perf_counter() - started)
        response.headers["x-correlation-id"] = cid[:100]
        return response

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type", "X-Correlation-ID"],
            expose_headers=["X-Correlation-ID"],
            max_age=600,
        )

    @app.get("/healthz", tags=["operations"], include_in_schema=True)
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """Readiness: database, broker and consumers are up."""
        checks = await readiness(app)() if readiness else {}
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503
        )

    @app.get("/v1/whoami", tags=["operations"])
    async def whoami(principal: Annotated[Principal, Depends(authenticate)]) -> dict[str, Any]:
        """Who the API key belongs to, its role and the roles it may act in."""
        return {"name": principal.name, "role": principal.role, "acts_as": sorted(IMPLIED_ROLES[principal.role])}

    @app.get("/metrics", tags=["operations"])
    async def metrics(_: Annotated[Principal, Depends(require_roles("ops"))]) -> Response:
        """Prometheus metrics (role: ops)."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
