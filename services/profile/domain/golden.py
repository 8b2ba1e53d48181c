"""Golden-record recompute, in memory: from a customer's stored row and records to the row to
save, its quality tasks and the snapshot to publish.

`service_layer/recompute.py` reads what this needs (rows, records, corrections, bounced
addresses, company facts) and writes what it returns; nothing here reads or writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from services.kit.contracts.envelope import Envelope
from services.profile.domain.model import Correction, FieldValue, StoredRecord, golden_record
from services.profile.domain.quality import assess
from services.profile.domain.resolution import ProfileConfig
from services.profile.domain.search import document
from services.profile.domain.timezones import HOME_TIME_ZONE, source_of

Golden = dict[str, FieldValue]


class Row(Protocol):
    """A customer's stored row (status, version, golden, company_id, quality), as read or as built."""

    def __getitem__(self, key: str, /) -> Any: ...


Records = Mapping[str, list[tuple[StoredRecord, int]]]  # customer id -> (record, problems)


def golden_records(
    ids: Sequence[str], records: Records, corrections: Mapping[str, list[Correction]], *, config: ProfileConfig
) -> dict[str, Golden]:
    """Each customer's golden record by survivorship over its records and corrections."""
    goldens = {}
    for cid in ids:
        recs = [r for r, _ in records.get(cid, [])]
        goldens[cid] = golden_record(
            recs, trust=config.source_trust, corrections=corrections.get(cid, ()), verified_trust=config.verified_trust
        )
    return goldens


def companies_of(
    ids: Sequence[str], rows: Mapping[str, Row], goldens: Mapping[str, Golden], records: Records
) -> dict[str, str | None]:
    """Each customer's company: the one of the record its company name comes from, else of any
    record naming one, else the stored one."""
    company_for: dict[str, str | None] = {}
    for cid in ids:
        row = rows.get(cid)
        if row is None:
            continue
        chosen = None
        g = goldens[cid]
        if "company_name" in g:
            src = (g["company_name"].source_system, g["company_name"].source_id)
            chosen = next(
                (r.fields.get("company_id") for r, _ in records.get(cid, []) if (r.source_system, r.source_id) == src),
                None,
            )
        if chosen is None:
            chosen = next(
                (r.fields.get("company_id") for r, _ in records.get(cid, []) if r.fields.get("company_id")), None
            )
        company_for[cid] = chosen or row["company_id"]
    return company_for


def recompute(
    ids: Sequence[str],
    customers: Mapping[str, Envelope[Any] | None],
    *,
    rows: Mapping[str, Row],
    records: Records,
    goldens: Mapping[str, Golden],
    company_for: Mapping[str, str | None],
    bounced: set[str],
    names: Mapping[str, str],
    config: ProfileConfig,
    now: datetime,
    force: frozenset[str] = frozenset(),
    min_versions: Mapping[str, int] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, dict[str, Any]]], list[PendingSnapshot]]:
    """Rows to save, quality tasks and snapshots to publish of the active customers whose golden
    record, quality or search document changed (a new version and a snapshot only when a value did)."""
    saves: list[dict[str, Any]] = []
    tasks: dict[str, dict[str, dict[str, Any]]] = {}
    events: list[PendingSnapshot] = []
    for cid in ids:
        row = rows.get(cid)
        if row is None or row["status"] != "active":
            continue
        golden = goldens[cid]
        recs_p = records.get(cid, [])
        deliverable = not ("email" in golden and golden["email"].value in bounced)
        report = assess(
            golden,
            [r for r, _ in recs_p],
            problems=sum(p for _, p in recs_p),
            email_deliverable=deliverable,
            now=now,
            stale_after=timedelta(days=config.stale_after_days),
        )
        golden_json = golden_to_json(golden)
        new_values = {k: v["value"] for k, v in golden_json.items()}
        # The name as the traveller's sources write it; company_id links to the resolved account.
        company_name = new_values.get("company_name") or names.get(company_for[cid] or "")
        quality = {**report.to_json(), "source_records": len(recs_p)}
        changed = changed_fields(row, new_values, report.email_deliverable, len(recs_p), company_for[cid])
        if not changed and row["version"] >= 1 and cid not in force:
            # The same values: no new version, no event. But where and when each was last stated
            # (the view shows it) and the quality are kept current.
            if quality != (row["quality"] or {}) or golden_json != (row["golden"] or {}):
                saves.append(
                    {
                        "customer_id": cid,
                        "golden": golden_json,
                        "company_id": row["company_id"],
                        "version": row["version"],
                        "quality": quality,
                        "at": now,
                        "search_doc": search_document(recs_p, new_values, company_name),
                    }
                )
                tasks[cid] = report.tasks()
            continue
        version = max(row["version"], (min_versions or {}).get(cid, 0)) + 1
        saves.append(
            {
                "customer_id": cid,
                "golden": golden_json,
                "company_id": company_for[cid],
                "version": version,
                "quality": quality,
                "at": now,
                "search_doc": search_document(recs_p, new_values, company_name),
            }
        )
        tasks[cid] = report.tasks()
        events.append(
            PendingSnapshot(
                cid,
                version,
                new_values,
                company_for[cid],
                company_name,
                len(recs_p),
                report.score,
                report.email_deliverable,
                tuple(changed) if row["version"] >= 1 else None,
                customers[cid],
                source_of(golden.get(HOME_TIME_ZONE)),
            )
        )
    return saves, tasks, events


