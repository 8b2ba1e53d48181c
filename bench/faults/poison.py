"""Records no consumer can apply: each must be dead-lettered with a reason, and nothing may stall.

Every poison record is new (its own key and ids) except the conflicting duplicate, which reuses
a stream event's id with a different body: it must be dead-lettered as a conflict while the
original stays applied. Records on `booking.events.v1` carry a passport number, so the harness
can tell whether dead letters keep personal data in clear.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from bench.faults.broker import consumed_topics
from bench.faults.stream import NAMESPACE, StreamEvent, anchor_for
from services.kit.contracts.bookings import BookingCreatedV1

PASSPORT = "P9X4K2L7Q"  # must never appear in a dead letter in clear
OVERSIZED_BYTES = 1_500_000


@dataclass(frozen=True)
class Poison:
    kind: str
    topic: str  # logical
    key: bytes
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    compress: bool = False
    # A null value is Kafka's tombstone: the kit skips it (counted as one) on every topic, as there is
    # nothing in it to keep. It must stop nothing and change nothing; a dead letter is not required.
    must_dead_letter: bool = True

    def consumers(self) -> list[str]:
        """The services that read this record's topic: each must dead-letter it."""
        return sorted(s for s, topics in consumed_topics().items() if self.topic in topics)


def _booking(seq: int, **traveller: Any) -> dict[str, Any]:
    """A booking event's wire form as a dict (to be broken on purpose)."""
    departure = anchor_for().replace(hour=9).isoformat()
    arrival = anchor_for().replace(hour=17).isoformat()
    return {
        "event_id": str(uuid.uuid5(NAMESPACE, f"poison/{seq}")),
        "event_type": BookingCreatedV1.event_type,
        "schema_version": BookingCreatedV1.schema_version,
        "occurred_at": departure,
        "producer": "poison-desk",
        "subject_id": f"poison-desk:P-{seq}",
        "correlation_id": str(uuid.uuid5(NAMESPACE, f"poison/{seq}/c")),
        "payload": {
            "source_system": "poison-desk",
            "booking_id": f"P-{seq}",
            "source_traveller_id": f"PT-{seq}",
            "traveller": {
                "given_name": "Pia",
                "family_name": "Gift",
                "email": f"pia.gift.{seq}@globex.example",
                "passport_number": PASSPORT,
                **traveller,
            },
            "segments": [
                {
                    "kind": "flight",
                    "carrier": "LH",
                    "flight_number": "400",
                    "origin": "FRA",
                    "destination": "JFK",
                    "departure_at": departure,
                    "arrival_at": arrival,
                }
            ],
        },
    }


def _wire(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def _headers(data: dict[str, Any]) -> tuple[tuple[str, bytes], ...]:
    return (
        ("event_id", data["event_id"].encode()),
        ("event_type", data["event_type"].encode()),
        ("schema_version", str(data["schema_version"]).encode()),
    )


def _unparseable(topic: str, prefix: str) -> list[Poison]:
    """Records any consumer of any topic must refuse at decoding."""
    unknown = _booking(900)
    unknown["event_type"] = "booking.teleported"
    return [
        Poison("deeply-nested-json", topic, f"{prefix}deep".encode(), b"[" * 100_000),
        Poison("bad-json", topic, f"{prefix}bad-json".encode(), b'{"event_id": "1", "event_type": "booking.'),
        Poison("invalid-utf8", topic, f"{prefix}utf8".encode(), _wire(_booking(901)).replace(b"Pia", b"P\xffa\xfe")),
        Poison("unknown-type", topic, f"{prefix}unknown".encode(), _wire(unknown), _headers(unknown)),
        Poison("empty-value", topic, f"{prefix}empty".encode(), b""),
    ]


def poison_records(stream: list[StreamEvent], *, downstream: bool = True) -> list[Poison]:
    """The poison records: all kinds on `booking.events.v1`, parse-level ones on the topics behind it."""
    out = _unparseable("booking.events.v1", "poison:")
    schema_invalid = _booking(1)
    schema_invalid["payload"]["segments"][0]["origin"] = "not-an-airport"
    oversized = _booking(2, full_name="X" * OVERSIZED_BYTES)  # over the name's limit, and over 1 MB
    nul_name = _booking(3, given_name="Pi\x00a")
    nul_id = _booking(4)
    nul_id["payload"]["booking_id"] = "P-\x004"
    nul_id["subject_id"] = "poison-desk:P-\x004"
    out += [
        Poison(
            "schema-invalid", "booking.events.v1", b"poison-desk:P-1", _wire(schema_invalid), _headers(schema_invalid)
        ),
        Poison("oversized-1.5MB-gzip", "booking.events.v1", b"poison-desk:P-2", _wire(oversized), compress=True),
        Poison("nul-in-name", "booking.events.v1", b"poison-desk:P-3", _wire(nul_name), _headers(nul_name)),
        Poison("nul-in-id", "booking.events.v1", b"poison-desk:P-\x004", _wire(nul_id), _headers(nul_id)),
        Poison("null-value", "booking.events.v1", b"poison:null", None, must_dead_letter=False),
    ]
    # The same event id as a stream event, with another body (a different seat): a conflict.
    original = next(e for e in stream if e.event.event_type == BookingCreatedV1.event_type)
    other = json.loads(original.value)
    other["payload"]["traveller"]["passport_number"] = PASSPORT
    other["payload"]["booking_id"] = other["payload"]["booking_id"]  # same booking, same key
    other["payload"]["trip_purpose"] = "leisure"
    out.append(Poison("same-id-other-body", "booking.events.v1", original.key, _wire(other), tuple(original.headers)))
    if downstream:
        # The topics services publish for each other: a buggy or foreign producer could write anything.
        out += _unparseable("profile.bookings.v1", "poison:")
        out += [
            Poison("null-value", "profile.bookings.v1", b"poison:null", None, must_dead_letter=False),
            Poison(
                "oversized-1.5MB-gzip",
                "profile.bookings.v1",
                b"poison:oversized",
                b'{"event_id": "' + b"X" * OVERSIZED_BYTES + b'"}',
                compress=True,
            ),
        ]
        out += _unparseable("profile.customers.v1", "poison:")  # compacted: null is a tombstone, not poison
        for topic in ("feedback.surveys.v1", "preferences.changes.v1", "preferences.snapshots.v1"):
            out.append(Poison("bad-json", topic, b"poison:bad-json", b"{not json"))
            out.append(Poison("deeply-nested-json", topic, b"poison:deep", b"[" * 100_000))
    return out
