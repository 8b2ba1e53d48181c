"""Airport time zones from the `airportsdata` package (the IATA table notifications uses too)."""

from __future__ import annotations

import functools
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import airportsdata


@functools.cache
def _zones() -> dict[str, str]:
    return {code: a["tz"] for code, a in airportsdata.load("IATA").items() if a.get("tz")}


def airport_zone(code: str | None) -> tzinfo:
    """The zone of an IATA airport; UTC when the table does not know it."""
    name = _zones().get(code or "")
    if name is None:
        return UTC
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        return UTC


def warm() -> None:
    """Load the table (about half a second) before the first booking needs it."""
    _zones()
