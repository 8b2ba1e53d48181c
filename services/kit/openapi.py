"""The OpenAPI document says every error a route can answer, in the one format they come in.

Every 4xx/5xx of every service is problem details (RFC 9457, `application/problem+json`, see
`services.kit.problems`). FastAPI's generated document knows only the success response and a 422
of its own shape; `document_problems` rewrites it once, when it is first asked for, so that each
operation lists what the HTTP shell and the route's dependencies can answer:

- 401 (no or unknown key, with `WWW-Authenticate`) and 429 (`Retry-After`) where a key is checked,
  403 where a role is, 503 where a read of personal data is audited (a read that cannot be
  audited is not answered);
- 422 where anything is read from the request, 404 where a path names something, 413 and 415
  where a body is read;
- 500 everywhere (an unexpected fault, with the correlation id to find it in the logs);
- what the route itself declares (`responses={409: {"description": "…"}}`): the route says what
  the status means, this module adds the problem-details shape.

A response a route documents with its own content (e.g. `/readyz`'s 503 with the checks) is left
as it is. Routes added later (by any service, or by the kit) are covered without a line of their own.

It also makes a 405 name every method the path allows (`Allow`), not only those of the first
route that matched its path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from http import HTTPStatus
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from services.kit.auditing import PersonalRead
from services.kit.auth import authenticate
from services.kit.problems import PROBLEM_JSON, problem

__all__ = [
    "METRICS_RESPONSES",
    "PROBLEM_SCHEMA",
    "READINESS_RESPONSES",
    "document_problems",
    "route_problems",
    "single_query_values",
]

# RFC 9457 members, plus the extensions this house sends: the correlation id and, on 422, the fields.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "Problem details (RFC 9457): every error of every service has this shape.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {
            "type": "string",
            "description": "A URI reference naming the kind of problem (about:blank: the status says it all)",
        },
        "title": {"type": "string", "description": "A short summary of the kind of problem"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599, "description": "The HTTP status"},
        "detail": {"type": "string", "description": "What went wrong with this request, for a person"},
        "instance": {"type": "string", "description": "A URI reference naming this occurrence"},
        "correlation_id": {"type": "string", "description": "Finds the request in the service's logs"},
        "errors": {
            "type": "array",
            "description": "On 422: each invalid field and why",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

# `/readyz` answers 503 with the same body as its 200 (which checks failed), not with a problem.
_READINESS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ready", "not ready"]},
        "checks": {"type": "object", "additionalProperties": {"type": "boolean"}},
    },
}
READINESS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Every check passed", "content": {"application/json": {"schema": _READINESS_SCHEMA}}},
    503: {"description": "A check failed", "content": {"application/json": {"schema": _READINESS_SCHEMA}}},
}

# Why each status is answered, when the route does not say it in its own words.
_REASONS: dict[int, str] = {
    400: "The request body could not be read (not JSON, or not UTF-8)",
    401: "No API key, or an unknown one (X-API-Key or Authorization: Bearer)",
    403: "The key's role may not do this",
    404: "Nothing is known under an id the path names",
    405: "The path does not allow this method (Allow names those it does)",
    413: "The request body is larger than the service accepts",
    415: "The request body is not of a media type this route reads",
    422: "The request is invalid: `errors` names each field and why",
    429: "Too many requests from this key, or too many wrong keys from this address (see Retry-After)",
    500: "An unexpected fault; the correlation id finds it in the logs",
    503: "The service cannot answer now (a dependency is down, or the read could not be audited); retry",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "How to authenticate: ApiKey", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
}


# One key, sent either way (services.kit.auth): either scheme satisfies an operation.
_SECURITY_SCHEMES: dict[str, Any] = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "The caller's API key"},
    "Bearer": {"type": "http", "scheme": "bearer", "description": "The same API key as a bearer token"},
}
_SECURITY: list[dict[str, list[str]]] = [{"ApiKey": []}, {"Bearer": []}]
# `/metrics` answers in Prometheus' text format.
METRICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Prometheus text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}},
}


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def route_problems(route: APIRoute) -> set[int]:
    """The error statuses the shell and the route's dependencies can answer on `route`."""
    calls = list(_calls(route.dependant))
    statuses = {500}
    if authenticate in calls:
        statuses |= {401, 429}
    # `require_roles(...)` builds its check per route; the check is what refuses (403).
    if any(getattr(c, "__qualname__", "").startswith("require_roles.") for c in calls):
        statuses.add(403)
    if any(isinstance(c, PersonalRead) for c in calls):
        statuses.add(503)
    dependant = route.dependant
    params = [*dependant.path_params, *dependant.query_params, *dependant.header_params, *dependant.cookie_params]
    for dep in dependant.dependencies:
        params += [*dep.path_params, *dep.query_params, *dep.header_params, *dep.cookie_params]
    if params or route.body_field is not None:
        statuses.add(422)
    if dependant.path_params or any(d.path_params for d in dependant.dependencies):
        statuses.add(404)
    if route.body_field is not None:
        statuses |= {400, 413, 415}
    return statuses


