"""Language-aware formatting of dates, money and trip segments for messages.

Deliberately independent of the process locale: a worker renders English, German and Chinese
mail side by side. Dates and times are written with Babel (CLDR's patterns, month and weekday
names); the patterns are fixed per language so a message reads the same whatever Babel's
defaults become. Datetimes arrive as ISO 8601 strings with whatever offset the booking
system gave. A departure or arrival is shown in the time zone of the airport (station,
rental desk) it happens at, named with the place and the zone's abbreviation ("10:15 local
time in Frankfurt am Main (CET)", "11:30（上海当地时间，UTC+8）"); where the place is not
known, the time is shown as sent, labelled with its UTC offset - never as an unqualified
"local time". A time of the traveller's own (`zone_time`) is shown where they are at that
moment, labelled with the zone's city ("09:30 (Shanghai, CST)", "09:30（上海时间）").
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, get_timezone_location
from babel.numbers import format_decimal

from services.kit.dates import as_date
from services.notifications.domain.itinerary import Place, place_of
from services.notifications.domain.zones import zone_named

# Babel patterns per language: a date with its weekday and clock, a date alone, a clock alone.
_DATETIME = {
    "en": "EEE d MMM y, HH:mm",
    "de": "EEE, d. MMM y, HH:mm 'Uhr'",
    "zh": "y年M月d日（EEE）HH:mm",
}
_DATE = {"en": "d MMM y", "de": "d. MMM y", "zh": "y年M月d日"}
_CLOCK = {"en": "HH:mm", "de": "HH:mm 'Uhr'", "zh": "HH:mm"}
_LOCALE = {lang: Locale.parse(tag) for lang, tag in {"en": "en_GB", "de": "de_DE", "zh": "zh_Hans_CN"}.items()}
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
    },
    "zh": {
        "flight": "航班",
        "hotel": "酒店",
        "car": "租车",
        "rail": "火车",
        "departs": "起飞",
        "arrives": "到达",
        "rail_departs": "出发",
        "local_in": "{place}当地时间",
        "pickup": "取车",
        "return": "还车",
        "night": "晚",
        "nights": "晚",
    },
}


def _lang(language: str) -> str:
    return language if language in _WORDS else "en"


def _as_datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def as_instant(value: datetime | str) -> datetime:
    """An aware instant from a datetime or ISO text (a naive one read as UTC)."""
    dt = _as_datetime(value)
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _babel(dt: datetime, pattern: str, lang: str) -> str:
    # The instant is written in its own offset: Babel is given the offset it already has.
    return format_datetime(dt, pattern, tzinfo=dt.tzinfo, locale=_LOCALE[lang])


def local_datetime(value: datetime | str, language: str = "en") -> str:
    """`Tue 1 Dec 2026, 10:15` / `Di., 1. Dez. 2026, 10:15 Uhr` / `2026年12月1日（周二）10:15`, in its own offset."""
    lang = _lang(language)
    return _babel(_as_datetime(value), _DATETIME[lang], lang)


def long_date(value: date | datetime | str, language: str = "en") -> str:
    """`1 Dec 2026` / `1. Dez. 2026` / `2026年12月1日` (English for a language without its own spelling)."""
    lang = _lang(language)
    return format_date(as_date(value), _DATE[lang], locale=_LOCALE[lang])


def _clock(dt: datetime, lang: str) -> str:
    return _babel(dt, _CLOCK[lang], lang)


def _offset(dt: datetime) -> str:
    """`UTC+01:00`; `UTC` at offset zero."""
    offset = dt.strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}" if offset and offset != "+0000" else "UTC"


def _short_offset(dt: datetime) -> str:
    """`UTC+8`, `UTC+5:30`, `UTC-5`: how a Chinese reader is used to seeing an offset."""
    offset = dt.strftime("%z")
    if not offset or offset == "+0000":
        return "UTC"
    hours, minutes = int(offset[1:3]), offset[3:5]
    return f"UTC{offset[0]}{hours}" + (f":{minutes}" if minutes != "00" else "")


def _abbreviation(dt: datetime) -> str:
    """CET, EST; `UTC+04:00` where the zone has no letters for itself."""
    name = dt.tzname() or ""
    if not name or name[0] in "+-":
        return _offset(dt)
    return name


def _zone_city(zone: tzinfo, lang: str) -> str | None:
    """The city a zone is named after, in the language (`Shanghai`, `上海`); None for UTC and the like."""
    key = getattr(zone, "key", None)
    if not key or "/" not in key or key.startswith("Etc/"):
        return None
    return _city_of(key, lang)


@functools.lru_cache(maxsize=1024)
def _city_of(key: str, lang: str) -> str | None:
    # CLDR's lookup walks the locale's metazone data: worth keeping (a few hundred zones at most).
    try:
        return str(get_timezone_location(ZoneInfo(key), locale=_LOCALE[lang], return_city=True))
    except (LookupError, ValueError):
        return None


def _place_name(place: Place, lang: str) -> str:
    """The place's name; in Chinese, CLDR's name when the place is the city its zone is named after."""
    if lang == "zh":
        zone = zone_named(place.zone)
        if zone is not None and _zone_city(zone, "en") == place.name:
            return _zone_city(zone, "zh") or place.name
    return place.name


def zone_time(value: datetime | str, zone: tzinfo, language: str = "en", *, with_date: bool = True) -> str:
    """A time where the traveller is (`zone`), labelled with the zone's city and abbreviation.

    `Tue 1 Dec 2026, 09:30 (Shanghai, CST)`, `2026年12月1日（周二）09:30（上海时间）`; a zone without
    a city (UTC) is labelled with its offset alone.
    """
    lang = _lang(language)
    dt = _as_datetime(value).astimezone(zone)
    shown = local_datetime(dt, lang) if with_date else _clock(dt, lang)
    city = _zone_city(zone, lang)
    if lang == "zh":
        return f"{shown}（{city}时间）" if city else f"{shown}（{_short_offset(dt)}）"
    return f"{shown} ({city}, {_abbreviation(dt)})" if city else f"{shown} ({_abbreviation(dt)})"


def place_time(value: datetime | str, place: Place | None, language: str = "en", *, with_date: bool = True) -> str:
    """A time at a place: in the place's zone and labelled with it, else as sent with its offset."""
    lang = _lang(language)
    dt = _as_datetime(value)
    zone = zone_named(place.zone) if place is not None else None
    shown_at = dt.astimezone(zone) if zone is not None else dt
    shown = local_datetime(shown_at, lang) if with_date else _clock(shown_at, lang)
    if place is not None and zone is not None:
        where = _WORDS[lang]["local_in"].format(place=_place_name(place, lang))
        if lang == "zh":
            return f"{shown}（{where}，{_short_offset(shown_at)}）"
        return f"{shown} {where} ({_abbreviation(shown_at)})"
    if lang == "zh":
        return f"{shown}（{_offset(shown_at)}）"
    return f"{shown} ({_abbreviation(shown_at)})"


