"""The envelope, payload contracts and generated documents."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema
import pytest
from pydantic import ValidationError

from services.kit.contracts import schemagen
from services.kit.contracts.bookings import BookingCreatedV1, FlightSegmentV1, TravellerV1
from services.kit.contracts.envelope import EnvelopeError, decode_envelope, encode_envelope
from services.kit.contracts.topics import TOPICS
from tests import builders
from tests.harness import ROOT


def test_envelope_round_trips_with_typed_payload() -> None:
    event = builders.booking_created()
    decoded = decode_envelope(encode_envelope(event))
    assert decoded == event
    assert isinstance(decoded.payload, BookingCreatedV1)
    assert isinstance(decoded.payload.segments[0], FlightSegmentV1)


def test_caused_event_inherits_correlation_and_names_its_cause() -> None:
    first = builders.booking_created()
    second = builders.trip_completed(first)
    assert second.correlation_id == first.correlation_id
    assert second.causation_id == first.event_id


def test_headers_carry_routing_metadata() -> None:
    event = builders.booking_created()
    headers = dict(event.headers())
    assert headers["event_id"] == str(event.event_id).encode()
    assert headers["event_type"] == b"booking.created"
    assert headers["schema_version"] == b"1"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"{not json", "not JSON"),
        (b'{"event_id": "x"}', "invalid envelope"),
    ],
)
def test_garbage_is_rejected_with_reason(raw: bytes, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        decode_envelope(raw)


def test_unknown_event_type_is_rejected() -> None:
    doc = json.loads(encode_envelope(builders.booking_created()))
    doc["event_type"] = "booking.teleported"
    with pytest.raises(EnvelopeError, match=r"unknown event type 'booking\.teleported'"):
        decode_envelope(json.dumps(doc))


def test_invalid_payload_names_the_field() -> None:
    doc = json.loads(encode_envelope(builders.booking_created()))
    doc["payload"]["segments"][0]["origin"] = "Frankfurt"
    with pytest.raises(EnvelopeError, match=r"segments\.0\.flight\.origin"):
        decode_envelope(json.dumps(doc))


def test_naive_timestamps_are_refused() -> None:
    doc = json.loads(encode_envelope(builders.booking_created()))
    doc["occurred_at"] = "2026-01-01T10:00:00"
    with pytest.raises(EnvelopeError, match="occurred_at"):
        decode_envelope(json.dumps(doc))


def test_newer_minor_fields_are_tolerated() -> None:
    doc = json.loads(encode_envelope(builders.booking_created()))
    doc["payload"]["loyalty_tier"] = "gold"  # added by a newer producer
    assert isinstance(decode_envelope(json.dumps(doc)).payload, BookingCreatedV1)


def test_payloads_are_frozen() -> None:
    t = TravellerV1(full_name="Ann Lee")
    with pytest.raises(ValidationError):
        t.full_name = "Bob"  # type: ignore[misc]  # frozen model: the assignment is the test


def test_traveller_needs_a_name() -> None:
    with pytest.raises(ValidationError, match="full_name or given_name"):
        TravellerV1(email="a@b.example")


def test_flight_must_arrive_after_departure() -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValidationError, match="arrival_at must be after"):
        FlightSegmentV1(
            carrier="LH", flight_number="1", origin="FRA", destination="JFK", departure_at=now, arrival_at=now
        )


def test_topic_names_follow_the_convention_and_are_unique() -> None:
    names = [t.name for t in TOPICS]
    assert len(names) == len(set(names))
    for spec in TOPICS:
        parts = spec.name.split(".")
        assert len(parts) == 3
        assert parts[2].startswith("v")


def test_checked_in_contracts_are_up_to_date() -> None:
    assert schemagen.stale(ROOT / "contracts") == [], "run: python -m services.kit contracts write"


def test_json_schema_accepts_a_real_event_and_rejects_a_broken_one() -> None:
    schema = schemagen.json_schemas()["BookingCreatedV1.json"]
    event = json.loads(encode_envelope(builders.booking_created()))
    jsonschema.Draft202012Validator(schema).validate(event)
    event["payload"]["segments"][0]["carrier"] = "Lufthansa"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(event)


def test_asyncapi_lists_every_topic_and_message() -> None:
    doc = schemagen.asyncapi()
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {t.name for t in TOPICS}
    for spec in TOPICS:
        for model in spec.payloads:
            assert model.__name__ in doc["components"]["messages"]


@pytest.mark.parametrize("caused", [False, True])
@pytest.mark.parametrize("subject", ["cus_1", 'cus "ü" \\ 😀'])
def test_an_event_encoded_from_its_payload_json_is_the_envelope_encoded(caused: bool, subject: str) -> None:
    from services.kit.contracts.envelope import EncodedEnvelope, Envelope, encode_new, new_uuid
    from services.kit.contracts.preferences import PreferenceChangedV1

    cause = builders.booking_created()
    if caused:
        cause = cause.model_copy(update={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    payload = PreferenceChangedV1(customer_id=subject, version=3, changed_keys=("air.meal", "hotel.star_min"))
    ids = {"event_id": new_uuid(), "occurred_at": datetime(2026, 11, 22, 18, 0, 0, 123_456, tzinfo=UTC)}
    kwargs: dict[str, object] = {"producer": "preferences", "subject_id": subject, **ids}
    if caused:
        kwargs["caused_by"] = cause
    else:
        kwargs["correlation_id"] = new_uuid()
    envelope = Envelope.new(payload, **kwargs)  # type: ignore[arg-type]
    encoded = encode_new(PreferenceChangedV1, payload.model_dump_json().encode(), **kwargs)  # type: ignore[arg-type]
    assert isinstance(encoded, EncodedEnvelope)
    assert encode_envelope(encoded) == encode_envelope(envelope)
    assert encoded.headers() == envelope.headers()
    assert (encoded.event_id, encoded.subject_id) == (envelope.event_id, envelope.subject_id)
    assert decode_envelope(encode_envelope(encoded), encoded.headers()) == envelope


def test_an_encoded_event_gets_fresh_ids_and_time_as_a_new_envelope_does() -> None:
    from services.kit.contracts.envelope import encode_new
    from services.kit.contracts.preferences import PreferenceChangedV1

    payload = PreferenceChangedV1(customer_id="cus_1", version=1, changed_keys=())
    before = datetime.now(UTC)
    first = decode_envelope(encode_new(PreferenceChangedV1, payload.model_dump_json().encode(), producer="p",
                                       subject_id="cus_1").wire)  # fmt: skip
    second = encode_new(PreferenceChangedV1, payload.model_dump_json().encode(), producer="p", subject_id="cus_1")
    assert first.payload == payload
    assert first.occurred_at >= before
    assert first.causation_id is None
    assert second.event_id != first.event_id
    assert second.correlation_id != first.correlation_id
