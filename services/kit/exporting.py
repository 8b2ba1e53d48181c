"""A traveller's data export (GDPR art. 15 and 20): the shape every service answers in, and its route.

Each service serves `GET /v1/privacy/customers/{customer_id}/export` (role admin, audited as a
personal read, `customer.export`) through `export_router(collect)`: `collect` is the service's
own adapter, returning one `Section` per kind of record it holds about the traveller. The kit adds
what it keeps for every service: the service's copy of the customer view and the log of who read
or changed the traveller's data here.

Which ids are the traveller's: the path's id, the repeated `also=` ids (the privacy service passes
every id profile knows for the traveller), and every id this service's customer view links to
them through merges (redirects, both ways). A service asked directly thus still finds the records
it keeps under a merged-away id.

Machine-readable (art. 20): field names are the stored column names, times are ISO 8601 with
their offset, amounts are decimal strings, binary digests are lower-case hex.
"""

# No `from __future__ import annotations`: FastAPI reads the route's signature at runtime.
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from services.kit.auditing import AuditTrail, PersonalRead
from services.kit.auth import Principal, require_roles
from services.kit.dates import aware_instant
from services.kit.db import connection
from services.kit.http import ProblemError
from services.kit.redirects import follow_one

EXPORT_FORMAT: Literal["itinera.service-export.v1"] = "itinera.service-export.v1"
EXPORT_ACTION = "customer.export"
MAX_ALSO = 100
MAX_REDIRECT_HOPS = 10
_VIEW_TOPICS = {
    "customer": "profile.customers.v1",
    "preferences": "preferences.snapshots.v1",
    "value": "value.customers.v1",
    "company-value": "value.companies.v1",
}


class SectionProvenance(BaseModel):
    """Where one section's records come from and how old they are."""

    table: str | None = Field(default=None, description="The table the records are read from")
    topic: str | None = Field(default=None, description="The topic they arrived on, where they are a copy")
    source_systems: list[str] = Field(default_factory=list, description="Systems that stated the data")
    records: int
    first_update: datetime | None = Field(default=None, description="The oldest time a record was written")
    last_update: datetime | None = Field(default=None, description="The newest time a record was written")
    note: str | None = Field(default=None, description="How to read the section (e.g. values kept only as hashes)")


class ServiceExport(BaseModel):
    """Everything one service holds about a traveller, by section, with each section's provenance."""

    format: Literal["itinera.service-export.v1"] = EXPORT_FORMAT
    service: str
    customer_id: str = Field(description="The traveller's current id")
    customer_ids: list[str] = Field(description="Every id the records were looked up under (merged ids included)")
    generated_at: datetime
    sections: dict[str, list[dict[str, Any]]]
    provenance: dict[str, SectionProvenance]