def changed_fields(
    row: Row,
    values: Mapping[str, Any],
    deliverable: bool,
    records: int,
    company_id: str | None,
) -> list[str]:
    """What changed against a customer's stored row (nothing to compare for a new customer, version 0)."""
    if row["version"] < 1:
        return []
    old_values = {k: v.get("value") for k, v in (row["golden"] or {}).items()}
    changed = sorted(k for k in set(old_values) | set(values) if old_values.get(k) != values.get(k))
    if (row["quality"] or {}).get("email_deliverable", True) != deliverable:
        changed.append("email_deliverable")
    if (row["quality"] or {}).get("source_records") != records:
        changed.append("source_record_count")
    if company_id != row["company_id"]:
        changed.append("company_id")
    return changed


@dataclass(frozen=True)
class PendingSnapshot:
    """A customer snapshot (and update event) to build, possibly while the customer's row is being written."""

    customer_id: str
    version: int
    golden: Mapping[str, Any]
    company_id: str | None
    company_name: str | None
    record_count: int
    quality_score: float | None
    email_deliverable: bool
    changed: tuple[str, ...] | None  # None for a new customer (no update event)
    caused_by: Envelope[Any] | None
    home_time_zone_source: str | None = None


def golden_to_json(golden: dict[str, FieldValue]) -> dict[str, Any]:
    seen: dict[datetime, str] = {}  # most fields of a golden record come from one record, seen at one time
    out: dict[str, Any] = {}
    for k, v in golden.items():
        last_seen = seen.get(v.last_seen)
        if last_seen is None:
            last_seen = seen[v.last_seen] = v.last_seen.isoformat()
        out[k] = {
            "value": v.value,
            "source_system": v.source_system,
            "source_id": v.source_id,
            "last_seen": last_seen,
            "rule": v.rule,
            "sources": v.sources,
        }
    return out


def search_document(
    records: Sequence[tuple[StoredRecord, int]], golden: Mapping[str, Any], company_name: str | None
) -> str:
    """A customer's search document: its records' and golden record's names, and its company."""
    return document([*(r.fields for r, _ in records), golden], [company_name])


def snapshot_json(
    customer_id: str,
    *,
    version: int,
    golden: Mapping[str, Any],
    company_id: str | None,
    company_name: str | None,
    record_count: int,
    quality_score: float | None,
    email_deliverable: bool,
    now: datetime,
    home_time_zone_source: str | None = None,
) -> dict[str, Any]:
    """A golden record's compacted-topic snapshot (never carries passport data, nor national identity,
    known-traveller or redress numbers: not even which are on file), as the JSON-ready
    fields `CustomerSnapshotV1(...).model_dump_json()` writes, in the model's order (a unit test
    pins this against the model).

    Golden values are the normalised strings of the source records and corrections (a date of
    birth in ISO form), which the model would keep as they are.
    """
    return {
        "customer_id": customer_id,
        "version": version,
        "given_name": golden.get("given_name"),
        "family_name": golden.get("family_name"),
        "display_name": golden.get("display_name") or "(unnamed)",
        "email": golden.get("email"),
        "email_deliverable": email_deliverable,
        "secondary_email": golden.get("secondary_email"),
        "phone": golden.get("phone"),
        "date_of_birth": golden.get("date_of_birth"),
        "nationality": golden.get("nationality"),
        "language": golden.get("language"),
        "time_zone": None,  # where the traveller is now: services with the itinerary know
        "home_time_zone": golden.get("home_time_zone"),
        "home_time_zone_source": home_time_zone_source if golden.get("home_time_zone") else None,
        "company_id": company_id,
        "company_name": company_name,
        "loyalty": [
            {"programme": p, "number": n} for p, _, n in (entry.partition(":") for entry in golden.get("loyalty") or [])
        ],
        "home_address": _postal(golden.get("home_address")),
        "business_address": _postal(golden.get("business_address")),
        "employee_number": golden.get("employee_number"),
        "other_emails": list(golden.get("other_emails") or ()),
        "other_phones": list(golden.get("other_phones") or ()),
        "gender": golden.get("gender"),
        "source_record_count": record_count,
        "quality_score": quality_score,
        "updated_at": now,
    }


_POSTAL_PARTS = ("line", "street", "house_number", "postcode", "city", "region", "country")


def _postal(address: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A golden address (`PostalAddress.to_json()`) as `PostalAddressV1` writes it: every part, null where unknown."""
    if not address:
        return None
    return {k: address.get(k) or None for k in _POSTAL_PARTS}
