"""Merge and unmerge of customers, as pure state transitions.

A merge moves the absorbed customer's source records and bookings to the survivor
and remembers both customers exactly as they were (`MergeRecord`). An unmerge moves
those records back and restores the absorbed customer's state; records that reached
the survivor after the merge stay with it. Versions only ever increase, so consumers
of the compacted topic take the restored snapshots over the redirect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

SourceKey = tuple[str, str]


class MergeError(Exception):
    """The merge or unmerge is not possible in the current state."""


@dataclass(frozen=True)
class CustomerState:
    customer_id: str
    status: str  # active | merged
    merged_into: str | None
    version: int
    golden: Mapping[str, Any]
    company_id: str | None
    records: frozenset[SourceKey]
    bookings: frozenset[SourceKey]
    corrections: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "status": self.status,
            "merged_into": self.merged_into,
            "version": self.version,
            "golden": dict(self.golden),
            "company_id": self.company_id,
            "records": sorted([list(k) for k in self.records]),
            "bookings": sorted([list(k) for k in self.bookings]),
            "corrections": [dict(c) for c in self.corrections],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CustomerState:
        return cls(
            customer_id=data["customer_id"],
            status=data["status"],
            merged_into=data["merged_into"],
            version=data["version"],
            golden=data["golden"],
            company_id=data["company_id"],
            records=frozenset((a, b) for a, b in data["records"]),
            bookings=frozenset((a, b) for a, b in data["bookings"]),
            corrections=tuple(data.get("corrections") or ()),
        )


@dataclass(frozen=True)
class MergeRecord:
    """Both customers as they were before the merge."""

    survivor: CustomerState
    absorbed: CustomerState

    def to_json(self) -> dict[str, Any]:
        return {"survivor": self.survivor.to_json(), "absorbed": self.absorbed.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MergeRecord:
        return cls(CustomerState.from_json(data["survivor"]), CustomerState.from_json(data["absorbed"]))


def merge(survivor: CustomerState, absorbed: CustomerState) -> tuple[CustomerState, CustomerState, MergeRecord]:
    """The survivor takes the absorbed records, bookings and corrections; the caller recomputes golden."""
    if survivor.customer_id == absorbed.customer_id:
        raise MergeError("a customer cannot be merged with itself")
    if survivor.status != "active" or absorbed.status != "active":
        raise MergeError("only active customers can be merged")
    record = MergeRecord(survivor=survivor, absorbed=absorbed)
    merged = replace(
        survivor,
        version=survivor.version + 1,
        records=survivor.records | absorbed.records,
        bookings=survivor.bookings | absorbed.bookings,
        corrections=survivor.corrections + absorbed.corrections,
    )
    gone = replace(
        absorbed,
        status="merged",
        merged_into=survivor.customer_id,
        records=frozenset(),
        bookings=frozenset(),
        corrections=(),
    )
    return merged, gone, record


def unmerge(
    survivor: CustomerState, absorbed: CustomerState, record: MergeRecord
) -> tuple[CustomerState, CustomerState]:
    """Undo a merge: the absorbed customer gets back exactly what it had; versions increase."""
    if absorbed.status != "merged" or absorbed.merged_into != survivor.customer_id:
        raise MergeError(f"{absorbed.customer_id} is not merged into {survivor.customer_id}")
    missing = record.absorbed.records - survivor.records
    if missing:
        raise MergeError(f"source records moved on since the merge: {sorted(missing)}")
    before = record.absorbed
    keep = survivor.records - before.records
    absorbed_corrections = {repr(sorted(c.items())) for c in before.corrections}
    survivor_corrections = tuple(c for c in survivor.corrections if repr(sorted(c.items())) not in absorbed_corrections)
    golden = record.survivor.golden if keep == record.survivor.records else survivor.golden
    restored_survivor = replace(
        survivor,
        version=survivor.version + 1,
        records=keep,
        bookings=survivor.bookings - before.bookings,
        corrections=survivor_corrections,
        golden=golden,
    )
    restored_absorbed = replace(before, version=max(before.version, absorbed.version) + 1)
    return restored_survivor, restored_absorbed
