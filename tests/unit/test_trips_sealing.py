"""Trips' topics carry a traveller's data: sealed under the traveller's key (the customer id), so that
shredding it on erasure makes every trip and journey request of theirs unreadable, not under the trip id."""

from __future__ import annotations

from datetime import UTC, datetime

from services.kit.contracts.envelope import Envelope, encode_envelope
from services.kit.contracts.topics import topic_spec
from services.kit.contracts.trips import JourneyMessageRequestedV1, TripBookingV1, TripUpdatedV1
from services.kit.sealed import SEALED_HEADER, SUBJECT_HEADER, RecordSealer, without_seal
from tests.unit.test_kit_sealing_records import FakeKeys

PREFIX = "t."
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _trip(trip_id: str, customer_id: str) -> tuple[str, bytes, bytes, list[tuple[str, bytes]]]:
    booking = TripBookingV1(source_system="acme-gds", booking_id="BK-Quastenberg", status="active")
    payload = TripUpdatedV1(
        trip_id=trip_id, customer_id=customer_id, version=1, status="planned", trip_reference="Quastenberg-Lisbon",
        bookings=(booking,), updated_at=NOW,
    )  # fmt: skip
    env = Envelope.new(payload, producer="trips", subject_id=trip_id)
    return f"{PREFIX}trips.trips.v1", trip_id.encode(), encode_envelope(env), env.headers()


def _journey(customer_id: str) -> tuple[str, bytes, bytes, list[tuple[str, bytes]]]:
    payload = JourneyMessageRequestedV1(
        request_id="run-1:0", customer_id=customer_id, trip_id="trip_1", journey="pre_trip", journey_version=1,
        requested_at=NOW, template="journey_pre_trip", purpose="service", data={"destination": "Quastenberg-Lisbon"},
    )  # fmt: skip
    env = Envelope.new(payload, producer="trips", subject_id=customer_id)
    return f"{PREFIX}trips.journeys.v1", customer_id.encode(), encode_envelope(env), env.headers()


def test_the_catalogue_seals_both_trips_topics_under_the_traveller() -> None:
    assert topic_spec("trips.trips.v1").personal
    assert topic_spec("trips.trips.v1").subject_field == "customer_id"  # keyed by trip, sealed by traveller
    assert topic_spec("trips.journeys.v1").personal
    assert topic_spec("trips.journeys.v1").subject_field is None  # keyed by the customer id already


async def test_trips_and_journey_requests_are_sealed_under_the_customer_key_and_shredded_with_it() -> None:
    keys = FakeKeys()
    sealer = RecordSealer(keys, topic_prefix=PREFIX)
    rows = [_trip("trip_a", "cus-1"), _trip("trip_b", "cus-1"), _journey("cus-1"), _trip("trip_c", "cus-2")]
    out = await sealer.seal_rows(rows)
    assert keys.queries == [({"cus-1", "cus-2"}, True)]  # one key per traveller; none for a trip id
    assert set(keys.store) == {"cus-1", "cus-2"}
    for (_, key, value, headers), customer in zip(out, ("cus-1", "cus-1", "cus-1", "cus-2"), strict=True):
        assert b"Quastenberg" not in value
        named = dict(headers)
        assert named[SEALED_HEADER] == f"v1:{keys.store[customer].key_id}".encode()
        # The trip topic names its subject in a header (its key is the trip); the journeys topic's key is it.
        assert named.get(SUBJECT_HEADER, key) == customer.encode()
    assert [v for v, _ in await sealer.open_values(out)] == [r[2] for r in rows]

    keys.shred("cus-1")
    opened = await sealer.open_values(out)
    assert opened[:3] == [(None, "erased")] * 3  # every trip and request of the erased traveller
    assert opened[3] == (rows[3][2], None)  # another traveller's trip still opens


async def test_a_trip_record_copied_elsewhere_stays_under_the_traveller_key() -> None:
    keys = FakeKeys()
    sealer = RecordSealer(keys, topic_prefix=PREFIX)
    [(_, key, value, headers)] = await sealer.seal_rows([_trip("trip_a", "cus-1")])
    [(clear, opened_headers, problem)] = await sealer.open_records([(f"{PREFIX}trips.trips.v1", key, value, headers)])
    assert problem is None
    assert clear is not None
    # A consumer dead-letters it: the copy keeps the subject header and is sealed under the same key.
    [(_, _, dead, dead_headers)] = await sealer.seal_rows(
        [(f"{PREFIX}feedback.deadletters.v1", key, clear, without_seal(opened_headers))]
    )
    assert dict(dead_headers)[SEALED_HEADER] == f"v1:{keys.store['cus-1'].key_id}".encode()
    assert set(keys.store) == {"cus-1"}
    keys.shred("cus-1")
    assert await sealer.open_values([(f"{PREFIX}feedback.deadletters.v1", key, dead, dead_headers)]) == [
        (None, "erased")
    ]
