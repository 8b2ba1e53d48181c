"""Golden-record recompute against the database: read what `domain/golden.py` needs for the
customers a change touched, write the rows and quality tasks it returns, and give their events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from services.kit.contracts.envelope import Envelope
from services.kit.db import Connection, Record
from services.profile.adapters import companies as companies_db
from services.profile.adapters import corrections as corrections_db
from services.profile.adapters import customers as customers_db
from services.profile.domain.golden import PendingSnapshot, companies_of, golden_records, recompute
from services.profile.domain.model import Correction, StoredRecord
from services.profile.domain.resolution import ProfileConfig
from services.profile.service_layer.derived import business_contacts, home_time_zones
from services.profile.service_layer.events import Outgoing, snapshot_events


async def refresh_customers(
    conn: Connection,
    customers: Mapping[str, Envelope[Any] | None],
    *,
    config: ProfileConfig,
    now: datetime,
    force: frozenset[str] = frozenset(),
    min_versions: Mapping[str, int] | None = None,
    rows: Mapping[str, Record] | None = None,
) -> Outgoing:
    """Recompute golden records and quality of active customers; returns snapshot/update events for changes.

    `force` bumps the version and republishes even when no value changed (merges, unmerges);
    `min_versions` makes a customer's next version exceed the given one. `rows`: the customers'
    rows as the caller read them under their row locks, if nothing has written them since (the
    others are read here).
    """
    ids = sorted(customers)
    if not ids:
        return []
    known = rows or {}
    current = {cid: known[cid] for cid in ids if cid in known}
    if missing := [cid for cid in ids if cid not in known]:
        current.update(await customers_db.customer_rows(conn, missing))
    records = await customers_db.records_of(conn, ids)
    corrections = await corrections_db.corrections_of(conn, ids)
    saves, tasks, pending = await _recompute(
        conn,
        ids,
        customers,
        rows=current,
        records=records,
        corrections=corrections,
        config=config,
        now=now,
        force=force,
        min_versions=min_versions,
    )
    await customers_db.save_customers(conn, saves)
    await customers_db.sync_quality_tasks(conn, tasks)
    return snapshot_events(pending, now)


async def prepare_new_customers(
    conn: Connection,
    customers: Mapping[str, Envelope[Any] | None],
    *,
    company_ids: Mapping[str, str | None],
    records: Mapping[str, list[tuple[StoredRecord, int]]],
    config: ProfileConfig,
    now: datetime,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, dict[str, Any]]], list[PendingSnapshot]]:
    """Rows (golden record included, version 1), quality tasks and snapshots of customers a batch creates.

    Written once: the golden record comes from the batch's own records (a new customer has no
    other records, corrections or history yet), so there is no insert-then-update and no read-back.
    """
    ids = sorted(customers)
    if not ids:
        return [], {}, []
    rows: dict[str, Mapping[str, Any]] = {
        cid: {"status": "active", "version": 0, "golden": {}, "company_id": company_ids.get(cid), "quality": {}}
        for cid in ids
    }
    return await _recompute(conn, ids, customers, rows=rows, records=records, corrections={}, config=config, now=now)


async def _recompute(
    conn: Connection,
    ids: Sequence[str],
    customers: Mapping[str, Envelope[Any] | None],
    *,
    rows: Mapping[str, Mapping[str, Any]] | Mapping[str, Record],
    records: Mapping[str, list[tuple[StoredRecord, int]]],
    corrections: Mapping[str, list[Correction]],
    config: ProfileConfig,
    now: datetime,
    force: frozenset[str] = frozenset(),
    min_versions: Mapping[str, int] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, dict[str, Any]]], list[PendingSnapshot]]:
    """Golden records, quality and the snapshots/update events to build, from customers' rows and records."""
    goldens = golden_records(ids, records, corrections, config=config)
    company_for = companies_of(ids, rows, goldens, records)
    await business_contacts(conn, goldens, records, company_for, trust=config.source_trust)
    await home_time_zones(conn, goldens, company_for)
    emails = [g["email"].value for g in goldens.values() if "email" in g]
    bounced = await customers_db.undeliverable(conn, emails)
    # Company names are needed only for snapshots whose records do not name the company.
    names = await companies_db.company_names(
        conn, [company_for[cid] for cid in company_for if "company_name" not in goldens[cid]]
    )

    return recompute(
        ids,
        customers,
        rows=rows,
        records=records,
        goldens=goldens,
        company_for=company_for,
        bounced=bounced,
        names=names,
        config=config,
        now=now,
        force=force,
        min_versions=min_versions,
    )
