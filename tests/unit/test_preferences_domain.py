"""The preferences domain: what bookings reveal, inference, precedence, validation, policy."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.kit import sealing
from services.kit.contracts.bookings import CarSegmentV1, FlightSegmentV1, HotelSegmentV1
from services.kit.contracts.preferences import PreferenceV1
from services.kit.settings import DEV_LINK_KEY
from services.preferences.domain import catalogue, codes, inference, policy
from services.preferences.domain.catalogue import CABINS, CAR_CLASSES, HAULS, InvalidPreferenceError
from services.preferences.domain.inference import Inference, Observation, haul, observe, seat_position, wilson_lower
from services.preferences.domain.model import CustomerPreferences, Preference
from services.preferences.domain.policy import RAIL_RANK, TravelPolicy
from services.preferences.service_layer import publishing

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def flight(seat: str | None, *, day: int = 0, hours: float = 1.5, cabin: str = "economy", **kw: Any) -> FlightSegmentV1:
    dep = T0 + timedelta(days=day)
    values: dict[str, Any] = {
        "carrier": "LH", "flight_number": "100", "origin": "FRA", "destination": "MUC", "departure_at": dep,
        "arrival_at": dep + timedelta(hours=hours), "cabin": cabin, "seat": seat,
    }  # fmt: skip
    values.update(kw)
    return FlightSegmentV1(**values)


def customer_with_flights(seats: list[str], *, hours: float = 1.5) -> CustomerPreferences:
    c = CustomerPreferences(customer_id="cus_1")
    for i, seat in enumerate(seats):
        c.record_booking(booking=f"gds:B{i}", kind="created", segments=[flight(seat, day=i, hours=hours)], at=T0)
    return c


# --- what a booking reveals --------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="module")
def _link_keys() -> None:
    """Questions seal their answer tokens with the process's link keys (the service's bootstrap sets them)."""
    sealing.configure([DEV_LINK_KEY])


def test_haul_by_block_time() -> None:
    assert haul(timedelta(hours=1)) == "short_haul"
    assert haul(timedelta(hours=3)) == "medium_haul"
    assert haul(timedelta(hours=5, minutes=59)) == "medium_haul"
    assert haul(timedelta(hours=6)) == "long_haul"


@pytest.mark.parametrize(
    ("seat", "haul_name", "position"),
    [("14A", "short_haul", "window"), ("14F", "short_haul", "window"), ("3C", "short_haul", "aisle"),
     ("3D", "medium_haul", "aisle"), ("3B", "short_haul", "middle"), ("40K", "long_haul", "window"),
     ("40G", "long_haul", "aisle"), ("40E", "long_haul", "middle"), ("40F", "long_haul", "middle")],
)  # fmt: skip
def test_seat_position_from_letter(seat: str, haul_name: str, position: str) -> None:
    assert seat_position(seat, haul_name) == position


def test_a_booking_reveals_cabin_seat_meal_hotel_and_car() -> None:
    hotel = HotelSegmentV1(
        hotel_name="Westin", chain_code="WI", city="Berlin", country="DE", check_in=date(2026, 1, 5),
        check_out=date(2026, 1, 7), star_rating=5, room_type="Superior Twin",
    )  # fmt: skip
    car = CarSegmentV1(
        vendor="SX", pickup_location="TXL", dropoff_location="TXL", pickup_at=T0, dropoff_at=T0 + timedelta(days=2),
        car_class="IFMR",
    )  # fmt: skip
    obs = {
        o.dimension: o.value
        for o in observe([flight("2A", hours=10, cabin="business", meal="kSML"), hotel, car], booking="b")
    }
    assert obs["air.cabin.long_haul"] == "business"
    assert obs["air.seat.long_haul"] == "window"
    assert obs["air.meal"] == "KSML"
    assert obs["hotel.chains.preferred"] == "WI"
    assert obs["hotel.star_min"] == 5
    assert obs["hotel.room_type"] == "superior"
    assert obs["hotel.bed_type"] == "twin"
    assert obs["car.class"] == "intermediate"
    assert obs["car.transmission"] == "manual"
    assert obs["air.departure_window"] == "morning"


# --- inference ---------------------------------------------------------------------------------


@pytest.mark.parametrize("year", [2026, 999])
def test_evidence_details_spell_dates_and_times_as_strftime_does(year: int) -> None:
    dep = datetime(year, 3, 4, 7, 5, tzinfo=UTC)
    seg = flight("3C", hours=1.5, departure_at=dep, arrival_at=dep + timedelta(hours=1))
    details = {o.dimension: o.detail for o in observe([seg], booking="gds:B1")}
    assert details["air.airlines.preferred"] == f"LH100 FRA-MUC {dep:%Y-%m-%d}"
    assert details["air.departure_window"] == f"LH100 FRA-MUC {dep:%Y-%m-%d}: departs {dep:%H:%M}"


def test_eight_of_ten_aisle_seats_infer_aisle_with_matching_confidence() -> None:
    c = customer_with_flights(["3C"] * 8 + ["3A", "3F"])
    p = c.preferences()["air.seat.short_haul"]
    assert p.value == "aisle"
    assert p.source == "inferred"
    assert p.evidence_count == 8
    assert p.confidence == pytest.approx(wilson_lower(0.8, 10), abs=0.01)
    assert 0.6 < p.confidence < 0.7


def test_confidence_grows_with_consistent_evidence() -> None:
    few = customer_with_flights(["3C"] * 2).preferences()["air.seat.short_haul"].confidence
    many = customer_with_flights(["3C"] * 10).preferences()["air.seat.short_haul"].confidence
    assert few < many
    assert many > 0.9


def test_inference_follows_changed_behaviour() -> None:
    c = customer_with_flights(["3C"] * 10 + ["3A"] * 8)
    p = c.preferences()["air.seat.short_haul"]
    assert p.value == "window"
    assert p.evidence_count == 8


def test_a_changed_booking_replaces_its_evidence_and_a_cancelled_one_withdraws_it() -> None:
    c = CustomerPreferences(customer_id="cus_1")
    c.record_booking(booking="gds:B1", kind="created", segments=[flight("3C")], at=T0)
    c.record_booking(booking="gds:B1", kind="changed", segments=[flight("3A")], at=T0)
    inference = c.inferences()["air.seat.short_haul"]
    assert (inference.value, inference.observed_count) == ("window", 1)
    c.record_booking(booking="gds:B1", kind="cancelled", segments=[], at=T0)
    assert "air.seat.short_haul" not in c.inferences()


def test_stated_beats_inferred_and_declined_inference_is_dropped() -> None:
    c = customer_with_flights(["3C"] * 10)
    c.set_explicit("air.seat.short_haul", "window", source="stated", set_by="traveller", at=T0)
    p = c.preferences()["air.seat.short_haul"]
    assert (p.value, p.source, p.confidence) == ("window", "stated", 1.0)
    c2 = customer_with_flights(["3C", "3C", "3C", "3A"])
    asked = c2.confirmations_to_ask(new_request_id=iter(["r1"]), at=T0)
    assert [(a.key, a.value) for a in asked] == [("air.seat.short_haul", "aisle")]
    c2.answer_confirmation("air.seat.short_haul", accepted=False, answered_by="traveller", at=T0)
    assert "air.seat.short_haul" not in c2.preferences()
    assert c2.confirmations_to_ask(new_request_id=iter(["r2"]), at=T0) == []


def test_the_question_worth_asking_comes_first() -> None:
    # Two alike flights: seat, cabin, airline, stops and departure time are each worth a question;
    # the traveller may get only one of them (notifications sends one a week), so seat and cabin lead.
    c = CustomerPreferences(customer_id="c1")
    for day in range(2):
        c.record_booking(booking=f"b{day}", kind="created", segments=[flight("3C", day=day)], at=T0)
    asked = c.confirmations_to_ask(new_request_id=(f"r{n}" for n in range(10)), at=T0)
    assert [a.key for a in asked] == [
        "air.seat.short_haul", "air.cabin.short_haul", "air.airlines.preferred", "air.stops.max",
        "air.departure_window",
    ]  # fmt: skip
    assert [a.request_id for a in asked] == ["r0", "r1", "r2", "r3", "r4"]


def test_accepted_confirmation_becomes_stated() -> None:
    c = customer_with_flights(["3C", "3C", "3C", "3A"])
    c.confirmations_to_ask(new_request_id=iter(["r1"]), at=T0)
    c.answer_confirmation("air.seat.short_haul", accepted=True, answered_by="traveller", at=T0)
    assert c.preferences()["air.seat.short_haul"].source == "stated"


def test_an_inference_is_confirmed_or_rejected_without_being_asked() -> None:
    c = customer_with_flights(["3C"] * 8)  # sure enough to use, so never asked about
    assert c.confirmations_to_ask(new_request_id=iter(["r1"]), at=T0) == []
    assert c.inferred_value("air.seat.short_haul") == "aisle"
    assert c.inferred_value("air.seat.long_haul") is None
    c.confirm_inference("air.seat.short_haul", "aisle", accepted=True, source="agent", set_by="dev-agent", at=T0)
    p = c.preferences()["air.seat.short_haul"]
    assert (p.value, p.source, p.confidence) == ("aisle", "agent", 1.0)

    c = customer_with_flights(["3C"] * 8)
    c.confirm_inference("air.seat.short_haul", "aisle", accepted=False, source="agent", set_by="dev-agent", at=T0)
    assert "air.seat.short_haul" not in c.preferences()
    assert c.declined == {"air.seat.short_haul": ["aisle"]}
    # Behaviour changes: the new value is inferred, the declined one stays declined.
    for i in range(10):
        c.record_booking(booking=f"gds:W{i}", kind="created", segments=[flight("3A", day=20 + i)], at=T0)
    assert c.preferences()["air.seat.short_haul"].value == "window"
    # Accepting a value declined earlier takes it off the declined list.
    c.confirm_inference("air.seat.short_haul", "aisle", accepted=True, source="stated", set_by="dev-agent", at=T0)
    assert c.declined == {}
    assert c.preferences()["air.seat.short_haul"].source == "stated"


def test_confirming_or_rejecting_closes_the_question_about_that_value() -> None:
    c = customer_with_flights(["3C", "3C", "3C", "3A"])
    assert [a.value for a in c.confirmations_to_ask(new_request_id=iter(["r1"]), at=T0)] == ["aisle"]
    # Rejecting another value leaves the question about "aisle" recorded: it is not asked twice.
    c.confirm_inference("air.seat.short_haul", "middle", accepted=False, source="agent", set_by="a", at=T0)
    assert "air.seat.short_haul" in c.asked
    assert c.confirmations_to_ask(new_request_id=iter(["r2"]), at=T0) == []
    c.confirm_inference("air.seat.short_haul", "aisle", accepted=False, source="agent", set_by="a", at=T0)
    assert c.asked == {}
    assert c.confirmations_to_ask(new_request_id=iter(["r3"]), at=T0) == []
    assert "air.seat.short_haul" not in c.preferences()

    c = customer_with_flights(["3C", "3C", "3C", "3A"])
    c.confirmations_to_ask(new_request_id=iter(["r1"]), at=T0)
    c.confirm_inference("air.seat.short_haul", "aisle", accepted=True, source="agent", set_by="a", at=T0)
    assert c.asked == {}
    assert c.preferences()["air.seat.short_haul"].source == "agent"


def test_state_survives_its_json_form() -> None:
    c = customer_with_flights(["3C", "3C", "3C", "3A"])
    c.set_explicit("comms.language", "de", source="agent", set_by="dev-agent", at=T0)
    again = CustomerPreferences.from_json("cus_1", c.to_json(), company_id=None, last_event_at=None)
    assert again.preferences() == c.preferences()


def test_absorbing_a_duplicate_pools_evidence() -> None:
    a = customer_with_flights(["3C"] * 3)
    b = CustomerPreferences(customer_id="cus_2")
    for i in range(3):
        b.record_booking(booking=f"other:B{i}", kind="created", segments=[flight("3D", day=10 + i)], at=T0)
    a.absorb(b)
    assert a.preferences()["air.seat.short_haul"].evidence_count == 6


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [("air.airlines.preferred", ["ZZ"], "unknown airline code 'ZZ'"), ("hotel.star_min", 9, "between 1 and 5"),
     ("air.cabin.long_haul", "luxury", "not one of"), ("comms.home_time_zone", "Mars/Olympus", "unknown time zone"),
     ("comms.language", "xx", "unknown language"), ("air.meal", "PIZZA", "unknown meal code"),
     ("comms.quiet_hours", {"start": "25:00", "end": "07:00"}, "HH:MM"), ("air.stops.max", True, "number of stops"),
     ("needs.dietary", ["carnivore"], "not one of"), ("no.such.key", 1, "unknown preference key")],
)  # fmt: skip
def test_validation_rejects_nonsense_with_a_clear_message(key: str, value: Any, fragment: str) -> None:
    with pytest.raises(InvalidPreferenceError, match=fragment):
        catalogue.validate(key, value)


def test_validation_canonicalises() -> None:
    assert catalogue.validate("air.airlines.preferred", ["lh", "LH", "ba"]) == ["LH", "BA"]
    assert catalogue.validate("comms.language", "EN-gb") == "en-GB"
    assert catalogue.validate("comms.quiet_hours", {"start": "22:00", "end": "07:00"}) == {
        "start": "22:00",
        "end": "07:00",
    }
    with pytest.raises(InvalidPreferenceError, match="both preferred and avoided"):
        catalogue.check_consistency({"air.airlines.preferred": ["LH"], "air.airlines.avoided": ["LH"]})


def test_every_code_valued_key_names_a_table_that_names_its_allowed_codes() -> None:
    tables = codes.name_tables()
    coded = {s.key: s for s in catalogue.SPECS.values() if s.code_table is not None}
    assert {"air.meal", "air.airlines.preferred", "hotel.chains.avoided", "car.vendors.preferred"} <= set(coded)
    for spec in coded.values():
        assert spec.code_table in tables, spec.key
        assert set(spec.allowed) <= set(tables[spec.code_table]), spec.key
    # Every airline a preference may name has a name to show.
    assert set(tables["airlines"]) == set(codes.AIRLINES)


# --- policy ------------------------------------------------------------------------------------


def pref(key: str, value: Any, source: str = "stated") -> Preference:
    return Preference(key, value, source, 1.0, 0, T0, T0)  # type: ignore[arg-type]  # test data


ACME = TravelPolicy.from_json(
    "com_acme",
    {
        "cabin_rules": [{"min_hours": 0, "max_cabin": "economy"}, {"min_hours": 6, "max_cabin": "business"}],
        "hotel_max_star": 4,
        "hotel_rate_caps": {
            "London": {"amount": "300", "currency": "GBP"},
            "default": {"amount": "180", "currency": "EUR"},
        },
        "blocked_airlines": ["FR"],
        "preferred_hotel_chains": ["MC"],
        "advance_booking_days": 14,
    },
)


def test_policy_caps_business_on_medium_haul_and_explains_the_conflict() -> None:
    effective, conflicts = policy.resolve({"air.cabin.medium_haul": pref("air.cabin.medium_haul", "business")}, ACME)
    assert effective["air.cabin.medium_haul"].value == "economy"
    assert effective["air.cabin.medium_haul"].source == "policy"
    assert [c.message for c in conflicts] == [
        "prefers business on medium-haul flights; policy allows economy under 6 h"
    ]
    assert effective["air.cabin.long_haul"].value == "business"
    assert effective["policy.advance_booking_days"].value == 14
    assert effective["policy.hotel.rate_caps"].value["London"] == {"amount": "300", "currency": "GBP"}
    assert effective["hotel.chains.preferred"].value == ["MC"]


def test_policy_blocks_airlines_and_keeps_stricter_preferences() -> None:
    mine = {
        "air.airlines.preferred": pref("air.airlines.preferred", ["FR", "LH"]),
        "air.airlines.avoided": pref("air.airlines.avoided", ["BA"]),
        "hotel.star_min": pref("hotel.star_min", 3),
        "air.cabin.long_haul": pref("air.cabin.long_haul", "premium_economy"),
    }
    effective, conflicts = policy.resolve(mine, ACME)
    assert effective["air.airlines.preferred"].value == ["LH"]
    assert effective["air.airlines.avoided"].value == ["BA", "FR"]
    assert effective["hotel.star_min"].value == 3
    assert effective["air.cabin.long_haul"].value == "premium_economy"
    assert {c.key for c in conflicts} == {"air.airlines.preferred"}


def test_invalid_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown airline"):
        TravelPolicy.from_json("c", {"blocked_airlines": ["ZZ"]})
    with pytest.raises(ValueError, match="unknown cabin"):
        TravelPolicy.from_json("c", {"cabin_rules": [{"min_hours": 0, "max_cabin": "hammock"}]})
    with pytest.raises(ValueError, match="less than or equal to 5"):
        TravelPolicy.from_json("c", {"hotel_max_star": 9})


# --- properties --------------------------------------------------------------------------------

seats = st.sampled_from(["3A", "3B", "3C", "3D", "3E", "3F", "40G", "40K"])
cabins = st.sampled_from(CABINS)
hauls = st.sampled_from(HAULS)


@st.composite
def customers(draw: st.DrawFn) -> CustomerPreferences:
    c = CustomerPreferences(customer_id="cus_p")
    for i in range(draw(st.integers(0, 25))):
        seg = flight(draw(seats), day=draw(st.integers(0, 900)), hours=draw(st.floats(0.5, 14)), cabin=draw(cabins))
        c.record_booking(booking=f"gds:{i}", kind="created", segments=[seg], at=T0)
    return c


@st.composite
def policies(draw: st.DrawFn) -> TravelPolicy:
    hours = draw(st.lists(st.sampled_from([0.0, 2.0, 3.0, 4.5, 6.0, 9.0]), unique=True, max_size=4))
    return TravelPolicy(
        company_id="c",
        cabin_rules=tuple(policy.CabinRule(min_hours=h, max_cabin=draw(cabins)) for h in hours),
        hotel_max_star=draw(st.none() | st.integers(1, 5)),
        max_car_class=draw(st.none() | st.sampled_from(CAR_CLASSES)),
        max_rail_class=draw(st.none() | st.sampled_from(list(RAIL_RANK))),
        blocked_airlines=tuple(draw(st.lists(st.sampled_from(["FR", "U2", "W6", "LH"]), unique=True, max_size=2))),
    )


@settings(max_examples=200, deadline=None)
@given(c=customers(), haul_name=hauls, stated=cabins, seat=st.sampled_from(["window", "aisle", "middle"]))
def test_property_stated_always_beats_inferred(c: CustomerPreferences, haul_name: str, stated: str, seat: str) -> None:
    c.set_explicit(f"air.cabin.{haul_name}", stated, source="stated", set_by="t", at=T0)
    c.set_explicit(f"air.seat.{haul_name}", seat, source="stated", set_by="t", at=T0)
    prefs = c.preferences()
    assert prefs[f"air.cabin.{haul_name}"].value == stated
    assert prefs[f"air.cabin.{haul_name}"].source == "stated"
    assert prefs[f"air.seat.{haul_name}"].value == seat


@settings(max_examples=300, deadline=None)
@given(
    p=policies(),
    cabin=st.dictionaries(hauls, cabins),
    star=st.none() | st.integers(1, 5),
    car=st.none() | st.sampled_from(CAR_CLASSES),
    rail=st.none() | st.sampled_from(list(RAIL_RANK)),
    avoided=st.lists(st.sampled_from(["BA", "FR", "AF"]), unique=True),
)
def test_property_policy_never_loosens_a_stricter_preference(
    p: TravelPolicy, cabin: dict[str, str], star: int | None, car: str | None, rail: str | None, avoided: list[str]
) -> None:
    mine = {f"air.cabin.{h}": pref(f"air.cabin.{h}", v) for h, v in cabin.items()}
    if star is not None:
        mine["hotel.star_min"] = pref("hotel.star_min", star)
    if car is not None:
        mine["car.class"] = pref("car.class", car)
    if rail is not None:
        mine["rail.class"] = pref("rail.class", rail)
    if avoided:
        mine["air.airlines.avoided"] = pref("air.airlines.avoided", avoided)
    effective, conflicts = policy.resolve(mine, p)
    for h, wanted in cabin.items():
        got = effective[f"air.cabin.{h}"].value
        assert CABINS.index(got) <= CABINS.index(wanted)
        allowed = p.allowed_cabin(policy.HAUL_MIN_HOURS[h])
        if allowed is not None:
            assert CABINS.index(got) <= CABINS.index(allowed)
    if star is not None:
        assert effective["hotel.star_min"].value <= star
    if car is not None:
        assert CAR_CLASSES.index(effective["car.class"].value) <= CAR_CLASSES.index(car)
    if rail is not None:
        assert RAIL_RANK[effective["rail.class"].value] <= RAIL_RANK[rail]
    assert set(avoided) <= set(effective.get("air.airlines.avoided", pref("x", [])).value)
    for c in conflicts:
        assert c.key in mine  # a conflict is always about something the traveller wanted


# --- the fast paths agree with their plain definitions ----------------------------------------------

OFFSETS = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]


@st.composite
def observation_lists(draw: st.DrawFn) -> list[Observation]:
    """Observations with ties in time (also across time zones), repeated bookings and mixed value types."""
    out = []
    for i in range(draw(st.integers(0, 14))):
        hours = draw(st.integers(0, 3) | st.integers(0, 24 * 800))  # few distinct times: ties in weight
        at = T0 + timedelta(hours=hours, microseconds=draw(st.sampled_from([0, 0, 1, 999_999])))
        value = draw(st.sampled_from(["aisle", "window", "middle", 1, 2]))
        booking = f"gds:{draw(st.integers(0, max(0, i)))}"
        local = at.astimezone(draw(st.sampled_from(OFFSETS)))
        out.append(Observation("air.seat.short_haul", value, booking, local, ""))
    return out


def plain_infer(dimension: str, observations: list[Observation]) -> Inference | None:
    """`infer` as first written: the definition the optimised one must keep to the last bit."""
    recent = sorted(observations, key=lambda o: (o.at, o.booking, str(o.value)))[-inference.WINDOW :]
    if not recent:
        return None
    newest = recent[-1].at
    weights: dict[Any, float] = {}
    counts: dict[Any, int] = {}
    latest: dict[Any, datetime] = {}
    for o in recent:
        age_days = max((newest - o.at).total_seconds(), 0.0) / 86400
        weights[o.value] = weights.get(o.value, 0.0) + 0.5 ** (age_days / inference.HALF_LIFE_DAYS)
        counts[o.value] = counts.get(o.value, 0) + 1
        latest[o.value] = max(latest.get(o.value, o.at), o.at)
    total = sum(weights.values())
    winner = max(weights, key=lambda v: (round(weights[v], 9), latest[v], str(v)))
    share = weights[winner] / total
    supporting = [o for o in recent if o.value == winner]
    return Inference(
        dimension=dimension,
        value=winner,
        confidence=round(wilson_lower(share, len(recent)), 4),
        evidence_count=counts[winner],
        observed_count=len(recent),
        share=round(share, 4),
        first_seen=supporting[0].at,
        last_seen=supporting[-1].at,
        alternatives=tuple(
            sorted(((v, c) for v, c in counts.items() if v != winner), key=lambda vc: (-vc[1], str(vc[0])))
        ),
    )


@settings(max_examples=500, deadline=None)
@given(observations=observation_lists())
def test_property_infer_equals_its_plain_definition(observations: list[Observation]) -> None:
    got = inference.infer("air.seat.short_haul", observations)
    expected = plain_infer("air.seat.short_haul", observations)
    assert got == expected
    if got is not None and expected is not None:  # the same instants, and the same offsets
        assert (got.first_seen.utcoffset(), got.last_seen.utcoffset()) == (
            expected.first_seen.utcoffset(),
            expected.last_seen.utcoffset(),
        )


@settings(max_examples=200, deadline=None)
@given(bookings=st.lists(st.lists(st.sampled_from(["3A", "3C", "3E", "40K"]), min_size=1, max_size=3), max_size=12))
def test_property_a_booking_keeps_the_newest_observations(bookings: list[list[str]]) -> None:
    c = CustomerPreferences(customer_id="cus_p")
    everything: list[Observation] = []
    for i, seat_letters in enumerate(bookings):
        segments = [flight(s, day=(7 * i + 3 * j) % 20, hours=1.5) for j, s in enumerate(seat_letters)]
        c.record_booking(booking=f"gds:{i}", kind="created", segments=segments, at=T0)
        everything += observe(segments, booking=f"gds:{i}")
    for dimension, kept in c.observations.items():
        mine = [o for o in everything if o.dimension == dimension]
        newest = sorted(mine, key=lambda o: (o.at, o.booking, str(o.value)))[-catalogue.KEEP_OBSERVATIONS :]
        assert kept == newest


@settings(max_examples=150, deadline=None)
@given(
    before=st.lists(st.sampled_from(["3A", "3C", "40K"]), max_size=14),
    steps=st.lists(
        st.tuples(
            st.sampled_from(["created", "changed", "cancelled"]), st.integers(0, 16), st.sampled_from(["3A", "3E"])
        ),
        max_size=4,
    ),
)
def test_property_loaded_state_writes_back_as_if_serialised_afresh(
    before: list[str], steps: list[tuple[str, int, str]]
) -> None:
    # Dimensions a change did not touch are written back from the stored JSON: the same JSON.
    c = customer_with_flights(before)
    loaded = CustomerPreferences.from_json("cus_1", c.to_json(), company_id=None, last_event_at=None)
    for kind, n, seat in steps:
        segments = [flight(seat, day=n, hours=9.5 if n % 3 else 1.5)] if kind != "cancelled" else []
        loaded.record_booking(booking=f"gds:B{n}", kind=kind, segments=segments, at=T0)
    assert loaded.to_json() == loaded.copy().to_json()  # a copy has nothing stored: serialised afresh
    # Every list stays in the window's order, so a dimension's window is the tail of its list.
    for obs in loaded.observations.values():
        assert obs == inference.window(obs, len(obs))
    assert loaded.inferences() == {d: i for d, obs in loaded.observations.items() if (i := inference.infer(d, obs))}


@pytest.mark.parametrize("tz", [*OFFSETS, timezone(timedelta(seconds=3600)), ZoneInfo("Europe/Berlin")])
def test_published_form_is_what_the_snapshot_model_dumps(tz: Any) -> None:
    at = datetime(2026, 7, 1, 6, 30, 0, 250_000, tzinfo=tz)
    prefs = {
        "air.airlines.preferred": Preference("air.airlines.preferred", ["LH"], "inferred", 0.62, 3, at, at),
        "air.departure_window": Preference(
            "air.departure_window", {"earliest": "07:00", "latest": "11:59"}, "inferred", 0.5, 1, at, at
        ),
        "hotel.star_min": Preference("hotel.star_min", 4, "stated", 1, 0, at, at),
    }
    form = publishing._published_form(publishing.Effective(prefs, [], None))
    assert form["preferences"] == [PreferenceV1(**p._asdict()).model_dump(mode="json") for p in prefs.values()]


# Text the wire can carry: no NUL (decoding refuses it; PostgreSQL cannot store it), no lone surrogate.
_WIRE_CHARS = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | st.text(_WIRE_CHARS, max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(_WIRE_CHARS, max_size=2), inner, max_size=3),
    max_leaves=8,
)
ZONES = st.sampled_from(
    [*OFFSETS, timezone(timedelta(seconds=3661)), ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")]
)


@settings(max_examples=300, deadline=None)
@given(at=st.datetimes(timezones=ZONES, allow_imaginary=False), value=JSON_VALUES)
def test_property_published_entry_is_what_pydantic_dumps(at: datetime, value: Any) -> None:
    p = Preference("hotel.star_min", value, "inferred", 0.5, 1, at, at)
    assert publishing._published_entries({p.key: p}) == [PreferenceV1(**p._asdict()).model_dump(mode="json")]
    # The same instant in another zone is spelt in that zone's time (times are remembered by instant and zone).
    other = Preference("hotel.star_min", value, "inferred", 0.5, 1, at.astimezone(UTC), at.astimezone(UTC))
    assert publishing._published_entries({p.key: other}) == [PreferenceV1(**other._asdict()).model_dump(mode="json")]


@settings(max_examples=300, deadline=None)
@given(a=JSON_VALUES, b=JSON_VALUES)
def test_property_same_json_is_equality_of_comparable_forms(a: Any, b: Any) -> None:
    assert publishing._same_json(a, b) == (publishing._comparable(a) == publishing._comparable(b))
    assert publishing._same_json(a, a)


def test_changed_keys_ignore_the_key_order_of_stored_json() -> None:
    window = {"earliest": "07:00", "latest": "11:59"}
    stored_window = {"latest": "11:59", "earliest": "07:00"}  # as jsonb spelled it
    before = {
        "preferences": [
            {"key": "air.departure_window", "value": stored_window, "source": "inferred"},
            {"key": "hotel.star_min", "value": 4, "source": "stated"},
        ]
    }
    after = {
        "preferences": [
            {"key": "air.departure_window", "value": window, "source": "inferred"},
            {"key": "hotel.star_min", "value": 4.0, "source": "stated"},
        ]
    }
    assert publishing._changed_keys(before, after) == ("hotel.star_min",)  # 4 and 4.0 are different JSON


@settings(max_examples=150, deadline=None)
@given(
    c=customers(),
    travel_policy=st.none() | policies(),
    explicit=st.none() | JSON_VALUES,
    now=st.datetimes(timezones=ZONES, allow_imaginary=False),
)
@example(c=CustomerPreferences(customer_id="cus_p"), travel_policy=None, explicit=[float("inf"), 1e300], now=T0)
@example(c=CustomerPreferences(customer_id="cus_p"), travel_policy=None, explicit=[float("nan"), 2**70], now=T0)
def test_property_published_events_are_what_their_models_dump(
    c: CustomerPreferences, travel_policy: TravelPolicy | None, explicit: Any, now: datetime
) -> None:
    # Events written from the service's JSON forms (`encode_new`) are byte for byte the envelopes
    # their models, validated and dumped, give: the same snapshots, changes and questions.
    from services.kit.contracts.envelope import Envelope, decode_envelope, encode_envelope
    from services.kit.contracts.preferences import (
        PreferenceChangedV1,
        PreferenceConfirmationRequestedV1,
        PreferenceSnapshotV1,
    )
    from services.preferences.adapters.repository import CustomerRow, PolicyRow
    from tests import builders

    if explicit is not None:
        c.set_explicit("hotel.room_type", explicit, source="stated", set_by="t", at=T0)
    c.company_id, c.last_event_at = "c", T0
    row = CustomerRow(prefs=c, version=2, published={"preferences": [], "conflicts": [], "policy_version": None})
    policy_row = (
        None
        if travel_policy is None
        else PolicyRow("c", 4, travel_policy.model_dump(mode="json", exclude={"company_id"}), False, "t", T0)
    )
    cause = builders.booking_created()
    out = publishing.refresh(row, policy_row, now=now, caused_by=cause)
    questions = []
    for _, event in out.events:
        wire = encode_envelope(event)
        decoded = decode_envelope(wire, event.headers())
        payload = decoded.payload
        if isinstance(payload, PreferenceSnapshotV1):
            assert row.published is not None
            model: Any = PreferenceSnapshotV1.model_validate(
                {"customer_id": "cus_p", "version": 3, "updated_at": now, "company_id": "c", "last_event_at": T0}
                | {k: row.published[k] for k in ("preferences", "conflicts", "policy_version")}
            )
        elif isinstance(payload, PreferenceChangedV1):
            model = PreferenceChangedV1(customer_id="cus_p", version=3, changed_keys=payload.changed_keys)
        else:
            assert isinstance(payload, PreferenceConfirmationRequestedV1)
            model = PreferenceConfirmationRequestedV1.model_validate(payload.model_dump())
            # The link's token travels in the event; only its digest is recorded, with the link's expiry.
            # (JSON spells offsets to the minute: an odd zone's seconds are lost on the wire.)
            expires_at = now + publishing.QUESTION_TTL
            token = builders.answer_token(payload)  # sealed: the topic never shows it in clear
            assert payload.expires_at is not None
            assert abs((payload.expires_at - expires_at).total_seconds()) < 60
            token_hash = publishing.token_digest(token)
            questions.append(
                (payload.request_id, "cus_p", payload.key, payload.value, payload.confidence, now, token_hash,
                 expires_at)
            )  # fmt: skip
        expected = Envelope.new(
            model, producer="preferences", subject_id="cus_p", caused_by=cause,
            event_id=decoded.event_id, occurred_at=decoded.occurred_at,
        )  # fmt: skip
        assert wire == encode_envelope(expected)
        assert event.headers() == expected.headers()
    assert out.asks == questions


@settings(max_examples=200, deadline=None)
@given(
    times=st.lists(st.datetimes(timezones=ZONES, allow_imaginary=False), min_size=1, max_size=3),
    values=st.lists(JSON_VALUES, min_size=1, max_size=6),
    sensitive=st.booleans(),
)
def test_property_published_entries_are_what_pydantic_dumps_of_each(
    times: list[datetime], values: list[Any], sensitive: bool
) -> None:
    keys = sorted(k for k in catalogue.SPECS if catalogue.is_sensitive(k) == sensitive or not sensitive)
    prefs = {
        keys[i % len(keys)]: Preference(keys[i % len(keys)], v, "inferred", 0.5, i, times[i % len(times)], times[0])
        for i, v in enumerate(values)
    }
    expected = [
        PreferenceV1(**p._asdict()).model_dump(mode="json") for k, p in prefs.items() if not catalogue.is_sensitive(k)
    ]
    assert publishing._published_entries(prefs) == expected
    assert [type(e["value"]) for e in publishing._published_entries(prefs)] == [type(e["value"]) for e in expected]


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        (None, "en"),
        ("", "en"),
        ("de", "de"),
        ("de-AT", "de"),
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("en-GB,en;q=0.9,de;q=0.8", "en"),
        ("fr, de;q=0.5, en;q=0.7", "en"),
        ("fr, de;q=0.5", "de"),
        ("de;q=0, en", "en"),
        ("*", "en"),
        ("de;q=oops", "en"),
    ],
)
def test_the_answer_page_speaks_the_first_of_its_languages_the_browser_prefers(header: str | None, lang: str) -> None:
    from services.preferences.entrypoints.answer_pages import page_language

    assert page_language(header) == lang


def test_every_key_has_a_german_description_and_questions_in_both_languages() -> None:
    assert set(catalogue.DESCRIPTIONS_DE) == set(catalogue.SPECS)
    assert catalogue.questions("air.seat.long_haul", "window") == {
        "en": "Seat position on long-haul flights: is window right for you?",
        "de": "Sitzplatz auf Langstreckenflügen: Ist „Fenster“ richtig für Sie?",
    }
    assert catalogue.question("rail.class", "second", "de") == "Klasse bei Bahnreisen: Ist „2. Klasse“ richtig für Sie?"
    window = {"earliest": "07:00", "latest": "11:59"}
    assert catalogue.question("air.departure_window", window) == (
        "Preferred departure time window (local time): is 07:00-11:59 right for you?"
    )
    assert catalogue.question("air.departure_window", window, "de").endswith("Ist „07:00–11:59 Uhr“ richtig für Sie?")
