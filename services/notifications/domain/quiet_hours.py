"""Quiet hours: a daily window of the traveller's local time in which non-urgent messages wait.

"Local" is where the traveller is at each moment (`Whereabouts`): a message held in
Frankfurt at 23:00 for a traveller who lands in New York at 01:00 New York time waits
until the window ends in New York. The end of a hold is exact across daylight-saving
changes: a window end that falls into a gap of the clock ends the hold when the clock
jumps past it, and a repeated hour holds as long as the wall clock is inside the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Literal

from services.notifications.domain.zones import Whereabouts

# A window never holds a message longer than a day; the horizon leaves room for zone changes.
_HORIZON = timedelta(days=3)
_PROBE = timedelta(minutes=30)  # clocks never change twice within this


@dataclass(frozen=True)
class QuietHours:
    """A daily window, in the traveller's local time, in which non-urgent messages wait.

    `start > end` means the window crosses midnight (22:00-07:00); `start == end` is empty.
    """

    start: time
    end: time
    enabled: bool = True

    def contains(self, local: time) -> bool:
        local = local.replace(tzinfo=None)
        if not self.enabled or self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


DEFAULT_QUIET_HOURS = QuietHours(start=time(22, 0), end=time(7, 0))


def _offset_change(zone: tzinfo, after: datetime, until: datetime) -> datetime | None:
    """The first instant in (after, until] at which `zone`'s UTC offset differs from at `after`."""
    offset = after.astimezone(zone).utcoffset()
    lo = after
    while lo < until:
        hi = min(lo + _PROBE, until)
        if hi.astimezone(zone).utcoffset() != offset:
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(zone).utcoffset() == offset:
                    lo = mid
                else:
                    hi = mid
            # Offsets change on whole seconds: the change is the whole second in (lo, hi].
            whole = hi.replace(microsecond=0)
            return whole if whole > lo else hi
        lo = hi
    return None


def _wall_time_until(local: datetime, end: time) -> timedelta:
    """How long the wall clock at `local` takes to show `end` next (never zero)."""
    naive = local.replace(tzinfo=None)
    target = datetime.combine(naive.date(), end.replace(tzinfo=None))
    if target <= naive:
        target += timedelta(days=1)
    return target - naive


def quiet_hours_end(now: datetime, window: QuietHours, where: tzinfo | Whereabouts) -> datetime | None:
    """When the quiet window around `now` ends (UTC), or None when `now` is not in it.

    Walks the time ahead in pieces over which both the traveller's zone and its UTC offset
    stay the same; within a piece the wall clock runs evenly, so the window ends when it
    shows `window.end`, or at the piece's start if the clock (or the place) jumped out of it.
    """
    whereabouts = where if isinstance(where, Whereabouts) else Whereabouts(where)
    now = now.astimezone(UTC)
    if not window.contains(now.astimezone(whereabouts.zone_at(now)).time()):
        return None
    horizon = now + _HORIZON
    cuts = [*whereabouts.changes(now, horizon), horizon]
    t = now
    while t < horizon:
        zone = whereabouts.zone_at(t)
        local = t.astimezone(zone)
        if t > now and not window.contains(local.time()):
            return t
        piece_end = next(c for c in cuts if c > t)
        exit_at = t + _wall_time_until(local, window.end)
        jump = _offset_change(zone, t, min(exit_at, piece_end))
        if jump is not None:
            t = jump
        elif exit_at < piece_end:
            return exit_at
        else:
            t = piece_end
    return horizon


def send_not_before(
    *, purpose: Literal["transactional", "service", "marketing"], now: datetime, window: QuietHours,
    zone: tzinfo | Whereabouts,
) -> datetime | None:  # fmt: skip
    """When a message may go out: None for now; transactional messages ignore quiet hours."""
    if purpose == "transactional":
        return None
    return quiet_hours_end(now, window, zone)
