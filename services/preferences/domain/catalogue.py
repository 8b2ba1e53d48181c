"""The preference catalogue: every key, what its value looks like, and how it is checked.

Keys are dotted (`air.cabin.long_haul`). `validate(key, value)` returns the value in
canonical form (codes upper-cased, lists de-duplicated) or raises `InvalidPreferenceError`
with a message a traveller's tool can show as is.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from services.kit.sensitive import preference_category
from services.preferences.domain import codes
from services.preferences.domain.inference import ACRISS_CATEGORY, DEPARTURE_WINDOWS, WINDOW

KEEP_OBSERVATIONS = WINDOW + 5
HAULS = ("short_haul", "medium_haul", "long_haul")
CABINS = ("economy", "premium_economy", "business", "first")
SEATS = ("window", "aisle", "middle")
RAIL_CLASSES = ("standard", "second", "business", "first")
ROOM_TYPES = ("standard", "superior", "deluxe", "executive", "studio", "suite")
CAR_CLASSES = tuple(dict.fromkeys(ACRISS_CATEGORY.values()))
CHANNELS = ("email", "sms", "push", "chat")  # the channels notifications delivers on
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_CODE2 = re.compile(r"^[A-Z0-9]{2}$")


class InvalidPreferenceError(ValueError):
    """A preference value that makes no sense; the message says why."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


Validator = Callable[[str, Any], Any]


@dataclass(frozen=True)
class KeySpec:
    key: str
    description: str
    validate: Validator
    kind: str  # for the catalogue endpoint: enum | enum_list | code_list | int | bool | window | object_list
    allowed: tuple[str, ...] = ()
    sensitive: bool = False
    list_valued: bool = False
    minimum: int | None = None
    maximum: int | None = None
    code_table: str | None = None  # the table of `codes.name_tables()` naming the key's codes


def _enum(allowed: Sequence[str]) -> Validator:
    def check(key: str, value: Any) -> str:
        if not isinstance(value, str) or value.lower() not in allowed:
            raise InvalidPreferenceError(key, f"{value!r} is not one of {', '.join(allowed)}")
        return value.lower()

    return check


def _enum_list(allowed: Sequence[str], *, max_items: int = 10) -> Validator:
    single = _enum(allowed)

    def check(key: str, value: Any) -> list[str]:
        items = _as_list(key, value, max_items)
        return list(dict.fromkeys(single(key, v) for v in items))

    return check


def _as_list(key: str, value: Any, max_items: int) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidPreferenceError(key, "expects a list")
    if len(value) > max_items:
        raise InvalidPreferenceError(key, f"at most {max_items} entries")
    return value


def _airlines(key: str, value: Any) -> list[str]:
    out = []
    for item in _as_list(key, value, 20):
        code = item.upper() if isinstance(item, str) else item
        if not isinstance(code, str) or code not in codes.AIRLINES:
            raise InvalidPreferenceError(
                key, f"unknown airline code {item!r} (IATA two-character designator, e.g. 'LH')"
            )
        out.append(code)
    return list(dict.fromkeys(out))


def _gds_codes(what: str, example: str) -> Validator:
    def check(key: str, value: Any) -> list[str]:
        out = []
        for item in _as_list(key, value, 20):
            code = item.upper() if isinstance(item, str) else item
            if not isinstance(code, str) or not _CODE2.fullmatch(code):
                raise InvalidPreferenceError(
                    key, f"{item!r} is not a {what} code (two letters or digits, e.g. {example!r})"
                )
            out.append(code)
        return list(dict.fromkeys(out))

    return check


def _int_range(lo: int, hi: int, unit: str) -> Validator:
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise InvalidPreferenceError(key, f"{value!r} is not a {unit} between {lo} and {hi}")
        return int(value)

    return check


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidPreferenceError(key, "expects true or false")
    return value


def _time(key: str, value: Any, name: str) -> str:
    if not isinstance(value, str) or not _HHMM.fullmatch(value):
        raise InvalidPreferenceError(key, f"{name} must be a time HH:MM, got {value!r}")
    return value


