"""Problem-details responses (RFC 9457): the one error format of every service."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from services.kit.logging import correlation_id_var

PROBLEM_JSON = "application/problem+json"


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
