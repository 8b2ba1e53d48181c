"""What preferences holds about a traveller, for the export (GDPR art. 15/20).

The stored state is a compact internal form; it is exported through the domain model instead, with
stable names: what was stated, what was inferred (with every booking it rests on), what was declined
and the questions the traveller was asked.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from pydantic_core import from_json

from services.kit.exporting import Section, section
from services.preferences.domain import catalogue
from services.preferences.domain.inference import MIN_CONFIDENCE
from services.preferences.domain.model import CustomerPreferences


def _load(r: asyncpg.Record) -> CustomerPreferences:
    return CustomerPreferences.from_json(
        r["customer_id"], from_json(r["state"]), company_id=r["company_id"], last_event_at=r["last_event_at"]
    )


def _views(prefs: CustomerPreferences) -> dict[str, list[dict[str, Any]]]:
    cid = prefs.customer_id
    stated = [
        {"customer_id": cid, "key": e.key, "value": e.value, "source": e.source, "set_by": e.set_by,
         "first_set": e.first_set, "set_at": e.set_at}
        for e in prefs.explicit.values()
    ]  # fmt: skip
    inferred = []
    for key, inf in prefs.inferences().items():
        value = catalogue.preference_value(key, inf.value)
        declined = value in prefs.declined.get(key, ())
        inferred.append({
            "customer_id": cid, "key": key, "value": value, "confidence": inf.confidence, "share": inf.share,
            "evidence_count": inf.evidence_count, "observed_count": inf.observed_count,
            "first_seen": inf.first_seen, "last_seen": inf.last_seen,
            "alternatives": [{"value": v, "count": n} for v, n in inf.alternatives],
            "used": inf.confidence >= MIN_CONFIDENCE and not declined and key not in prefs.explicit,
            "declined": declined,
        })  # fmt: skip
    observations = [
        {"customer_id": cid, "key": key, "booking": o.booking, "observed": o.value, "at": o.at, "detail": o.detail,
         "source_system": o.booking.split(":", 1)[0]}
        for key, obs in sorted(prefs.observations.items())
        for o in obs
    ]  # fmt: skip
    declined_rows = [
        {"customer_id": cid, "key": key, "values": values} for key, values in sorted(prefs.declined.items())
    ]
    asked = [
        {"customer_id": cid, "key": key, "request_id": r.request_id, "value": r.value, "confidence": r.confidence,
         "evidence_count": r.evidence_count, "asked_at": r.asked_at}
        for key, r in sorted(prefs.asked.items())
    ]  # fmt: skip
    return {"stated": stated, "inferred": inferred, "evidence": observations, "declined": declined_rows,
            "open_questions": asked}  # fmt: skip


async def collect(conn: asyncpg.Connection, ids: list[str]) -> list[Section]:
    """Every section preferences exports for the traveller's ids."""
    rows = await conn.fetch(
        "SELECT customer_id, company_id, status, merged_into, state, version, published, policy_version,"
        " last_event_at, updated_at FROM customers WHERE customer_id = ANY($1::text[]) ORDER BY customer_id",
        ids,
    )
    parts: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        for name, records in _views(_load(r)).items():
            parts.setdefault(name, []).extend(records)
    customers = [
        {k: r[k] for k in ("customer_id", "company_id", "status", "merged_into", "version", "policy_version",
                           "last_event_at", "updated_at")}
        | {"published": None if r["published"] is None else from_json(r["published"])}
        for r in rows
    ]  # fmt: skip
    questions = await conn.fetch(
        "SELECT request_id, customer_id, key, value, confidence, status, asked_at, answered_at, answered_by,"
        " expires_at, token_hash FROM confirmation_requests WHERE customer_id = ANY($1::text[])"
        " ORDER BY asked_at, request_id",
        ids,
    )
    stays = await conn.fetch(
        "SELECT source_system, booking_id, position, customer_id, company_id, city, country, hotel_name,"
        " chain_code, check_in, nights, nightly_rate, currency FROM hotel_stays"
        " WHERE customer_id = ANY($1::text[]) ORDER BY check_in, source_system, booking_id, position",
        ids,
    )
    return [
        section("preferences", customers, table="customers", times=("last_event_at", "updated_at"),
                topic="preferences.snapshots.v1", source_field=None,
                note="published is the traveller's preferences as last published to other services"),
        section("stated", parts.get("stated", []), table="customers (state)", times=("first_set", "set_at"),
                source_field=None, note="preferences the traveller stated or an agent set (source, set_by)"),
        section("inferred", parts.get("inferred", []), table="customers (state)",
                times=("first_seen", "last_seen"), topic="profile.bookings.v1", source_field=None,
                note=f"inferred from bookings (see evidence); used only from confidence {MIN_CONFIDENCE}, when "
                     "not declined and not stated"),
        section("evidence", parts.get("evidence", []), table="customers (state)", times=("at",),
                topic="profile.bookings.v1", note="what each booking showed (booking = <source_system>:<id>)"),
        section("declined", parts.get("declined", []), table="customers (state)", source_field=None,
                note="values the traveller said are wrong: never used nor asked about again"),
        section("open_questions", parts.get("open_questions", []), table="customers (state)", times=("asked_at",),
                source_field=None),
        section("confirmations", questions, table="confirmation_requests", times=("asked_at", "answered_at"),
                source_field=None,
                note="token_hash is the SHA-256 digest (hex) of the answer link's token; the token is not kept"),
        section("hotel_stays", stays, table="hotel_stays", topic="profile.bookings.v1",
                note="the hotel stays of resolved bookings: the cities behind hotel suggestions"),
    ]  # fmt: skip