def _problem_response(status: int, existing: dict[str, Any] | None) -> dict[str, Any]:
    """The documented response for `status`: the route's own words, the problem-details shape."""
    response = dict(existing or {})
    response["content"] = {PROBLEM_JSON: {"schema": _PROBLEM_REF}}
    description = response.get("description")
    if not description or description in {"Validation Error", "Additional Response", HTTPStatus(status).phrase}:
        response["description"] = _REASONS.get(status, HTTPStatus(status).phrase)
    if status in _HEADERS:
        response["headers"] = {**_HEADERS[status], **response.get("headers", {})}
    return response


def _is_own_content(response: dict[str, Any]) -> bool:
    """A response the route documents with a body of its own (not FastAPI's default 422, not a bare description)."""
    content = response.get("content") or {}
    if not content:
        return False
    return "HTTPValidationError" not in str(content) and PROBLEM_JSON not in content


def rewrite(document: dict[str, Any], routes: list[APIRoute]) -> dict[str, Any]:
    """The OpenAPI `document` with every route's problem responses (pure; see the module's doc)."""
    paths = document.get("paths", {})
    extra: dict[str, Any] = {}
    for route in routes:
        if not route.include_in_schema:
            continue
        operations = paths.get(route.path_format, {})
        for method in route.methods:
            operation = operations.get(method.lower())
            if operation is None:
                continue
            # Schemas a route's own body refers to (`openapi_extra`), where OpenAPI keeps them.
            extra.update(operation.pop("x-component-schemas", {}))
            statuses = route_problems(route)
            if 401 in statuses:
                operation["security"] = _SECURITY
            responses: dict[str, Any] = operation.setdefault("responses", {})
            declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
            for status in sorted(statuses | declared):
                existing = responses.get(str(status))
                if existing is not None and _is_own_content(existing):
                    continue
                responses[str(status)] = _problem_response(status, existing)
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(_SECURITY_SCHEMES)
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for name, schema in extra.items():
        schemas.setdefault(name, schema)
    used = str(paths)
    for name in ("HTTPValidationError", "ValidationError"):
        if f"/{name}'" not in used:
            schemas.pop(name, None)
    return document


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """The methods of the path the request names, as the document lists them.

    Of the path templates that match, the most literal one is meant (`/preferences/effective`,
    not `/preferences/{key}`); its methods are gathered from every route declaring it.
    """
    by_template: dict[str, set[str]] = {}
    for route in app.router.routes:
        match, _ = route.matches({**request.scope, "method": "__none__"})
        route_methods = getattr(route, "methods", None)
        if match is not Match.NONE and route_methods:
            by_template.setdefault(getattr(route, "path_format", ""), set()).update(route_methods)
    if not by_template:
        return []
    meant = min(by_template, key=lambda template: (template.count("{"), -len(template)))
    return sorted(by_template[meant])


def document_problems(app: FastAPI) -> None:
    """Make `app.openapi()` document every route's problem responses, and 405s name all allowed methods."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            app.openapi_schema = rewrite(document, [r for r in app.routes if isinstance(r, APIRoute)])
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the document

    async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        allowed = _allowed_methods(app, request) or [m.strip() for m in (exc.headers or {}).get("Allow", "").split(",")]
        response = problem(405, f"{request.method} is not allowed on this path; allowed: {', '.join(allowed)}")
        response.headers["Allow"] = ", ".join(allowed)
        return response

    app.add_exception_handler(405, method_not_allowed)


def _is_sequence(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Union or origin is UnionType:
        return any(_is_sequence(a) for a in get_args(annotation) if a is not NoneType)
    return origin in (list, tuple, set, frozenset) or annotation in (list, tuple, set, frozenset)


def single_query_values(request: Request) -> None:
    """Refuse (422) a query parameter the document declares as one value but sent several times:
    FastAPI would quietly take the last, and the request is not what the document allows."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    query = request.query_params
    errors = [
        {"loc": ("query", field.alias), "msg": "expects one value, not several", "type": "value_error"}
        for field in get_flat_dependant(route.dependant).query_params
        if len(query.getlist(field.alias)) > 1 and not _is_sequence(field.field_info.annotation)
    ]
    if errors:
        raise RequestValidationError(errors)
