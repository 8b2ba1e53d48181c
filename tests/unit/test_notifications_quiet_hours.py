"""Quiet hours in the zone the traveller is in: exact across daylight-saving changes and zone changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifications.domain.itinerary import marks_of
from services.notifications.domain.model import (
    QUIET_HOURS,
    Defer,
    DispatchRules,
    PendingDelivery,
    Recipient,
    RetryPolicy,
    Send,
    decide,
)
from services.notifications.domain.quiet_hours import QuietHours, quiet_hours_end
from services.notifications.domain.zones import Mark, Whereabouts

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute daylight saving
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/St_Johns",
    "Europe/London",
]
# Around the daylight-saving changes of 2026 in both hemispheres.
CHANGES = [datetime(2026, 3, 8), datetime(2026, 3, 29), datetime(2026, 4, 5), datetime(2026, 10, 4),
           datetime(2026, 10, 25), datetime(2026, 11, 1)]  # fmt: skip


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def windows() -> st.SearchStrategy[QuietHours]:
    minutes = st.integers(0, 24 * 60 - 1).map(lambda m: time(m // 60, m % 60))
    return st.builds(QuietHours, start=minutes, end=minutes).filter(lambda w: w.start != w.end)


def instants() -> st.SearchStrategy[datetime]:
    return st.builds(
        lambda day, seconds: (day + timedelta(seconds=seconds) - timedelta(days=1)).replace(tzinfo=UTC),
        st.sampled_from(CHANGES),
        st.integers(0, 3 * 24 * 3600),
    )


def _inside(where: Whereabouts, window: QuietHours, instant: datetime) -> bool:
    return window.contains(instant.astimezone(where.zone_at(instant)).time())


def _check_hold(where: Whereabouts, window: QuietHours, now: datetime) -> None:
    """The hold ends at the first instant the traveller's local clock is outside the window."""
    end = quiet_hours_end(now, window, where)
    if end is None:
        assert not _inside(where, window, now)
        return
    assert end > now
    assert not _inside(where, window, end), f"still quiet at {end}"
    assert _inside(where, window, end - timedelta(seconds=1)) or end - timedelta(seconds=1) < now
    steps = 97
    for i in range(steps):
        probe = now + (end - now) * i / steps
        assert _inside(where, window, probe), f"held at {probe}, which is not quiet"


@settings(max_examples=400, deadline=None)
@given(now=instants(), window=windows(), zone=st.sampled_from(ZONES))
def test_a_hold_ends_exactly_when_the_local_clock_leaves_the_window(
    now: datetime, window: QuietHours, zone: str
) -> None:
    _check_hold(Whereabouts(ZoneInfo(zone)), window, now)


def test_a_window_end_in_the_spring_gap_ends_the_hold_when_the_clock_jumps() -> None:
    # 29 March 2026 in Berlin: 02:00 CET jumps to 03:00 CEST (01:00 UTC). A 01:00-02:30 window
    # ends at the jump, not half an hour later.
    window = QuietHours(time(1, 0), time(2, 30))
    assert quiet_hours_end(utc(2026, 3, 29, 0, 30), window, BERLIN) == utc(2026, 3, 29, 1, 0)


def test_the_repeated_autumn_hour_is_quiet_both_times() -> None:
    # 25 October 2026 in Berlin: 03:00 CEST falls back to 02:00 CET (01:00 UTC). At 01:15 UTC
    # the clock shows 02:15 again, inside a 01:00-02:30 window, until 02:30 CET (01:30 UTC).
    window = QuietHours(time(1, 0), time(2, 30))
    assert quiet_hours_end(utc(2026, 10, 25, 1, 15), window, BERLIN) == utc(2026, 10, 25, 1, 30)


def test_a_clock_falling_back_out_of_the_window_ends_the_hold() -> None:
    # 02:30-05:00: at 03:00 CEST the clock falls back to 02:00 CET, outside the window (until 02:30).
    window = QuietHours(time(2, 30), time(5, 0))
    assert quiet_hours_end(utc(2026, 10, 25, 0, 45), window, BERLIN) == utc(2026, 10, 25, 1, 0)


# A trip across zones


def _flight(origin_zone: str, destination_zone: str, departs: datetime, arrives: datetime) -> list[Mark]:
    segment = {
        "kind": "flight",
        "departure_at": departs.isoformat(),
        "arrival_at": arrives.isoformat(),
        "origin_place": {"name": "origin", "zone": origin_zone},
        "destination_place": {"name": "destination", "zone": destination_zone},
    }
    return marks_of([segment])


