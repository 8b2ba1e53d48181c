"""Every store's final state in a canonical form, and the differences between two runs.

Generated ids (customer ids, delivery ids, survey ids) and wall-clock times differ between
runs, so nothing is keyed by them. A customer is its cluster of source records, named by the
smallest `<source system>/<source id>` in it; every other store refers to customers through
that name (following profile's merges for ids that were merged away). Deliveries and emails
are keyed by what caused them: the booking system's event id for booking messages, the
booking for a survey invitation, the traveller and the question for a preference question.

One race is part of the design and is not a difference: a confirmation (or change notice) of
a booking cancelled soon after is either sent or suppressed, depending on whether the
dispatcher got to it before the cancellation; both count as "settled".
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bench.faults.processes import Email

Stores = dict[str, dict[str, Any]]  # store -> canonical key -> canonical value
RACY_TEMPLATES = ("booking_confirmation", "booking_changed")


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class Clusters:
    """Customer id -> the name of its cluster of source records (profile's view of who is who)."""

    def __init__(self, members: dict[str, list[str]], merged_into: dict[str, str]) -> None:
        self._name = {cid: min(records) for cid, records in members.items() if records}
        self._merged_into = merged_into

    def of(self, customer_id: str | None) -> str:
        if customer_id is None:
            return "-"
        seen = set()
        while customer_id in self._merged_into and customer_id not in seen:
            seen.add(customer_id)
            customer_id = self._merged_into[customer_id]
        return self._name.get(customer_id, "unresolved")

    @classmethod
    async def load(cls, conn: asyncpg.Connection) -> Clusters:
        members: dict[str, list[str]] = {}
        for r in await conn.fetch("SELECT customer_id, source_system, source_id FROM profile.source_records"):
            members.setdefault(r["customer_id"], []).append(f"{r['source_system']}/{r['source_id']}")
        merged = {
            r["customer_id"]: r["merged_into"]
            for r in await conn.fetch(
                "SELECT customer_id, merged_into FROM profile.customers WHERE merged_into IS NOT NULL"
            )
        }
        return cls(members, merged)


async def _profile(conn: asyncpg.Connection, clusters: Clusters, out: Stores) -> None:
    customers: dict[str, Any] = {}
    for r in await conn.fetch("SELECT customer_id, status, golden FROM profile.customers WHERE status = 'active'"):
        name = clusters.of(r["customer_id"])
        # The winning values and how they won; not when, from which record or from how many they were
        # last seen: a traveller's bookings arrive on several partitions, in either order, and a trip
        # event (which names no company) leaves the company out of its source record until the
        # traveller's next booking.
        golden = {f: {"value": v.get("value"), "rule": v.get("rule")} for f, v in _json(r["golden"]).items()}
        customers[name] = {"golden": golden, "copies": customers.get(name, {}).get("copies", 0) + 1}
    out["profile.customers"] = customers
    records = {}
    for r in await conn.fetch(
        "SELECT source_system, source_id, customer_id, raw, normalized, problems FROM profile.source_records"
    ):
        normalized = _json(r["normalized"])
        normalized.pop("company_id", None)  # a generated id
        normalized.pop("company_name", None)  # the last event's: a trip event names no company (see above)
        records[f"{r['source_system']}/{r['source_id']}"] = {
            "customer": clusters.of(r["customer_id"]),
            "raw": _json(r["raw"]),
            "normalized": normalized,
            "problems": _json(r["problems"]),
        }
    out["profile.source_records"] = records
    out["profile.bookings"] = {
        f"{r['source_system']}/{r['booking_id']}": {
            "customer": clusters.of(r["customer_id"]),
            "status": r["status"],
            "summary": _json(r["summary"]),
            "traveller": r["traveller_source_id"],
        }
        for r in await conn.fetch("SELECT * FROM profile.bookings")
    }


async def _preferences(conn: asyncpg.Connection, clusters: Clusters, out: Stores) -> None:
    prefs = {}
    for r in await conn.fetch(
        "SELECT customer_id, status, published FROM preferences.customers WHERE status = 'active'"
    ):
        published = _json(r["published"]) or {}
        prefs[clusters.of(r["customer_id"])] = {
            "preferences": published.get("preferences"),
            "conflicts": published.get("conflicts"),
        }
    out["preferences.customers"] = prefs
    questions: dict[str, Any] = {}
    for r in await conn.fetch("SELECT customer_id, key, value, status FROM preferences.confirmation_requests"):
        key = f"{clusters.of(r['customer_id'])}|{r['key']}"
        questions.setdefault(key, []).append([_json(r["value"]), r["status"]])
    out["preferences.confirmation_requests"] = {k: sorted(v, key=json.dumps) for k, v in questions.items()}


async def _rows(conn: asyncpg.Connection, table: str) -> list[dict[str, Any]]:
    """Every row of `table` as a dict (its columns as they are in this version of the schema);
    none when the table does not exist in this version."""
    if await conn.fetchval("SELECT to_regclass($1)", table) is None:
        return []
    return [json.loads(r[0]) for r in await conn.fetch(f"SELECT to_jsonb(t)::text FROM {table} t")]


async def _feedback(conn: asyncpg.Connection, clusters: Clusters, out: Stores) -> None:
    surveys: dict[str, Any] = {}
    names: dict[str, str] = {}
    for r in await _rows(conn, "feedback.surveys"):
        key = f"{r['kind']}|{r['source_system']}/{r['booking_id']}"
        names[r["survey_id"]] = key
        surveys[key] = {
            "customer": clusters.of(r["customer_id"]),
            "answered": r["answered_at"] is not None,
            "invitation": r.get("invitation_status"),  # what became of the invitation (where it is kept)
        }
    out["feedback.surveys"] = surveys
    out["feedback.trips"] = {
        f"{r['source_system']}/{r['booking_id']}": {
            "customer": clusters.of(r["customer_id"]),
            "status": r["status"],
            "summary": r["summary"],
            "survey": names.get(r["survey_id"], "unknown") if r.get("survey_id") else None,  # its trip's survey
        }
        for r in await _rows(conn, "feedback.trips")
    }


def delivery_key(template: str, cause_id: str, context: dict[str, Any], customer: str) -> str:
    """What caused a message, independent of generated ids."""
    if template == "survey_invitation":
        return f"{template}|{context.get('source_system')}/{context.get('booking_id')}"
    if template == "preference_question":
        return f"{template}|{customer}|{context.get('key')}"
    return f"{template}|{cause_id}"


@dataclass
class Deliveries:
    """Notifications' deliveries by canonical key, and the emails the SMTP server received for them."""

    stores: Stores = field(default_factory=dict)
    by_delivery_id: dict[str, str] = field(default_factory=dict)
    racy: set[str] = field(default_factory=set)


async def _notifications(conn: asyncpg.Connection, clusters: Clusters, out: Stores) -> Deliveries:
    found = Deliveries()
    deliveries: dict[str, Any] = {}
    cancelled = {
        f"{r['source_system']}/{r['booking_id']}"
        for r in await conn.fetch("SELECT source_system, booking_id FROM profile.bookings WHERE status = 'cancelled'")
    }
    for r in await conn.fetch(
        "SELECT delivery_id, customer_id, template, cause_id, context, status, recipient FROM notifications.deliveries"
    ):
        context = _json(r["context"])
        customer = clusters.of(r["customer_id"])
        key = delivery_key(r["template"], r["cause_id"], context, customer)
        status = r["status"]
        booking = f"{context.get('source_system')}/{context.get('booking_id')}"
        if r["template"] in RACY_TEMPLATES and booking in cancelled and status in ("sent", "suppressed"):
            status = "settled"  # sent before the cancellation arrived, or suppressed by it: both right
            found.racy.add(key)
        recipient = r["recipient"] if status != "settled" else None
        copies = deliveries.get(key, {}).get("copies", 0) + 1
        deliveries[key] = {"customer": customer, "status": status, "recipient": recipient, "copies": copies}
        found.by_delivery_id[r["delivery_id"]] = key
    out["notifications.deliveries"] = deliveries
    out["notifications.bookings"] = {  # the itineraries notifications keeps (where they are kept)
        f"{r['source_system']}/{r['booking_id']}": {
            "customer": clusters.of(r["customer_id"]),
            "status": r["status"],
            "source_event_id": r["source_event_id"],
            "segments": r["segments"],
        }
        for r in await _rows(conn, "notifications.bookings")
    }
    return found


def email_counts(emails: Iterable[Email], deliveries: Deliveries) -> tuple[dict[str, int], dict[str, int]]:
    """Per canonical key, how many different emails (Message-IDs) arrived; per Message-ID, how many copies."""
    by_message_id = Counter(e.message_id for e in emails)
    per_key: Counter[str] = Counter()
    for message_id in by_message_id:
        delivery_id = message_id.strip("<>").split("@", 1)[0]
        per_key[deliveries.by_delivery_id.get(delivery_id, f"unknown|{message_id}")] += 1
    return dict(per_key), dict(by_message_id)


async def _value(conn: asyncpg.Connection, clusters: Clusters, out: Stores) -> None:
    """Value's ledger and each traveller's and company's value (where this version has the service)."""
    companies = {r["company_id"]: r["name"] for r in await _rows(conn, "profile.companies")}
    out["value.bookings"] = {
        f"{r['source_system']}/{r['booking_id']}": {
            "customer": clusters.of(r["customer_id"]),
            "status": r["status"],
            "amounts": r["amounts"],
            "starts_at": r["starts_at"],
        }
        for r in await _rows(conn, "value.bookings")
    }
    figures = ("tier", "stage", "risk", "frequency", "monetary")
    out["value.customers"] = {
        clusters.of(r["customer_id"]): {k: r[k] for k in figures} for r in await _rows(conn, "value.customer_value")
    }
    out["value.companies"] = {
        companies.get(r["company_id"], "unknown"): {k: r[k] for k in figures}
        for r in await _rows(conn, "value.company_value")
    }


async def snapshot(dsn: str, emails: list[Email]) -> tuple[Stores, dict[str, Any]]:
    """The canonical state of every store, and the email figures (copies sent) of the run."""
    conn = await asyncpg.connect(dsn)
    try:
        clusters = await Clusters.load(conn)
        out: Stores = {}
        await _profile(conn, clusters, out)
        await _preferences(conn, clusters, out)
        await _feedback(conn, clusters, out)
        deliveries = await _notifications(conn, clusters, out)
        await _value(conn, clusters, out)
    finally:
        await conn.close()
    per_key, by_message_id = email_counts(emails, deliveries)
    # Settled races may or may not have an email: they are compared through the delivery only.
    out["emails"] = {k: min(n, 1) for k, n in per_key.items() if k not in deliveries.racy}
    figures = {
        "emails": len(emails),
        # The same Message-ID twice: the documented window (killed between the SMTP server's
        # acceptance and the commit); readers and mail systems can tell it is a copy.
        "same_message_id_twice": sum(n - 1 for n in by_message_id.values() if n > 1),
        # One cause, two different messages: never acceptable.
        "cause_sent_twice": sum(n - 1 for n in per_key.values() if n > 1),
        "copies": sorted([k for k, n in per_key.items() if n > 1] + [m for m, n in by_message_id.items() if n > 1]),
    }
    return out, figures


@dataclass
class StoreDiff:
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def compare(baseline: Stores, run: Stores) -> dict[str, StoreDiff]:
    """Per store: keys the run lacks (lost), keys only the run has, and keys whose value differs."""
    out = {}
    for store in sorted(set(baseline) | set(run)):
        want, got = baseline.get(store, {}), run.get(store, {})
        diff = StoreDiff(
            missing=sorted(set(want) - set(got)),
            extra=sorted(set(got) - set(want)),
            changed=sorted(k for k in set(want) & set(got) if want[k] != got[k]),
        )
        out[store] = diff
    return out


def sizes(stores: Stores) -> dict[str, int]:
    return {name: len(entries) for name, entries in stores.items()}
