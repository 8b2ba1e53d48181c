"""Language-aware formatting of dates, money and trip segments for messages.

Deliberately independent of the process locale: a worker renders English and German
mail side by side. Datetimes arrive as ISO 8601 strings with the offset the booking
system gave, which is the local time at the place of departure; they are shown in
that offset, never converted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from services.kit.dates import as_date, long_date

_WEEKDAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "de": ("Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."),
}
_WORDS = {
    "en": {
        "flight": "Flight",
        "hotel": "Hotel",
        "car": "Car",
        "rail": "Train",
        "departs": "departs",
        "rail_departs": "departs",
        "local": "local time",
        "pickup": "pick-up",
        "return": "return",
        "night": "night",
        "nights": "nights",
        "time_suffix": "",
    },
    "de": {
        "flight": "Flug",
        "hotel": "Hotel",
        "car": "Mietwagen",
        "rail": "Zug",
        "departs": "Abflug",
        "rail_departs": "Abfahrt",
        "local": "Ortszeit",
        "pickup": "Abholung",
        "return": "Rückgabe",
        "night": "Nacht",
        "nights": "Nächte",
        "time_suffix": " Uhr",
    },
}


def _lang(language: str) -> str:
    return language if language in _WEEKDAYS else "en"


def _as_datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def local_datetime(value: datetime | str, language: str = "en") -> str:
    """`Tue 1 Dec 2026, 10:15` / `Di., 1. Dez. 2026, 10:15 Uhr`, in the value's own offset."""
    lang = _lang(language)
    dt = _as_datetime(value)
    weekday = _WEEKDAYS[lang][dt.weekday()]
    sep = ", " if lang == "de" else " "
    return f"{weekday}{sep}{long_date(dt, lang)}, {dt:%H:%M}{_WORDS[lang]['time_suffix']}"


def money(amount: Decimal | float | str | None, currency: str | None, language: str = "en") -> str:
    """`1,234.50 EUR` / `1.234,50 EUR`; empty when there is no amount."""
    if amount is None or amount == "":
        return ""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    text = f"{value:,.2f}"
    if _lang(language) == "de":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return f"{text} {currency}" if currency else text


def segment_line(segment: Mapping[str, Any], language: str = "en") -> str:
    """One line describing a trip segment (flight, hotel, car or rail)."""
    lang = _lang(language)
    w = _WORDS[lang]
    kind = segment.get("kind")
    if kind == "flight":
        return (
            f"{w['flight']} {segment['carrier']} {segment['flight_number']}: "
            f"{segment['origin']} → {segment['destination']}, "
            f"{w['departs']} {local_datetime(segment['departure_at'], lang)} ({w['local']})"
        )
    if kind == "hotel":
        check_in, check_out = as_date(segment["check_in"]), as_date(segment["check_out"])
        nights = (check_out - check_in).days
        return (
            f"{w['hotel']}: {segment['hotel_name']}, {segment['city']}, "
            f"{long_date(check_in, lang)} – {long_date(check_out, lang)} "
            f"({nights} {w['night'] if nights == 1 else w['nights']})"
        )
    if kind == "car":
        return (
            f"{w['car']} {segment['vendor']}: {w['pickup']} {segment['pickup_location']} "
            f"{local_datetime(segment['pickup_at'], lang)}, "
            f"{w['return']} {segment['dropoff_location']} {local_datetime(segment['dropoff_at'], lang)}"
        )
    if kind == "rail":
        return (
            f"{w['rail']} {segment['operator']}: {segment['origin']} → {segment['destination']}, "
            f"{w['rail_departs']} {local_datetime(segment['departure_at'], lang)} ({w['local']})"
        )
    return str(kind or "segment")
