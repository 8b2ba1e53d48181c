"""Language-aware formatting of dates, money and trip segments for messages.

Deliberately independent of the process locale: a worker renders English and German
mail side by side. Datetimes arrive as ISO 8601 strings with whatever offset the booking
system gave. A departure or arrival is shown in the time zone of the airport (station,
rental desk) it happens at, named with the place and the zone's abbreviation ("10:15 local
time in Frankfurt am Main (CET)"); where the place is not known, the time is shown as sent,
labelled with its UTC offset - never as an unqualified "local time".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from services.kit.dates import as_date, long_date
from services.notifications.domain.itinerary import Place, place_of
from services.notifications.domain.zones import zone_named

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
        "arrives": "arrives",
        "rail_departs": "departs",
        "local_in": "local time in {place}",
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
        "arrives": "Ankunft",
        "rail_departs": "Abfahrt",
        "local_in": "Ortszeit {place}",
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


def _clock(dt: datetime, lang: str) -> str:
    return f"{dt:%H:%M}{_WORDS[lang]['time_suffix']}"


def _abbreviation(dt: datetime) -> str:
    """CET, EST; `UTC+04` where the zone has no letters for itself."""
    name = dt.tzname() or ""
    if not name or name[0] in "+-":
        offset = dt.strftime("%z")
        return f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    return name


def place_time(value: datetime | str, place: Place | None, language: str = "en", *, with_date: bool = True) -> str:
    """A time at a place: in the place's zone and labelled with it, else as sent with its offset."""
    lang = _lang(language)
    dt = _as_datetime(value)
    zone = zone_named(place.zone) if place is not None else None
    if place is not None and zone is not None:
        dt = dt.astimezone(zone)
        label = f"{_WORDS[lang]['local_in'].format(place=place.name)} ({_abbreviation(dt)})"
    else:
        label = f"({_abbreviation(dt)})"
    shown = local_datetime(dt, lang) if with_date else _clock(dt, lang)
    return f"{shown} {label}"


def _journey(segment: Mapping[str, Any], lang: str, departs: str, start: str, end: str) -> str:
    """`departs <time at origin>, arrives <time at destination>` (the date again only when it differs)."""
    w = _WORDS[lang]
    origin, destination = place_of(segment, "origin_place"), place_of(segment, "destination_place")
    left, arrived = segment[start], segment.get(end)
    text = f"{departs} {place_time(left, origin, lang)}"
    if arrived:
        local_left = _in_zone(_as_datetime(left), origin)
        local_arrived = _in_zone(_as_datetime(arrived), destination)
        same_day = local_left.date() == local_arrived.date()
        text += f", {w['arrives']} {place_time(arrived, destination, lang, with_date=not same_day)}"
    return text


def _in_zone(dt: datetime, place: Place | None) -> datetime:
    zone = zone_named(place.zone) if place is not None else None
    return dt.astimezone(zone) if zone is not None else dt


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
            f"{_journey(segment, lang, w['departs'], 'departure_at', 'arrival_at')}"
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
            f"{place_time(segment['pickup_at'], place_of(segment, 'pickup_place'), lang)}, "
            f"{w['return']} {segment['dropoff_location']} "
            f"{place_time(segment['dropoff_at'], place_of(segment, 'dropoff_place'), lang)}"
        )
    if kind == "rail":
        return (
            f"{w['rail']} {segment['operator']}: {segment['origin']} → {segment['destination']}, "
            f"{_journey(segment, lang, w['rail_departs'], 'departure_at', 'arrival_at')}"
        )
    return str(kind or "segment")
