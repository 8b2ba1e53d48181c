"""API-key authentication, role checks and abuse limits.

Callers send `X-API-Key: <key>` (or `Authorization: Bearer <key>`). Each key maps to a
named principal acting in one role. Roles imply others: admin can do everything;
supervisor can do what an agent can. Every key has a request rate (429 with `Retry-After`
beyond it), and a client address that sent too many wrong keys is refused for a while
whatever it sends (`services.kit.limits`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from services.kit.limits import Clock, FailedKeyThrottle, KeyRateLimiter, retry_after
from services.kit.settings import RESERVED_SOURCE_SYSTEMS, ApiKey, Role, ServiceSettings

IMPLIED_ROLES: dict[Role, frozenset[Role]] = {
    "admin": frozenset({"agent", "supervisor", "ops", "booking-system", "admin"}),
    "supervisor": frozenset({"supervisor", "agent"}),
    "agent": frozenset({"agent"}),
    "ops": frozenset({"ops"}),
    "booking-system": frozenset({"booking-system"}),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling, in which role, and (booking systems) as which source systems it may write."""

    name: str
    role: Role
    source_systems: frozenset[str] = frozenset()

    def can_act_as(self, role: Role) -> bool:
        return role in IMPLIED_ROLES[self.role]

    def may_write_as(self, source_system: str) -> bool:
        """Whether this caller may state what `source_system` says (an admin may act as any)."""
        if source_system in RESERVED_SOURCE_SYSTEMS:
            return False
        if self.role == "admin":
            return True
        return self.role == "booking-system" and source_system in self.source_systems


def require_source(principal: Principal, *source_systems: str) -> None:
    """403 unless the caller is registered for every one of `source_systems` (source authority).

    A key of one booking system must never restate another system's records: the golden record
    trusts a source's word by its name, so a write under a borrowed name is a forged statement."""
    refused = sorted({s for s in source_systems if not principal.may_write_as(s)})
    if not refused:
        return
    if principal.role == "booking-system":
        registered = ", ".join(sorted(principal.source_systems)) or "none"
        detail = f"{principal.name!r} may write only as the source systems it is registered for ({registered})"
    else:
        detail = (
            f"role {principal.role!r} may not write as a source system; agents change data through corrections"
            " (PATCH /v1/customers/{id}/fields)"
        )
    raise HTTPException(status.HTTP_403_FORBIDDEN, f"{detail}; refused: {', '.join(refused)}")


class KeyRing:
    """Looks keys up by their SHA-256 digest, compared in constant time."""

    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self._by_digest = {
            self._digest(k.key.get_secret_value()): Principal(k.name, k.role, frozenset(k.source_systems)) for k in keys
        }

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


@dataclass
class AbuseLimits:
    """The request rate of each key and the brake on wrong keys (None: not limited)."""

    keys: KeyRateLimiter | None = None
    failed_keys: FailedKeyThrottle | None = None

    @classmethod
    def from_settings(cls, settings: ServiceSettings, *, clock: Clock = time.monotonic) -> AbuseLimits:
        if not settings.rate_limiting:
            return cls()
        return cls(
            KeyRateLimiter(settings.rate_limits, clock=clock), FailedKeyThrottle(settings.failed_key_limit, clock=clock)
        )


def _too_many(detail: str, wait: float) -> HTTPException:
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, detail, {"Retry-After": retry_after(wait)})


def authenticate(request: Request) -> Principal:
    """The calling principal; 401 when no or an unknown key is presented, 429 over the limits."""
    key = _presented_key(request)
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "an API key is required (X-API-Key header)", {"WWW-Authenticate": "ApiKey"}
        )
    limits: AbuseLimits = request.app.state.limits
    address = request.client.host if request.client else "unknown"
    if limits.failed_keys is not None and (wait := limits.failed_keys.blocked_for(address)):
        raise _too_many("too many wrong API keys from this address; try again later", wait)
    keyring: KeyRing = request.app.state.keyring
    principal = keyring.lookup(key)
    if principal is None:
        if limits.failed_keys is not None:
            limits.failed_keys.failed(address)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown API key", {"WWW-Authenticate": "ApiKey"})
    if limits.keys is not None and (wait := limits.keys.admit(principal.name, principal.role)):
        raise _too_many(f"request rate of {principal.name!r} exceeded; slow down", wait)
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