def _journey(segment: Mapping[str, Any], lang: str, departs: str, start: str, end: str) -> str:
    """`departs <time at origin>, arrives <time at destination>` (the date again only when it differs)."""
    w = _WORDS[lang]
    origin, destination = place_of(segment, "origin_place"), place_of(segment, "destination_place")
    left, arrived = segment[start], segment.get(end)
    text = f"{departs}{_space(lang)}{place_time(left, origin, lang)}"
    if arrived:
        local_left = _in_zone(_as_datetime(left), origin)
        local_arrived = _in_zone(_as_datetime(arrived), destination)
        same_day = local_left.date() == local_arrived.date()
        arrival = place_time(arrived, destination, lang, with_date=not same_day)
        text += f"{_comma(lang)}{w['arrives']}{_space(lang)}{arrival}"
    return text


def _in_zone(dt: datetime, place: Place | None) -> datetime:
    zone = zone_named(place.zone) if place is not None else None
    return dt.astimezone(zone) if zone is not None else dt


def money(amount: Decimal | float | str | None, currency: str | None, language: str = "en") -> str:
    """`1,234.50 EUR` / `1.234,50 EUR` / `1,234.50 EUR`; empty when there is no amount."""
    if amount is None or amount == "":
        return ""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    lang = _lang(language)
    text = format_decimal(value, format="#,##0.00", locale=_LOCALE[lang])
    return f"{text} {currency}" if currency else text


def segment_line(segment: Mapping[str, Any], language: str = "en") -> str:
    """One line describing a trip segment (flight, hotel, car or rail)."""
    lang = _lang(language)
    w = _WORDS[lang]
    kind = segment.get("kind")
    c, sep, sp = _colon(lang), _comma(lang), _space(lang)
    if kind == "flight":
        return (
            f"{w['flight']} {segment['carrier']} {segment['flight_number']}{c}"
            f"{segment['origin']} → {segment['destination']}{sep}"
            f"{_journey(segment, lang, w['departs'], 'departure_at', 'arrival_at')}"
        )
    if kind == "hotel":
        check_in, check_out = as_date(segment["check_in"]), as_date(segment["check_out"])
        nights = (check_out - check_in).days
        return (
            f"{w['hotel']}{c}{segment['hotel_name']}{sep}{segment['city']}{sep}"
            f"{long_date(check_in, lang)} – {long_date(check_out, lang)}{sp}"
            f"{_parenthesised(_nights(nights, lang), lang)}"
        )
    if kind == "car":
        return (
            f"{w['car']} {segment['vendor']}{c}{w['pickup']} {segment['pickup_location']} "
            f"{place_time(segment['pickup_at'], place_of(segment, 'pickup_place'), lang)}{sep}"
            f"{w['return']} {segment['dropoff_location']} "
            f"{place_time(segment['dropoff_at'], place_of(segment, 'dropoff_place'), lang)}"
        )
    if kind == "rail":
        return (
            f"{w['rail']} {segment['operator']}{c}{segment['origin']} → {segment['destination']}{sep}"
            f"{_journey(segment, lang, w['rail_departs'], 'departure_at', 'arrival_at')}"
        )
    return str(kind or "segment")


def _colon(lang: str) -> str:
    return "：" if lang == "zh" else ": "


def _nights(nights: int, lang: str) -> str:
    w = _WORDS[lang]
    if lang == "zh":
        return f"{nights}{w['nights']}"
    return f"{nights} {w['night'] if nights == 1 else w['nights']}"


def _comma(lang: str) -> str:
    return "，" if lang == "zh" else ", "


def _space(lang: str) -> str:
    return "" if lang == "zh" else " "


def _parenthesised(text: str, lang: str) -> str:
    return f"（{text}）" if lang == "zh" else f"({text})"
