"""Times and dates read from a request only as the ISO 8601 text the OpenAPI document promises.

Pydantic alone reads a number as epoch seconds (or days) where the schema says `date-time`/`date`:
a client sending `0.5` would get 1970 instead of the 422 the document promises. These types keep
pydantic's parsing and refuse anything but text first.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator

__all__ = ["IsoDate", "IsoDateTime", "IsoInstant"]

_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date_time_text(value: object) -> object:
    # Values built in code (datetime objects) pass; wire values must be ISO text.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE_TIME.fullmatch(value):
        raise ValueError("expects an ISO 8601 date-time with an offset, e.g. 2026-12-01T00:00:00Z")
    return value


def _date_text(value: object) -> object:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("expects an ISO 8601 date, e.g. 2026-12-01")
    return value


IsoInstant = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]
IsoDateTime = Annotated[datetime, BeforeValidator(_date_time_text)]
IsoDate = Annotated[date, BeforeValidator(_date_text)]
