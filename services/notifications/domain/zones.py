"""Which time zone a traveller is in, now and over the next days.

The itinerary says where a traveller is while a trip lasts: at the departure airport from
take-off, at the arrival airport from landing, in the hotel's city from check-in, and so on
(`Mark`s, derived in `itinerary`). A mark holds until a later mark takes over, or for
`STAY_LIMIT` at most (a one-way flight says nothing about where the traveller is a month
later). Outside every mark, the traveller is at home.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

STAY_LIMIT = timedelta(days=14)


def zone_named(name: str | None) -> ZoneInfo | None:
    """The IANA zone called `name`, or None when there is no such zone."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def resolve_zone(*names: str | None) -> tzinfo:
    """The first valid IANA zone among `names`, else UTC."""
    for name in names:
        zone = zone_named(name)
        if zone is not None:
            return zone
    return UTC


def zone_label(zone: tzinfo) -> str:
    """An IANA name for a zone (UTC for the fixed UTC zone)."""
    return str(getattr(zone, "key", None) or zone.tzname(None) or "UTC")


@dataclass(frozen=True)
class Mark:
    """From `at` on (and before `until`), the itinerary puts the traveller in `zone`."""

    at: datetime
    zone: str
    until: datetime
    place: str = ""


@dataclass(frozen=True)
class Whereabouts:
    """The traveller's time zone over time: the itinerary's where it says something, else home."""

    home: tzinfo
    marks: tuple[Mark, ...] = ()

    @classmethod
    def of(cls, home: tzinfo, marks: Iterable[Mark]) -> Whereabouts:
        usable = [m for m in marks if m.until > m.at and zone_named(m.zone) is not None]
        return cls(home, tuple(sorted(usable, key=lambda m: (m.at, m.until))))

    def mark_at(self, instant: datetime) -> Mark | None:
        """The latest mark that holds at `instant`, if any."""
        found = None
        for mark in self.marks:
            if mark.at > instant:
                break
            if instant < mark.until:
                found = mark
        return found

    def zone_at(self, instant: datetime) -> tzinfo:
        mark = self.mark_at(instant)
        if mark is None:
            return self.home
        return zone_named(mark.zone) or self.home

    def changes(self, after: datetime, before: datetime) -> list[datetime]:
        """Instants in (after, before) at which the zone may change (a mark starts or ends)."""
        cuts = {t for m in self.marks for t in (m.at, m.until) if after < t < before}
        return sorted(cuts)
