"""Small helpers shared by the feedback handlers: ids, token digests, the customer's current id."""

from __future__ import annotations

import hashlib
import uuid

import asyncpg

from services.kit.view import lookup


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def token_digest(token: str) -> bytes:
    """What is stored of a survey token: enough to find the survey, useless to forge a link."""
    return hashlib.sha256(token.encode()).digest()


async def current_customer(conn: asyncpg.Connection, customer_id: str) -> tuple[str, str | None]:
    """The customer's current id (after merges) and display name, from the shared view when it knows them."""
    entry = await lookup(conn, "customer", customer_id)
    if entry is None:
        return customer_id, None
    name = entry.snapshot.get("display_name")
    return entry.customer_id, name if isinstance(name, str) else None
