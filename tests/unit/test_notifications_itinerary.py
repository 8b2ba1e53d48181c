"""Itineraries in messages: places and zones from the airport table, and what a change changed."""

from __future__ import annotations

from typing import Any

from services.notifications.adapters.places import AirportDirectory
from services.notifications.domain.formatting import segment_line
from services.notifications.domain.itinerary import annotate_segments, compare_segments
from services.notifications.domain.messages import MessageRenderer
from services.notifications.domain.model import Recipient

PLACES = AirportDirectory()
RENDERER = MessageRenderer(brand_name="Acme Travel")
ANN = Recipient(customer_id="cus_1", display_name="Ann Lee", given_name="Ann", email="ann@example.com")


def flight(number: str = "400", departs: str = "2026-12-01T10:15:00+01:00", **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kind": "flight", "carrier": "LH", "flight_number": number, "origin": "FRA", "destination": "JFK",
        "departure_at": departs, "arrival_at": "2026-12-01T13:05:00-05:00",
    }  # fmt: skip
    values.update(overrides)
    return values


def hotel(name: str = "Marriott Marquis", city: str = "New York", country: str = "US") -> dict[str, Any]:
    return {
        "kind": "hotel", "hotel_name": name, "city": city, "country": country,
        "check_in": "2026-12-01", "check_out": "2026-12-04",
    }  # fmt: skip


def test_the_airport_table_knows_airports_metropolitan_codes_and_cities() -> None:
    assert PLACES.airport("FRA") is not None
    assert PLACES.airport("FRA").zone == "Europe/Berlin"  # type: ignore[union-attr]
    assert PLACES.airport("NYC").zone == "America/New_York"  # type: ignore[union-attr]
    assert PLACES.locate("JFK Airport").zone == "America/New_York"  # type: ignore[union-attr]
    assert PLACES.locate("London", country="GB").zone == "Europe/London"  # type: ignore[union-attr]
    assert PLACES.locate("Paris").zone == "Europe/Paris", "Paris, France: more airports than Paris, Texas"  # type: ignore[union-attr]
    assert PLACES.locate("Ulm", country="DE").zone == "Europe/Berlin", "a city, not ULM in Minnesota"  # type: ignore[union-attr]
    assert PLACES.locate("Nowhere Junction") is None


def test_departure_and_arrival_are_shown_at_their_airports_zones() -> None:
    # The booking system sent the departure in UTC: it is still shown at Frankfurt's time.
    [annotated] = annotate_segments([flight(departs="2026-12-01T09:15:00+00:00")], PLACES)
    line = segment_line(annotated, "en")
    assert "departs Tue 1 Dec 2026, 10:15 local time in Frankfurt am Main (CET)" in line
    assert "arrives 13:05 local time in New York (EST)" in line
    assert "(local time)" not in line
    german = segment_line(annotated, "de")
    assert "Abflug Di., 1. Dez. 2026, 10:15 Uhr Ortszeit Frankfurt am Main (CET)" in german


def test_an_unknown_airport_shows_the_time_as_sent_with_its_offset() -> None:
    [annotated] = annotate_segments([flight(destination="ZZZ")], PLACES)
    assert "arrives 13:05 (UTC-05:00)" in segment_line(annotated, "en")


def test_a_change_compares_old_and_new_segments() -> None:
    before = [flight("400"), hotel()]
    after = [flight("402", departs="2026-12-01T14:15:00+01:00"), hotel(), hotel("Hilton", "Washington")]
    rows = compare_segments(before, after)
    assert [r["change"] for r in rows] == ["changed", "unchanged", "added"]
    assert rows[0]["before"]["flight_number"] == "400"
    assert rows[0]["after"]["flight_number"] == "402"
    removed = compare_segments(before, [hotel()])
    assert [r["change"] for r in removed] == ["unchanged", "removed"]


def test_annotations_are_not_changes() -> None:
    annotated = annotate_segments([flight()], PLACES)
    assert [r["change"] for r in compare_segments([flight()], annotated)] == ["unchanged"]


def test_the_change_email_gives_the_reason_and_old_and_new() -> None:
    before = annotate_segments([flight("400"), hotel()], PLACES)
    after = annotate_segments([flight("402", departs="2026-12-01T14:15:00+01:00"), hotel()], PLACES)
    context = {
        "booking_id": "ACME-9", "source_system": "acme", "kind": "changed", "segments": after,
        "total_price": None, "currency": None, "reason": "Flight LH 400 was cancelled by the airline",
        "changes": compare_segments(before, after),
    }  # fmt: skip
    msg = RENDERER.render(template="booking_changed", language="en", context=context, recipient=ANN)
    assert "Reason: Flight LH 400 was cancelled by the airline" in msg.text
    assert "  - Before: Flight LH 400: FRA → JFK, departs Tue 1 Dec 2026, 10:15" in msg.text
    assert "    Now:    Flight LH 402: FRA → JFK, departs Tue 1 Dec 2026, 14:15" in msg.text
    assert "Marriott" not in msg.text.split("This is your itinerary now:")[0], "unchanged parts are not 'changes'"
    assert "<s>Flight LH 400" in msg.html
    german = RENDERER.render(template="booking_changed", language="de", context=context, recipient=ANN)
    assert "Grund: Flight LH 400 was cancelled by the airline" in german.text
    assert "  - Bisher: Flug LH 400" in german.text


def test_the_cancellation_email_gives_the_reason() -> None:
    context = {
        "booking_id": "ACME-9", "source_system": "acme", "kind": "cancelled", "segments": [hotel()],
        "total_price": None, "currency": None, "reason": "Trip no longer needed",
    }  # fmt: skip
    msg = RENDERER.render(template="booking_cancelled", language="en", context=context, recipient=ANN)
    assert "Reason: Trip no longer needed" in msg.text
    assert "These parts of your trip are cancelled:" in msg.text
    assert "Reason: Trip no longer needed" in msg.html


def test_messages_planned_before_reasons_and_comparisons_still_render() -> None:
    context = {"booking_id": "ACME-9", "source_system": "acme", "kind": "changed", "segments": [hotel()],
               "total_price": None, "currency": None}  # fmt: skip
    msg = RENDERER.render(template="booking_changed", language="en", context=context, recipient=ANN)
    assert "Reason" not in msg.text
    assert "This is your itinerary now:" in msg.text