def _window(start: str, end: str, *, may_wrap: bool) -> Validator:
    def check(key: str, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or set(value) != {start, end}:
            raise InvalidPreferenceError(key, f"expects {{{start!r}: 'HH:MM', {end!r}: 'HH:MM'}}")
        a, b = _time(key, value[start], start), _time(key, value[end], end)
        if not may_wrap and a >= b:
            raise InvalidPreferenceError(key, f"{start} must be before {end}")
        if a == b:
            raise InvalidPreferenceError(key, f"{start} and {end} must differ")
        return {start: a, end: b}

    return check


def _language(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidPreferenceError(key, "expects an ISO 639-1 language code, e.g. 'de'")
    base, _, region = value.partition("-")
    if base.lower() not in codes.LANGUAGES or (region and not re.fullmatch(r"[A-Za-z]{2}", region)):
        raise InvalidPreferenceError(key, f"unknown language {value!r} (ISO 639-1, optionally with a region: 'en-GB')")
    return base.lower() + (f"-{region.upper()}" if region else "")


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _time_zone(key: str, value: Any) -> str:
    if not isinstance(value, str) or value not in _zones():
        raise InvalidPreferenceError(key, f"unknown time zone {value!r} (IANA name, e.g. 'Europe/Berlin')")
    return value


def _text_list(key: str, value: Any) -> list[str]:
    out = []
    for item in _as_list(key, value, 10):
        if not isinstance(item, str) or not 1 <= len(item.strip()) <= 50:
            raise InvalidPreferenceError(key, "entries are names of 1 to 50 characters")
        out.append(item.strip())
    return list(dict.fromkeys(out))


def _meal(key: str, value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in codes.MEAL_CODES:
        raise InvalidPreferenceError(key, f"unknown meal code {value!r} (IATA SSR code, e.g. 'VGML')")
    return value.upper()


def _loyalty(key: str, value: Any) -> list[dict[str, str]]:
    out = []
    for item in _as_list(key, value, 30):
        if not isinstance(item, dict) or set(item) != {"programme", "number"}:
            raise InvalidPreferenceError(key, "entries are {'programme': ..., 'number': ...}")
        programme, number = item["programme"], item["number"]
        if not isinstance(programme, str) or not 2 <= len(programme.strip()) <= 50:
            raise InvalidPreferenceError(
                key, "programme is a code or name of 2 to 50 characters, e.g. 'LH' or 'Bonvoy'"
            )
        if not isinstance(number, str) or not re.fullmatch(r"[A-Za-z0-9-]{3,30}", number.strip()):
            raise InvalidPreferenceError(key, f"membership number {number!r} must be 3 to 30 letters, digits or '-'")
        out.append({"programme": programme.strip(), "number": number.strip().upper()})
    return out


def _specs() -> list[KeySpec]:
    specs: list[KeySpec] = []
    for h in HAULS:
        label = h.replace("_", "-")
        specs.append(KeySpec(f"air.seat.{h}", f"Seat position on {label} flights", _enum(SEATS), "enum", SEATS))
        specs.append(KeySpec(f"air.cabin.{h}", f"Cabin on {label} flights", _enum(CABINS), "enum", CABINS))
    specs += [
        KeySpec("air.airlines.preferred", "Preferred airlines (IATA codes)", _airlines, "code_list", list_valued=True,
                code_table="airlines"),
        KeySpec("air.airlines.avoided", "Airlines to avoid (IATA codes)", _airlines, "code_list", list_valued=True,
                code_table="airlines"),
        KeySpec("air.alliances.preferred", "Preferred alliances", _enum_list(codes.ALLIANCES), "enum_list",
                codes.ALLIANCES, list_valued=True, code_table="alliances"),
        KeySpec("air.stops.max", "Maximum stops (0 = direct only)", _int_range(0, 3, "number of stops"), "int",
                minimum=0, maximum=3),
        KeySpec("air.departure_window", "Preferred departure time window (local time)",
                _window("earliest", "latest", may_wrap=False), "window"),
        KeySpec("air.fare_types", "Fare types", _enum_list(("restricted", "flexible", "fully_refundable")),
                "enum_list", ("restricted", "flexible", "fully_refundable"), list_valued=True),
        KeySpec("air.meal", "Special meal (IATA SSR code)", _meal, "enum", tuple(codes.MEAL_CODES),
                code_table="meals"),
        KeySpec("hotel.star_min", "Minimum hotel star class", _int_range(1, 5, "star class"), "int",
                minimum=1, maximum=5),
        KeySpec("hotel.chains.preferred", "Preferred hotel chains (GDS chain codes)", _gds_codes("hotel chain", "MC"),
                "code_list", list_valued=True, code_table="hotel_chains"),
        KeySpec("hotel.chains.avoided", "Hotel chains to avoid (GDS chain codes)", _gds_codes("hotel chain", "MC"),
                "code_list", list_valued=True, code_table="hotel_chains"),
        KeySpec("hotel.room_type", "Room type", _enum(ROOM_TYPES), "enum", ROOM_TYPES),
        KeySpec("hotel.smoking", "Smoking or non-smoking room", _enum(("non_smoking", "smoking")), "enum",
                ("non_smoking", "smoking")),
        KeySpec("hotel.bed_type", "Bed type", _enum(("king", "queen", "double", "twin", "single")), "enum",
                ("king", "queen", "double", "twin", "single")),
        KeySpec("car.class", "Car class (ACRISS category)", _enum(CAR_CLASSES), "enum", CAR_CLASSES),
        KeySpec("car.transmission", "Transmission", _enum(("automatic", "manual")), "enum", ("automatic", "manual")),
        KeySpec("car.vendors.preferred", "Preferred car rental vendors", _gds_codes("car vendor", "ZE"), "code_list",
                list_valued=True, code_table="car_vendors"),
        KeySpec("car.vendors.avoided", "Car rental vendors to avoid", _gds_codes("car vendor", "ZE"), "code_list",
                list_valued=True, code_table="car_vendors"),
        KeySpec("rail.class", "Rail travel class", _enum(RAIL_CLASSES), "enum", RAIL_CLASSES),
        KeySpec("rail.seat", "Rail seat", _enum(("window", "aisle", "table", "quiet_coach")), "enum",
                ("window", "aisle", "table", "quiet_coach")),
        KeySpec("rail.operators.preferred", "Preferred rail operators", _text_list, "text_list", list_valued=True),
        KeySpec("loyalty.memberships", "Loyalty programme memberships", _loyalty, "object_list", list_valued=True),
        KeySpec("needs.dietary", "Dietary needs", _enum_list(codes.DIETARY_NEEDS, max_items=13), "enum_list",
                codes.DIETARY_NEEDS, list_valued=True),
        KeySpec("needs.accessibility", "Accessibility needs", _enum_list(codes.ACCESSIBILITY_NEEDS, max_items=13),
                "enum_list", codes.ACCESSIBILITY_NEEDS, list_valued=True),
        KeySpec("comms.language", "Language for messages", _language, "language"),
        KeySpec("comms.channels", "Channels in order of preference", _enum_list(CHANNELS), "enum_list", CHANNELS,
                list_valued=True),
        KeySpec("comms.consent.transactional", "Consent to transactional messages (bookings, changes)", _bool, "bool"),
        KeySpec("comms.consent.service", "Consent to service messages (surveys, tips)", _bool, "bool"),
        KeySpec("comms.consent.marketing", "Consent to marketing messages", _bool, "bool"),
        KeySpec("comms.quiet_hours", "No messages between these times (home time zone; may span midnight)",
                _window("start", "end", may_wrap=True), "window"),
        KeySpec("comms.home_time_zone", "Home time zone (IANA)", _time_zone, "time_zone"),
    ]  # fmt: skip
    return specs


# Which keys are sensitive is the kit's decision (`services.kit.sensitive`), not the catalogue's.
SPECS: dict[str, KeySpec] = {s.key: replace(s, sensitive=preference_category(s.key) is not None) for s in _specs()}
SENSITIVE_KEYS = frozenset(s.key for s in SPECS.values() if s.sensitive)
# The catalogue's order ranks keys by how much they matter to a trip (seat and cabin first):
# of several questions to a traveller, the first is the one worth asking.
RANK: dict[str, int] = {key: n for n, key in enumerate(SPECS)}


def spec(key: str) -> KeySpec:
    """The spec of a key; InvalidPreferenceError for an unknown one."""
    try:
        return SPECS[key]
    except KeyError:
        raise InvalidPreferenceError(key, "unknown preference key (see GET /v1/preferences/catalogue)") from None


def validate(key: str, value: Any) -> Any:
    """The value in canonical form, or InvalidPreferenceError."""
    return spec(key).validate(key, value)


def is_sensitive(key: str) -> bool:
    return key in SENSITIVE_KEYS


def preference_value(key: str, observed: Any) -> Any:
    """The preference value an observed booking fact stands for (one airline -> a list of one)."""
    if key == "air.departure_window":
        earliest, latest = DEPARTURE_WINDOWS[str(observed)]
        return {"earliest": earliest, "latest": latest}
    s = SPECS.get(key)
    if s is not None and s.list_valued:
        return [observed]
    return observed


def check_consistency(values: dict[str, Any]) -> None:
    """Cross-key rules: nothing may be both preferred and avoided."""
    for thing in ("air.airlines", "hotel.chains", "car.vendors"):
        both = set(values.get(f"{thing}.preferred") or []) & set(values.get(f"{thing}.avoided") or [])
        if both:
            raise InvalidPreferenceError(f"{thing}.avoided", f"{', '.join(sorted(both))} both preferred and avoided")


# The languages questions to travellers are written in (ISO 639-1); English is the fallback.
QUESTION_LANGUAGES = ("en", "de")

_HAULS_DE = {"short_haul": "Kurzstrecken", "medium_haul": "Mittelstrecken", "long_haul": "Langstrecken"}
DESCRIPTIONS_DE: dict[str, str] = {
    **{f"air.seat.{h}": f"Sitzplatz auf {label}flügen" for h, label in _HAULS_DE.items()},
    **{f"air.cabin.{h}": f"Kabine auf {label}flügen" for h, label in _HAULS_DE.items()},
    "air.airlines.preferred": "Bevorzugte Fluggesellschaften (IATA-Codes)",
    "air.airlines.avoided": "Fluggesellschaften, die Sie meiden (IATA-Codes)",
    "air.alliances.preferred": "Bevorzugte Allianzen",
    "air.stops.max": "Höchstzahl der Umstiege (0 = nur Direktflüge)",
    "air.departure_window": "Bevorzugte Abflugzeit (Ortszeit)",
    "air.fare_types": "Tarifarten",
    "air.meal": "Sondermahlzeit (IATA-SSR-Code)",
    "hotel.star_min": "Mindestzahl der Hotelsterne",
    "hotel.chains.preferred": "Bevorzugte Hotelketten (GDS-Codes)",
    "hotel.chains.avoided": "Hotelketten, die Sie meiden (GDS-Codes)",
    "hotel.room_type": "Zimmerkategorie",
    "hotel.smoking": "Raucher- oder Nichtraucherzimmer",
    "hotel.bed_type": "Bettart",
    "car.class": "Fahrzeugklasse (ACRISS-Kategorie)",
    "car.transmission": "Getriebe",
    "car.vendors.preferred": "Bevorzugte Autovermieter",
    "car.vendors.avoided": "Autovermieter, die Sie meiden",
    "rail.class": "Klasse bei Bahnreisen",
    "rail.seat": "Sitzplatz in der Bahn",
    "rail.operators.preferred": "Bevorzugte Bahngesellschaften",
    "loyalty.memberships": "Mitgliedschaften in Bonusprogrammen",
    "needs.dietary": "Ernährungsbedürfnisse",
    "needs.accessibility": "Bedürfnisse an Barrierefreiheit",
    "comms.language": "Sprache für Nachrichten",
    "comms.channels": "Kanäle in der bevorzugten Reihenfolge",
    "comms.consent.transactional": "Einwilligung in Nachrichten zu Buchungen (Buchungen, Änderungen)",
    "comms.consent.service": "Einwilligung in Servicenachrichten (Umfragen, Hinweise)",
    "comms.consent.marketing": "Einwilligung in Werbenachrichten",
    "comms.quiet_hours": "Keine Nachrichten zwischen diesen Uhrzeiten (Heimatzeitzone; auch über Mitternacht)",
    "comms.home_time_zone": "Heimatzeitzone (IANA)",
}  # fmt: skip
# Values as a German question spells them; codes (airlines, chains, vendors) and names stay as they are.
_VALUES_DE = {
    "window": "Fenster", "aisle": "Gang", "middle": "Mitte", "table": "Tisch", "quiet_coach": "Ruhebereich",
    "economy": "Economy", "premium_economy": "Premium Economy", "business": "Business", "first": "First",
    "restricted": "eingeschränkt", "flexible": "flexibel", "fully_refundable": "voll erstattbar",
    "non_smoking": "Nichtraucher", "smoking": "Raucher",
    "king": "Kingsize-Bett", "queen": "Queensize-Bett", "double": "Doppelbett", "twin": "zwei Einzelbetten",
    "single": "Einzelbett", "automatic": "Automatik", "manual": "Schaltgetriebe",
}  # fmt: skip
_RAIL_CLASSES_DE = {"standard": "Standardklasse", "second": "2. Klasse", "business": "Business", "first": "1. Klasse"}


def description(key: str, lang: str = "en") -> str:
    """What a key means, in `lang` where the catalogue has it (English otherwise)."""
    if lang == "de" and key in DESCRIPTIONS_DE:
        return DESCRIPTIONS_DE[key]
    return SPECS[key].description if key in SPECS else key


def _shown(key: str, value: Any, lang: str) -> str:
    if isinstance(value, dict) and "earliest" in value:
        earliest, latest = value["earliest"], value["latest"]
        return f"{earliest}–{latest} Uhr" if lang == "de" else f"{earliest}-{latest}"
    items = value if isinstance(value, list) else [value]
    if lang == "de":
        words = _RAIL_CLASSES_DE if key == "rail.class" else _VALUES_DE
        return ", ".join(words.get(str(v), str(v).replace("_", " ")) for v in items)
    return ", ".join(str(v) for v in items).replace("_", " ")


def question(key: str, value: Any, lang: str = "en") -> str:
    """A yes/no question confirming an inferred preference, in `lang` (English or German)."""
    if lang == "de":
        return f"{description(key, 'de')}: Ist „{_shown(key, value, 'de')}“ richtig für Sie?"
    return f"{description(key)}: is {_shown(key, value, 'en')} right for you?"


def questions(key: str, value: Any) -> dict[str, str]:
    """The question in every language of `QUESTION_LANGUAGES`."""
    return {lang: question(key, value, lang) for lang in QUESTION_LANGUAGES}
