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


async def customer_value(conn: asyncpg.Connection, customer_id: str) -> tuple[str | None, str | None]:
    """The customer's tier and account manager (an agent's name, or `team:<name>`), from the value
    service's snapshot in the shared view; (None, None) while it has none."""
    entry = await lookup(conn, "value", customer_id)
    if entry is None:
        return None, None
    tier = entry.snapshot.get("tier")
    manager = entry.snapshot.get("account_manager")
    assignee = None
    if isinstance(manager, dict) and isinstance(manager.get("id"), str):
        assignee = manager["id"] if manager.get("kind") == "agent" else f"team:{manager['id']}"
    return (tier if isinstance(tier, str) else None), assignee
