"""PostgreSQL access: a pool confined to the service's schema, and versioned migrations."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Protocol, cast

import asyncpg
from pydantic_core import from_json

from services.kit.logging import correlation_id_var
from services.kit.settings import ServiceSettings

log = logging.getLogger(__name__)

Pool = asyncpg.Pool
Connection = asyncpg.Connection
Record = asyncpg.Record


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSON values read back are parsed by pydantic-core (the same objects as `json.loads`, in
    # about 40% of its time: golden records, snapshots and source records are read on hot paths).
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=from_json, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=from_json, schema="pg_catalog")


def dsn(settings: ServiceSettings, *, database: str | None = None) -> str:
    pw = settings.pg_password.get_secret_value()
    db = database or settings.pg_database
    return f"postgresql://{settings.pg_user}:{pw}@{settings.pg_host}:{settings.pg_port}/{db}"


async def create_pool(settings: ServiceSettings) -> asyncpg.Pool:
    """A pool whose connections see only the service's own schema."""
    pool = await asyncpg.create_pool(
        dsn(settings),
        min_size=settings.pg_pool_min,
        max_size=settings.pg_pool_max,
        init=_init_connection,
        server_settings={"search_path": settings.db_schema, "application_name": f"itinera-{settings.service_name}"},
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def connection(pool: asyncpg.Pool, *, transaction: bool = False) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection typed as a plain `asyncpg.Connection` (the pool hands out a proxy),
    optionally inside a transaction that commits when the block ends cleanly."""
    async with pool.acquire() as proxy:
        conn = cast(asyncpg.Connection, proxy)
        if not transaction:
            yield conn
            return
        async with conn.transaction():
            yield conn


def _migration_files(package: str) -> list[Traversable]:
    root = resources.files(package)
    return sorted((f for f in root.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)


async def apply_migrations(pool: asyncpg.Pool, *, schema: str, packages: list[str]) -> list[str]:
    """Apply unapplied `NNNN_name.sql` files from each package in order; returns what was applied.

    The kit's own migrations come first (`services.kit.migrations`), then the service's.
    An advisory lock serialises concurrent starts; a changed applied file is an error.
    """
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        lock_key = int.from_bytes(hashlib.sha256(f"{schema}.migrations".encode()).digest()[:8], "big", signed=True)
        await conn.execute("SELECT pg_advisory_lock($1)", lock_key)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done: dict[str, str] = {
                r["version"]: r["checksum"] for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")
            }
            for package in packages:
                prefix = "kit." if package == "services.kit.migrations" else ""
                for file in _migration_files(package):
                    version = prefix + file.name
                    sql = file.read_text(encoding="utf-8")
                    checksum = hashlib.sha256(sql.encode()).hexdigest()
                    if version in done:
                        if done[version] != checksum:
                            raise RuntimeError(f"migration {version} changed after it was applied")
                        continue
                    async with conn.transaction():
                        await conn.execute(sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)", version, checksum
                        )
                    applied_now.append(version)
                    log.info("applied migration %s", version, extra={"schema": schema})
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)
    return applied_now


class Actor(Protocol):
    """Whoever acts: an API principal (name and role) or a job."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...


async def fetch_locked_or_lock_key(
    conn: asyncpg.Connection, select: str, *key: str, space: str
) -> asyncpg.Record | None:
    """`select` (a `SELECT … FOR UPDATE` of one row by `key`); when there is no row yet, the key's
    transaction-scoped advisory lock (in `space`) is taken and the row read again.

    Locking a row that does not exist locks nothing: two transactions writing one new key (two events
    of a new booking on two partitions) would each start from nothing and the later commit would
    replace the other's state. With the key's lock the second waits, then reads the first's row.
    """
    row = await conn.fetchrow(select, *key)
    if row is None:
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || array_to_string($2::text[], chr(31)), 0))",
            space,
            list(key),
        )
        row = await conn.fetchrow(select, *key)
    return row


async def audit(
    conn: asyncpg.Connection, actor: Actor, action: str, subject_id: str | None, detail: dict[str, Any] | None = None
) -> None:
    """Audit what `actor` did, under the correlation id of the work at hand."""
    await record_audit(
        conn,
        principal=actor.name,
        role=actor.role,
        action=action,
        subject_id=subject_id,
        detail=detail,
        correlation_id=correlation_id_var.get(),
    )


async def record_audit(
    conn: asyncpg.Connection,
    *,
    principal: str,
    role: str,
    action: str,
    subject_id: str | None,
    detail: dict[str, Any] | None = None,
    correlation_id: str | None = None,
) -> None:
    """Write one audit row: who did what to whom (for sensitive reads and all changes)."""
    await conn.execute(
        "INSERT INTO audit_log (principal, role, action, subject_id, detail, correlation_id)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        principal,
        role,
        action,
        subject_id,
        detail or {},
        correlation_id,
    )
