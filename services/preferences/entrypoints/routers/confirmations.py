"""Confirmations of inferred preferences: the questions asked, their answers, and confirming without a question."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request

from services.kit.http import ProblemError
from services.preferences.adapters import repository as repo
from services.preferences.domain import catalogue
from services.preferences.domain.catalogue import InvalidPreferenceError
from services.preferences.entrypoints.deps import (
    Agent,
    ConfirmationsRead,
    PreferenceKey,
    customer_row,
    invalid_preference,
    preferences_response,
    record_audit,
    sensitive_access,
    transaction,
)
from services.preferences.entrypoints.schemas import (
    ConfirmationAnswer,
    ConfirmationPublic,
    ConfirmInference,
    PreferencesPublic,
)
from services.preferences.service_layer import commands, handlers

router = APIRouter(prefix="/v1")


@router.get(
    "/customers/{customer_id}/preferences/confirmations", response_model=list[ConfirmationPublic], tags=["preferences"]
)
async def list_confirmations(
    customer_id: str, request: Request, principal: Agent, trail: ConfirmationsRead
) -> list[ConfirmationPublic]:
    """Inferences the traveller was asked to confirm, newest first."""
    async with transaction(request) as conn:
        row = await customer_row(conn, customer_id)
        rows = await repo.list_confirmations(conn, row.prefs.customer_id)
        await trail.record(conn, row.prefs.customer_id, results=len(rows))
    return [
        ConfirmationPublic(
            request_id=str(r["request_id"]), key=r["key"], value=r["value"], confidence=r["confidence"],
            status=r["status"], asked_at=r["asked_at"], answered_at=r["answered_at"], answered_by=r["answered_by"],
            link_expires_at=r["expires_at"],
        )
        for r in rows
    ]  # fmt: skip


@router.post(
    "/customers/{customer_id}/preferences/confirmations/{request_id}",
    response_model=PreferencesPublic,
    tags=["preferences"],
)
async def answer_confirmation(
    customer_id: str, request_id: uuid.UUID, body: ConfirmationAnswer, request: Request, principal: Agent
) -> PreferencesPublic:
    """The traveller's answer: confirmed inferences become stated, declined ones are no longer used."""
    async with transaction(request) as conn:
        try:
            value = await commands.answer_confirmation(
                conn, customer_id, str(request_id), accepted=body.accepted, actor=principal.name
            )
        except (LookupError, handlers.UnknownCustomerError):
            raise ProblemError(404, f"no confirmation request {request_id} for {customer_id!r}") from None
        except ValueError as exc:
            raise ProblemError(409, str(exc), type_="/problems/already-answered") from None
        row = await customer_row(conn, customer_id)
        await record_audit(
            conn, principal, "preferences.confirmation", row.prefs.customer_id, request_id=str(request_id),
            accepted=body.accepted, value=value,
        )  # fmt: skip
    return preferences_response(request, row, customer_id)


@router.post(
    "/customers/{customer_id}/preferences/{key:preference_key}/confirm",
    response_model=PreferencesPublic,
    tags=["preferences"],
    responses={409: {"description": "Nothing is inferred for the key: name the value to confirm or reject"}},
)
async def confirm_inference(
    customer_id: str, key: PreferenceKey, body: ConfirmInference, request: Request, principal: Agent
) -> PreferencesPublic:
    """Confirm an inferred preference (it becomes stated or agent-set) or reject it (declined: no longer used
    or asked about), whether or not the traveller was asked; pending questions about the key are closed.
    Sensitive keys need the supervisor role."""
    sensitive = catalogue.is_sensitive(key)
    sensitive_access(principal, sensitive)
    async with transaction(request) as conn:
        try:
            row, value = await commands.confirm_inference(
                conn, customer_id, key, accepted=body.accepted, value=body.value, source=body.source,
                actor=principal.name,
            )  # fmt: skip
        except InvalidPreferenceError as exc:
            raise invalid_preference(exc) from None
        except handlers.UnknownCustomerError:
            raise ProblemError(
                404, f"no preferences known for customer {customer_id!r}", type_="/problems/unknown-customer"
            ) from None
        except commands.NothingInferredError:
            raise ProblemError(
                409, f"nothing is inferred for {key!r} of {customer_id!r}: name the value to confirm or reject",
                type_="/problems/nothing-inferred",
            ) from None  # fmt: skip
        detail: dict[str, Any] = {"key": key, "accepted": body.accepted, "source": body.source, "sensitive": sensitive}
        if not sensitive:
            detail["value"] = value
        await record_audit(conn, principal, "preferences.confirm", row.prefs.customer_id, **detail)
        response = preferences_response(request, row, customer_id, show_sensitive=sensitive)
    return response
