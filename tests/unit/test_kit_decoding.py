"""Decoding with the record's Kafka headers (the consumer's fast path) decides exactly as without them."""

from __future__ import annotations

import json

import pytest

from services.kit.contracts.customers import CustomerCreatedV1
from services.kit.contracts.envelope import Envelope, EnvelopeError, decode_envelope, encode_envelope
from tests import builders


def test_headers_give_the_same_event() -> None:
    event = builders.booking_created()
    raw = encode_envelope(event)
    assert decode_envelope(raw, event.headers()) == decode_envelope(raw) == event


def test_headers_announcing_another_type_do_not_decide() -> None:
    booking = builders.booking_created()
    other = Envelope.new(
        CustomerCreatedV1(customer_id="c-1", source_system="t", source_record_id="r-1"),
        producer="profile",
        subject_id="c-1",
    )
    decoded = decode_envelope(encode_envelope(booking), other.headers())
    assert decoded == booking
    assert type(decoded.payload).__name__ == "BookingCreatedV1"


@pytest.mark.parametrize(
    "headers",
    [
        [("event_type", b"booking.created"), ("schema_version", b"x")],
        [("event_type", b"nope"), ("schema_version", b"1")],
    ],
)
def test_odd_headers_fall_back_to_the_value(headers: list[tuple[str, bytes]]) -> None:
    event = builders.booking_created()
    assert decode_envelope(encode_envelope(event), headers) == event


def test_invalid_values_are_refused_with_the_same_reason_with_or_without_headers() -> None:
    event = builders.booking_created()
    data = json.loads(encode_envelope(event))
    data["producer"] = "p" * 201  # over the envelope's limit, which the typed envelope does not check
    raw = json.dumps(data).encode()
    with pytest.raises(EnvelopeError) as plain:
        decode_envelope(raw)
    with pytest.raises(EnvelopeError) as announced:
        decode_envelope(raw, event.headers())
    assert str(announced.value) == str(plain.value)
    del data["payload"]["booking_id"]
    data["producer"] = "p"
    raw = json.dumps(data).encode()
    with pytest.raises(EnvelopeError, match="booking_id"):
        decode_envelope(raw, event.headers())


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"[" * 100_000, "recursion limit"),  # json.loads raised RecursionError: the consumer task died
        (b'{"event_id": "\xff\xfe"}', "not JSON"),
        (b'{"a": "\\ud800"}', "not JSON"),  # a lone surrogate PostgreSQL could not store
        (b"", "not JSON"),
    ],
)
def test_hostile_values_are_envelope_errors(raw: bytes, says: str) -> None:
    with pytest.raises(EnvelopeError, match=says):
        decode_envelope(raw)


@pytest.mark.parametrize("where", ["given_name", "source_traveller_id"])
def test_a_nul_character_is_refused_at_decoding_not_in_the_handler(where: str) -> None:
    event = (
        builders.booking_created(traveller=builders.traveller(given_name="An\x00n"))
        if where == "given_name"
        else builders.booking_created(traveller_id="T-\x00")
    )
    raw = encode_envelope(event)
    for headers in (event.headers(), None):
        with pytest.raises(EnvelopeError, match="NUL"):
            decode_envelope(raw, headers)


def test_an_escaped_backslash_before_u0000_is_text_not_nul() -> None:
    event = builders.booking_created(traveller=builders.traveller(given_name="An\\u0000n"))
    assert decode_envelope(encode_envelope(event)).payload.traveller.given_name == "An\\u0000n"
