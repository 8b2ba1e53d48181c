"""API-key authentication and role checks.

Callers send `X-API-Key: <key>` (or `Authorization: Bearer <key>`). Each key maps to a
named principal acting in one role. Roles imply others: admin can do everything;
supervisor can do what an agent can.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from services.kit.settings import ApiKey, Role

IMPLIED_ROLES: dict[Role, frozenset[Role]] = {
    "admin": frozenset({"agent", "supervisor", "ops", "booking-system", "admin"}),
    "supervisor": frozenset({"supervisor", "agent"}),
    "agent": frozenset({"agent"}),
    "ops": frozenset({"ops"}),
    "booking-system": frozenset({"booking-system"}),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling, and in which role."""

    name: str
    role: Role

    def can_act_as(self, role: Role) -> bool:
        return role in IMPLIED_ROLES[self.role]


class KeyRing:
    """Looks keys up by their SHA-256 digest, compared in constant time."""

    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self._by_digest = {self._digest(k.key.get_secret_value()): Principal(k.name, k.role) for k in keys}

    @staticmethod
    def _digest(key: str) -> bytes:
        return hashlib.sha256(key.encode()).digest()

    def lookup(self, key: str) -> Principal | None:
        digest = self._digest(key)
        for known, principal in self._by_digest.items():
            if hmac.compare_digest(known, digest):
                return principal
        return None


def _presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return None


def authenticate(request: Request) -> Principal:
    """The calling principal; 401 when no or an unknown key is presented."""
    key = _presented_key(request)
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "an API key is required (X-API-Key header)", {"WWW-Authenticate": "ApiKey"}
        )
    keyring: KeyRing = request.app.state.keyring
    principal = keyring.lookup(key)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown API key", {"WWW-Authenticate": "ApiKey"})
    request.state.principal = principal
    return principal


def require_roles(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that admits only principals able to act in one of `roles` (403 otherwise)."""

    def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not any(principal.can_act_as(r) for r in roles):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {principal.role!r} may not do this; needs one of {list(roles)}"
            )
        return principal

    return check
