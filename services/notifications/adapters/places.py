"""Places and their time zones from the `airportsdata` package (a maintained IATA airport table).

Airport codes are looked up directly (and IATA metropolitan codes such as NYC or LON).
Cities - a hotel's city, a station or rental desk typed as free text - are matched by
name against the airports' cities: the zone is taken when the matches agree, or when one
zone clearly has more airports of that name (Paris, France, over Paris, Texas). A hotel's
country narrows the match, and a country with a single zone answers for any of its cities.
The table loads once per process, on first use (about half a second).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import airportsdata

from services.notifications.domain.itinerary import Place

_WORDS = re.compile(r"[a-z0-9]+")
_CODE = re.compile(r"^[A-Z]{3}$")


def _key(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(_WORDS.findall(folded))


@dataclass
class _Tables:
    airports: dict[str, Place] = field(default_factory=dict)
    # city key -> country -> zone -> (airports, display name)
    cities: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)
    # first word of a city of several words ("frankfurt" of Frankfurt am Main) -> zones
    first_words: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)
    city_names: dict[tuple[str, str], str] = field(default_factory=dict)
    country_zones: dict[str, set[str]] = field(default_factory=dict)


def _load() -> _Tables:
    t = _Tables()
    cities: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    first_words: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    country_zones: dict[str, set[str]] = defaultdict(set)
    for code, a in airportsdata.load("IATA").items():
        if not a.get("tz"):
            continue
        city = a.get("city") or a.get("name") or code
        t.airports[code] = Place(city, a["tz"])
        key, country = _key(city), a.get("country") or ""
        cities[key][country][a["tz"]] += 1
        if " " in key:
            first_words[key.split()[0]][country][a["tz"]] += 1
        t.city_names.setdefault((key, a["tz"]), city)
        country_zones[country].add(a["tz"])
    for code, mac in airportsdata.load_iata_macs().items():
        zones = Counter(a["tz"] for a in mac["airports"].values() if a.get("tz"))
        if zones and code not in t.airports:
            t.airports[code] = Place(mac["name"], zones.most_common(1)[0][0])
    t.cities = {k: dict(v) for k, v in cities.items()}
    t.first_words = {k: dict(v) for k, v in first_words.items()}
    t.country_zones = dict(country_zones)
    return t


def _decisive(zones: Counter[str]) -> str | None:
    """The zone of a city name: the only one, or the one with clearly the most airports."""
    ranked = zones.most_common(2)
    if not ranked:
        return None
    if len(ranked) == 1 or ranked[0][1] > ranked[1][1]:
        return ranked[0][0]
    return None


def _zones(by_country: dict[str, Counter[str]] | None, country: str | None) -> Counter[str]:
    zones: Counter[str] = Counter()
    for c, counts in (by_country or {}).items():
        if country is None or c == country.upper():
            zones.update(counts)
    return zones


class AirportDirectory:
    """`PlaceDirectory` over the IATA airport table."""

    def __init__(self) -> None:
        self._tables: _Tables | None = None
        self._lock = threading.Lock()

    def _t(self) -> _Tables:
        if self._tables is None:
            with self._lock:
                if self._tables is None:
                    self._tables = _load()
        return self._tables

    def airport(self, code: str) -> Place | None:
        return self._t().airports.get(code.strip().upper())

    def locate(self, text: str, *, country: str | None = None) -> Place | None:
        """The place a typed location names: an IATA code ("FRA", "JFK Airport") or a city."""
        text = text.strip()
        if not text:
            return None
        first = text.split()[0]
        if _CODE.match(first):  # upper case only: "Ulm" is a city, ULM an airport in Minnesota
            found = self.airport(first)
            if found is not None:
                return found
        words = _key(text).split()
        t = self._t()
        # "New York Penn" is New York, "Washington Union" Washington: the longest leading words naming a city.
        for n in range(len(words), 0, -1):
            key = " ".join(words[:n])
            zone = _decisive(_zones(t.cities.get(key), country))
            if zone is not None:
                return Place(t.city_names.get((key, zone), text), zone)
        # "Frankfurt Hbf": the first word of a longer city name (Frankfurt am Main), when all such cities agree.
        if words:
            zones = _zones(t.first_words.get(words[0]), country)
            if len(zones) == 1:
                return Place(text, next(iter(zones)))
        if country is not None:
            zones_of_country = t.country_zones.get(country.upper(), set())
            if len(zones_of_country) == 1:
                return Place(text, next(iter(zones_of_country)))
        return None
