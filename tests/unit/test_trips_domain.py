"""Trips: grouping bookings into trips, journey definitions refused when they cannot run, the engine's
steps and waits (a reminder across a daylight-saving change, a trip across zones)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.trips.adapters.definitions import load_definitions
from services.trips.adapters.places import airport_zone
from services.trips.domain.definitions import DefinitionError, parse_definition
from services.trips.domain.engine import CustomerContext, Departure, advance, holds, local_hours_before
from services.trips.domain.facts import compare, delay_minutes, readiness, reason_kind
from services.trips.domain.grouping import Span, TripFacts, booking_span, group_booking, trip_status

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def flight(dep: str, arr: str, origin: str = "FRA", destination: str = "JFK", **extra: Any) -> dict[str, Any]:
    return {"kind": "flight", "carrier": "LH", "flight_number": "400", "origin": origin, "destination": destination,
            "departure_at": dep, "arrival_at": arr, **extra}  # fmt: skip


def hotel(check_in: date, check_out: date, **extra: Any) -> dict[str, Any]:
    return {"kind": "hotel", "hotel_name": "Marquis", "city": "New York", "country": "US",
            "check_in": check_in.isoformat(), "check_out": check_out.isoformat(), **extra}  # fmt: skip


# --- grouping -------------------------------------------------------------------------------------------------


def test_flight_hotel_and_car_of_one_journey_are_one_trip() -> None:
    out = booking_span([flight("2026-05-04T10:00+02:00", "2026-05-04T12:40-04:00")])
    assert out is not None
    trip = TripFacts("trip_a", None, out)
    stay = booking_span([hotel(date(2026, 5, 4), date(2026, 5, 7))])
    g = group_booking(source_system="hotel-desk", booking_id="H1", reference=None, span=stay, trips=[trip])
    assert (g.trip_id, g.create, g.merged) == ("trip_a", False, ())


def test_a_booking_weeks_later_is_another_trip() -> None:
    trip = TripFacts("trip_a", None, booking_span([flight("2026-05-04T10:00+02:00", "2026-05-04T12:40-04:00")]))
    later = booking_span([flight("2026-06-04T10:00+02:00", "2026-06-04T12:40-04:00")])
    g = group_booking(source_system="gds", booking_id="B2", reference=None, span=later, trips=[trip])
    assert g.create
    assert g.trip_id.startswith("trip_")
    assert g.trip_id != "trip_a"


def test_the_trip_reference_groups_whatever_the_dates_and_keeps_other_references_apart() -> None:
    span = booking_span([flight("2026-05-04T10:00+02:00", "2026-05-04T12:40-04:00")])
    ours, theirs = TripFacts("trip_a", "TR-1", span), TripFacts("trip_b", "TR-2", span)
    weeks_later = Span(at("2026-07-01T00:00Z"), at("2026-07-02T00:00Z"))
    g = group_booking(source_system="gds", booking_id="B3", reference="TR-1", span=weeks_later, trips=[theirs, ours])
    assert (g.trip_id, g.merged) == ("trip_a", ())
    same_days = group_booking(source_system="gds", booking_id="B4", reference="TR-3", span=span, trips=[ours])
    assert same_days.create, "another reference is another trip, even on the same days"


def test_a_late_booking_bridging_two_trips_merges_them_into_the_earlier_whatever_the_order() -> None:
    outbound = TripFacts("trip_z", None, Span(at("2026-05-04T08:00Z"), at("2026-05-04T16:00Z")))
    home = TripFacts("trip_a", None, Span(at("2026-05-08T08:00Z"), at("2026-05-08T16:00Z")))
    stay = Span(at("2026-05-04T00:00Z"), at("2026-05-08T23:59Z"))
    for trips in ([outbound, home], [home, outbound]):
        g = group_booking(source_system="hotel", booking_id="H9", reference=None, span=stay, trips=trips)
        assert (g.trip_id, g.create, g.merged) == ("trip_z", False, ("trip_a",))


def test_trip_status_follows_its_live_bookings() -> None:
    assert trip_status(["active", "cancelled"]) == "planned"
    assert trip_status(["completed", "cancelled"]) == "completed"
    assert trip_status(["completed", "active"]) == "in_progress"
    assert trip_status(["cancelled"]) == "cancelled"


# --- definitions ----------------------------------------------------------------------------------------------

GOOD: dict[str, Any] = {
    "journey": "example",
    "version": 2,
    "trigger": {"event": "booking.changed", "filter": {"fact": "has_reason", "eq": True}},
    "steps": [{"message": {"template": "journey_disruption", "purpose": "transactional", "criticality": "critical"}}],
}


def test_the_packaged_definitions_are_valid() -> None:
    definitions = load_definitions()
    assert {"pre_trip", "disruption", "post_trip"} <= set(definitions)
    assert all(d.version >= 1 for d in definitions.values())


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"trigger": {"event": "booking.teleported"}}, "unknown trigger 'booking.teleported'"),
        ({"trigger": {"event": "booking.changed", "filter": {"fact": "weather", "eq": "rain"}}}, "unknown fact"),
        ({"steps": [{"message": {"template": "journey_party", "purpose": "service"}}]}, "unknown template"),
        ({"steps": [{"message": {"template": "journey_disruption", "purpose": "gossip"}}]}, "purpose"),
        ({"steps": [{"when": {"tier": ["platinum"]}, "case": {"action": "case", "subject": "x"}}]}, "tier"),
        ({"steps": [{"case": {"action": "case", "subject": "On {weather}"}}]}, "unknown placeholder"),
        ({"steps": [{"wait": {"hours": 1}, "message": {"template": "journey_disruption", "purpose": "service"}}]},
         "does one thing"),
        ({"steps": [{"message": {"template": "journey_disruption", "purpose": "service", "colour": "red"}}]},
         "Extra inputs"),
        ({"version": 0}, "version"),
    ],
)  # fmt: skip
def test_a_definition_that_cannot_run_is_refused_with_its_reason(change: dict[str, Any], says: str) -> None:
    with pytest.raises(DefinitionError) as refused:
        parse_definition({**GOOD, **change}, origin="example.yaml")
    assert "example.yaml" in str(refused.value)
    assert says in str(refused.value)


def test_the_service_refuses_to_start_on_a_bad_file(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("journey: bad\nversion: 1\ntrigger: {event: nope}\nsteps: []\n")
    with pytest.raises(DefinitionError, match=r"bad\.yaml"):
        load_definitions(tmp_path)


# --- conditions and facts -------------------------------------------------------------------------------------


def test_conditions_read_tier_consent_and_preferences_of_the_view() -> None:
    view = CustomerContext.from_view(
        {"tier": "gold"},
        {"preferences": [
            {"key": "comms.consent.service", "value": False, "source": "stated"},
            {"key": "comms.consent.marketing", "value": True, "source": "inferred"},
            {"key": "air.seat", "value": "aisle", "source": "inferred"},
        ]},
    )  # fmt: skip
    d = parse_definition(
        {**GOOD, "steps": [{"when": {"any": [{"tier": ["gold"]}, {"fact": "delay_minutes", "gte": 120}]},
                             "case": {"action": "case", "subject": "s"}}]},
        origin="t",
    )  # fmt: skip
    condition = d.steps[0].when
    assert holds(condition, {"delay_minutes": 10}, view)
    assert holds(condition, {"delay_minutes": 180}, CustomerContext())
    assert not holds(condition, {"delay_minutes": None}, CustomerContext(tier="silver"))
    assert not view.consents_to("service"), "the traveller withdrew it"
    assert not view.consents_to("marketing"), "an inferred value is not an opt-in"
    assert view.preferences["air.seat"] == "aisle"


def test_disruption_facts_reason_old_and_new_and_delay() -> None:
    old = [flight("2026-05-04T10:00+02:00", "2026-05-04T12:40-04:00", seat="14C")]
    new = [flight("2026-05-04T13:00+02:00", "2026-05-04T15:40-04:00", seat="14C")]
    assert delay_minutes(old, new) == 180
    changes = compare(old, new)
    assert {c["field"] for c in changes} == {"departure_at", "arrival_at"}
    assert (changes[0]["old"], changes[0]["new"]) == ("2026-05-04T10:00+02:00", "2026-05-04T13:00+02:00")
    assert reason_kind("Flight delayed by the carrier") == "delay"
    assert reason_kind("Schedule change") == "schedule_change"
    assert reason_kind("Cancelled by the carrier") == "carrier_cancellation"
    assert reason_kind(None) is None


def test_the_reminder_shows_what_is_known_and_what_is_missing() -> None:
    segments = [
        flight("2026-05-04T10:00+02:00", "2026-05-04T12:40-04:00", seat="14C"),
        flight("2026-05-08T18:00-04:00", "2026-05-09T08:00+02:00"),
        hotel(date(2026, 5, 4), date(2026, 5, 8)),
    ]
    out = readiness(segments, {"air.seat": "aisle"})
    assert out["known"] == {"seats": ["LH400: 14C"], "seat_preference": "aisle"}
    assert out["missing"] == ["seat", "meal", "hotel_chain"]


# --- waits ----------------------------------------------------------------------------------------------------

PRE_TRIP = load_definitions()["pre_trip"]


def test_48_hours_before_a_departure_just_after_the_spring_change_is_the_same_local_time() -> None:
    # Clocks in Berlin go forward on 29 March 2026: a 10:00 departure on the 30th is reminded at 10:00
    # on the 28th (09:00 UTC), not 48 elapsed hours earlier (08:00 UTC, 09:00 local).
    departure = datetime(2026, 3, 30, 10, 0, tzinfo=BERLIN)
    due = local_hours_before(departure, 48, BERLIN)
    assert due == datetime(2026, 3, 28, 9, 0, tzinfo=UTC)
    assert due.astimezone(BERLIN).hour == 10
    # And in autumn (25 October 2026), the other way.
    autumn = local_hours_before(datetime(2026, 10, 26, 10, 0, tzinfo=BERLIN), 48, BERLIN)
    assert autumn == datetime(2026, 10, 24, 8, 0, tzinfo=UTC)
    assert autumn.astimezone(BERLIN).hour == 10


def test_a_trip_across_zones_is_reminded_on_the_clock_of_its_first_departure() -> None:
    # A Berlin traveller's trip starts in New York (a positioning flight booked elsewhere came first).
    assert str(airport_zone("JFK")) == "America/New_York"
    assert str(airport_zone("FRA")) == "Europe/Berlin"
    departure = Departure(datetime(2026, 3, 10, 18, 0, tzinfo=NEW_YORK), airport_zone("JFK"))
    # New York changes its clocks on 8 March, Berlin on 29 March: only New York's change counts here.
    step = advance(PRE_TRIP, step=0, started_at=at("2026-03-01T00:00Z"), now=at("2026-03-01T00:00Z"),
                   facts={}, customer=CustomerContext(), departure=departure)  # fmt: skip
    assert step.status == "waiting"
    assert step.due_at == datetime(2026, 3, 8, 18, 0, tzinfo=NEW_YORK).astimezone(UTC)
    assert step.due_at is not None
    assert step.due_at.astimezone(NEW_YORK).hour == 18


def test_a_wait_fires_once_over_and_a_departure_passed_ends_the_run() -> None:
    departure = Departure(at("2026-05-04T08:00Z"), UTC)
    due = advance(PRE_TRIP, step=0, started_at=at("2026-05-01T00:00Z"), now=at("2026-05-02T08:00Z"),
                  facts={}, customer=CustomerContext(), departure=departure)  # fmt: skip
    assert (due.status, len(due.emits), due.emits[0].step) == ("done", 1, 1)
    late = advance(PRE_TRIP, step=0, started_at=at("2026-05-01T00:00Z"), now=at("2026-05-04T09:00Z"),
                   facts={}, customer=CustomerContext(), departure=departure)  # fmt: skip
    assert (late.status, late.emits) == ("skipped", ())
    withdrawn = CustomerContext(consents={"service": False})
    quiet = advance(PRE_TRIP, step=0, started_at=at("2026-05-01T00:00Z"), now=at("2026-05-03T08:00Z"),
                    facts={}, customer=withdrawn, departure=departure)  # fmt: skip
    assert (quiet.status, quiet.emits) == ("done", ()), "no consent for service messages: no reminder"