def plain(value: Any) -> Any:
    """A stored value as JSON: ISO times, decimal strings, hex digests, lists and objects recursively."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Section:
    """One kind of record a service holds about the traveller, with its provenance."""

    name: str
    records: list[dict[str, Any]]
    provenance: SectionProvenance


def section(
    name: str,
    rows: Iterable[Mapping[str, Any] | asyncpg.Record],
    *,
    table: str | None = None,
    topic: str | None = None,
    times: Sequence[str] = (),
    source_field: str | None = "source_system",
    source_systems: Iterable[str] = (),
    note: str | None = None,
) -> Section:
    """A section from stored rows: `times` name the columns that say when a record was written,
    `source_field` the column naming the system that stated it (both feed the provenance)."""
    records = [dict(r.items()) for r in rows]
    stamps = [t for r in records for f in times if (t := aware_instant(r.get(f))) is not None]
    systems = set(source_systems)
    if source_field is not None:
        systems |= {str(r[source_field]) for r in records if r.get(source_field)}
    provenance = SectionProvenance(
        table=table, topic=topic, source_systems=sorted(systems), records=len(records),
        first_update=min(stamps, default=None), last_update=max(stamps, default=None), note=note,
    )  # fmt: skip
    return Section(name, [plain(r) for r in records], provenance)


async def linked_ids(conn: asyncpg.Connection, customer_id: str, also: Iterable[str] = ()) -> list[str]:
    """The traveller's ids as this service's customer view links them: the given ones, the ids merged
    into them and the ids they were merged into (current id first: the end of the redirect chain)."""

    async def read(ids: list[str]) -> dict[str, str | None]:
        [at] = ids
        target = await conn.fetchval(
            "SELECT redirect_to FROM customer_view WHERE kind = 'customer' AND customer_id = $1", at
        )
        return {at: target}

    current = (await follow_one(customer_id, read, max_hops=MAX_REDIRECT_HOPS)).current
    known = list(dict.fromkeys([current, customer_id, *also]))
    rows = await conn.fetch(
        """
        WITH RECURSIVE linked(id) AS (
            SELECT unnest($1::text[])
            UNION
            SELECT v.customer_id FROM customer_view v JOIN linked l ON v.redirect_to = l.id WHERE v.kind = 'customer'
        )
        SELECT id FROM linked
        """,
        known,
    )
    return list(dict.fromkeys([*known, *sorted(r["id"] for r in rows)]))


async def kit_sections(conn: asyncpg.Connection, ids: list[str]) -> list[Section]:
    """What the kit keeps for every service: its copy of the customer view and the access log."""
    view = await conn.fetch(
        "SELECT kind, customer_id, version, snapshot, redirect_to, event_id, occurred_at, applied_at"
        " FROM customer_view WHERE customer_id = ANY($1::text[]) AND kind <> 'company-value'"
        " ORDER BY customer_id, kind",
        ids,
    )
    topics = sorted({_VIEW_TOPICS[r["kind"]] for r in view if r["kind"] in _VIEW_TOPICS})
    accesses = await conn.fetch(
        "SELECT at, principal, role, action, subject_id, detail, correlation_id FROM audit_log"
        " WHERE subject_id = ANY($1::text[]) ORDER BY at, id",
        ids,
    )
    return [
        section("customer_view", view, table="customer_view", topic=", ".join(topics) or None,
                times=("occurred_at", "applied_at"), source_systems=["profile"] if view else [],
                note="this service's copy of the published customer view (golden record, preferences, value)"),
        section("access_log", accesses, table="audit_log", times=("at",), source_field=None,
                note="who read or changed the traveller's data in this service, in which role and when"),
    ]  # fmt: skip


Collector = Callable[[asyncpg.Connection, list[str]], Awaitable[list[Section]]]
# The traveller's ids for a request (current id first), or None when the service does not know them.
Resolver = Callable[[asyncpg.Connection, str, list[str]], Awaitable[list[str] | None]]
AlsoQuery = Annotated[
    list[str],
    Query(max_length=MAX_ALSO, description="The traveller's other ids (repeat the parameter); merged ids are "
          "also found through this service's customer view"),
]  # fmt: skip


async def _default_resolver(conn: asyncpg.Connection, customer_id: str, also: list[str]) -> list[str] | None:
    return await linked_ids(conn, customer_id, also)


def export_router(service: str, collect: Collector, *, resolve: Resolver | None = None) -> APIRouter:
    """The service's export route, reading its sections with `collect` in one consistent snapshot."""
    router = APIRouter(prefix="/v1/privacy", tags=["privacy"])
    resolver = resolve or _default_resolver

    @router.get(
        "/customers/{customer_id}/export",
        response_model=ServiceExport,
        responses={404: {"description": "The service knows no such traveller"}},
    )
    async def export_customer(
        customer_id: str,
        request: Request,
        principal: Annotated[Principal, Depends(require_roles("admin"))],
        trail: Annotated[AuditTrail, Depends(PersonalRead(EXPORT_ACTION))],
        also: AlsoQuery = [],  # noqa: B006  # FastAPI copies a list default per request
    ) -> ServiceExport:
        """Everything this service holds about a traveller, with provenance (GDPR art. 15/20; role admin; audited)."""
        for other in [customer_id, *also]:
            if not other or len(other) > 200:
                raise ProblemError(422, "customer ids are 1 to 200 characters", type_="/problems/invalid-id")
        pool: asyncpg.Pool = request.app.state.runtime.pool
        async with connection(pool) as conn, conn.transaction(isolation="repeatable_read"):
            # One snapshot: every section reflects the same moment, however long the export takes.
            ids = await resolver(conn, customer_id, list(also))
            if ids is None:
                detail = f"no traveller {customer_id!r} is known here"
                raise ProblemError(404, detail, type_="/problems/unknown-customer")
            sections = [*await collect(conn, ids), *await kit_sections(conn, ids)]
            counts = {s.name: len(s.records) for s in sections}
            await trail.record(conn, ids[0], customer_ids=ids, records=counts)
        return ServiceExport(
            service=service, customer_id=ids[0], customer_ids=ids, generated_at=datetime.now(UTC),
            sections={s.name: s.records for s in sections}, provenance={s.name: s.provenance for s in sections},
        )  # fmt: skip

    return router