def test_the_itinerary_puts_the_traveller_where_the_trip_is() -> None:
    marks = _flight("Europe/Berlin", "America/New_York", utc(2026, 12, 1, 9, 15), utc(2026, 12, 1, 18, 5))
    where = Whereabouts.of(ZoneInfo("Asia/Tokyo"), marks)
    assert where.zone_at(utc(2026, 11, 30, 12)) == ZoneInfo("Asia/Tokyo"), "before the trip: at home"
    assert where.zone_at(utc(2026, 12, 1, 10)) == BERLIN, "from take-off at the origin's zone"
    assert where.zone_at(utc(2026, 12, 1, 19)) == NEW_YORK, "from landing in New York"
    assert where.zone_at(utc(2026, 12, 20)) == ZoneInfo("Asia/Tokyo"), "a one-way flight holds two weeks at most"


def test_a_message_held_in_frankfurt_waits_for_the_morning_in_new_york() -> None:
    # 22:30 in Berlin; the traveller lands in New York at 01:00 New York time (06:00 UTC) and the
    # Berlin morning (07:00 = 06:00 UTC) is the middle of the night there: quiet until 07:00 New York.
    marks = _flight("Europe/Berlin", "America/New_York", utc(2026, 12, 1, 21, 0), utc(2026, 12, 2, 6, 0))
    where = Whereabouts.of(BERLIN, marks)
    window = QuietHours(time(22, 0), time(7, 0))
    assert quiet_hours_end(utc(2026, 12, 1, 21, 30), window, where) == utc(2026, 12, 2, 12, 0)


def test_landing_where_it_is_day_ends_the_hold_on_landing() -> None:
    # Quiet in New York at 23:00; the traveller lands in Berlin at 08:00 Berlin time.
    marks = _flight("America/New_York", "Europe/Berlin", utc(2026, 12, 1, 23, 0), utc(2026, 12, 2, 7, 0))
    where = Whereabouts.of(NEW_YORK, marks)
    window = QuietHours(time(22, 0), time(7, 0))
    assert quiet_hours_end(utc(2026, 12, 2, 4, 0), window, where) == utc(2026, 12, 2, 7, 0)


@settings(max_examples=300, deadline=None)
@given(
    now=instants(),
    window=windows(),
    zones=st.lists(st.sampled_from(ZONES), min_size=2, max_size=4),
    hops=st.lists(st.integers(60, 36 * 60), min_size=1, max_size=3),
    start=st.integers(-24 * 60, 24 * 60),
)
def test_quiet_hours_follow_a_trip_across_zones(
    now: datetime, window: QuietHours, zones: list[str], hops: list[int], start: int
) -> None:
    marks: list[Mark] = []
    departs = now + timedelta(minutes=start)
    for origin, destination, minutes in zip(zones, zones[1:], hops, strict=False):
        arrives = departs + timedelta(minutes=minutes)
        marks += _flight(origin, destination, departs, arrives)
        departs = arrives + timedelta(hours=3)
    _check_hold(Whereabouts.of(ZoneInfo(zones[0]), marks), window, now)


def test_the_dispatcher_never_sends_a_held_message_inside_the_current_zones_window() -> None:
    """A service message decided again and again over a trip goes when it is day where the traveller is."""
    rules = DispatchRules(
        quiet_hours=QuietHours(time(22, 0), time(7, 0)),
        contact_retry=RetryPolicy(base=timedelta(seconds=1), cap=timedelta(minutes=1), max_attempts=5),
        contact_wait=timedelta(hours=1),
    )
    marks = _flight("Europe/Berlin", "Asia/Dubai", utc(2026, 12, 1, 21, 45), utc(2026, 12, 2, 3, 45))
    delivery = PendingDelivery(
        delivery_id="dlv_1", customer_id="cus_1", channel="email", template="survey_invitation",
        purpose="service", created_at=utc(2026, 12, 1, 21, 30),
    )  # fmt: skip
    recipient = Recipient("cus_1", "Ann Lee", email="ann@example.com", time_zone="Europe/Berlin")
    now = utc(2026, 12, 1, 21, 30)  # 22:30 in Berlin: quiet
    for _ in range(5):
        decision = decide(
            delivery=delivery, recipient=recipient, consents=[], quiet_hours=None, rules=rules, now=now,
            itinerary=marks,
        )  # fmt: skip
        if isinstance(decision, Send):
            break
        assert isinstance(decision, Defer)
        assert decision.reason == QUIET_HOURS
        now = decision.until
    else:
        raise AssertionError("never sent")
    assert now == utc(2026, 12, 2, 3, 45), "landing in Dubai at 07:45 local time ends the hold (04:45 in Berlin)"
    assert not rules.quiet_hours.contains(now.astimezone(ZoneInfo("Asia/Dubai")).time())
