"""Feedback domain: bookings that travel together are one trip with one survey; invitation reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.feedback.domain.surveys import InvitationStatus, invitation_changes
from services.feedback.domain.trips import Booking, TripStatus, survey_for_trip, trip_of

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
SETTLE = timedelta(hours=48)


def b(name: str, start_h: float, end_h: float, status: TripStatus = TripStatus.COMPLETED, **kw: object) -> Booking:
    return Booking("sys", name, status, T0 + timedelta(hours=start_h), T0 + timedelta(hours=end_h), **kw)  # type: ignore[arg-type]


def test_overlapping_and_adjacent_bookings_chain_into_one_trip() -> None:
    out, stay, home = b("out", 0, 9), b("stay", 10, 80), b("home", 90, 99)
    elsewhere = b("later", 24 * 10, 24 * 10 + 5)
    assert [x.booking_id for x in trip_of(home, [out, stay, home, elsewhere])] == ["out", "stay", "home"]
    assert [x.booking_id for x in trip_of(elsewhere, [out, stay, home, elsewhere])] == ["later"]


def test_cancelled_bookings_join_no_trip() -> None:
    out, bridge, home = b("out", 0, 9), b("bridge", 10, 80, TripStatus.CANCELLED), b("home", 90, 99)
    assert [x.booking_id for x in trip_of(out, [out, bridge, home])] == ["out"]


def test_a_trip_is_surveyed_once_all_its_parts_are_done() -> None:
    out, stay = b("out", 0, 9), b("stay", 10, 80, TripStatus.BOOKED)
    during = T0 + timedelta(hours=20)
    assert not survey_for_trip([out, stay], now=during, settle=SETTLE).create
    done = b("stay", 10, 80)
    assert survey_for_trip([out, done], now=during, settle=SETTLE).create
    silent_long_ago = T0 + timedelta(hours=80) + SETTLE + timedelta(minutes=1)
    assert survey_for_trip([out, stay], now=silent_long_ago, settle=SETTLE).create, "a part that never reported"


def test_a_trip_with_a_survey_gets_no_other() -> None:
    out, stay = b("out", 0, 9, survey_id="srv_1"), b("stay", 10, 80)
    decision = survey_for_trip([out, stay], now=T0 + timedelta(days=9), settle=SETTLE)
    assert (decision.create, decision.existing_survey_id) == (False, "srv_1")


def test_nothing_completed_nothing_to_ask() -> None:
    assert not survey_for_trip([b("out", 0, 9, TripStatus.IN_PROGRESS)], now=T0, settle=SETTLE).create


def test_an_outcome_is_never_undone_by_a_late_hold() -> None:
    sent, held = InvitationStatus.SENT, InvitationStatus.HELD
    assert not invitation_changes(sent, T0, held, T0 + timedelta(minutes=1))
    assert invitation_changes(held, T0 + timedelta(minutes=1), sent, T0)
    assert invitation_changes(InvitationStatus.PLANNED, T0, held, T0 + timedelta(seconds=1))
    assert not invitation_changes(held, T0 + timedelta(hours=1), held, T0)
