"""A traveller's home time zone: stated, or derived from where their address, phone or company is.

Stated wins: a source that knows the traveller's zone (`home_time_zone` in the traveller) or
an agent's correction. Otherwise the zone is derived, from the best evidence of where the
traveller lives first: the country of their home address, then their phone number (its area
code where the numbering plan tells one, e.g. +1 212 is New York; else its country), then their
company's country. A country stands for the zone the IANA table says covers "most of" it, else
for its first zone there (the table lists the most populous first where geography allows: the
United States, New York; China, Shanghai) unless more of its zones keep other clocks (Russia,
Canada, Brazil, Australia: the country alone does not tell). A traveller or an agent can state
another zone. Where nothing tells, there is no home zone (never UTC by default).

The home zone is not where the traveller is now (the snapshot's `time_zone`): services that
know the itinerary derive that.

Zones come from the IANA time zone database as the `tzdata` package ships it (zone.tab: which
zones each country has), so they follow its releases, not a table kept here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from importlib import resources
from typing import Literal
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_timezones

from services.profile.domain.model import FieldValue

HomeZoneSource = Literal["stated", "address", "phone", "company"]
HOME_TIME_ZONE = "home_time_zone"


def home_time_zone(
    golden: Mapping[str, FieldValue], *, company_country: str | None, company_source: FieldValue | None = None
) -> FieldValue | None:
    """The home zone as a golden field (rule `stated`, or `derived:<basis>` with the basis's provenance)."""
    stated = golden.get(HOME_TIME_ZONE)
    if stated is not None and not stated.rule.startswith("derived:"):
        return stated
    derived: list[tuple[HomeZoneSource, FieldValue | None, str | None]] = [
        ("address", golden.get("address_country"), None),
        ("phone", golden.get("phone"), None),
        ("company", company_source, company_country),
    ]
    for basis, field, value in derived:
        if field is None:
            continue
        zone = _zone_of(basis, value or str(field.value))
        if zone is not None:
            return FieldValue(zone, field.source_system, field.source_id, field.last_seen, f"derived:{basis}", 1)
    return None


def source_of(field: FieldValue | None) -> HomeZoneSource | None:
    """How a home zone was found: stated, or the basis it was derived from."""
    if field is None:
        return None
    if field.rule.startswith("derived:"):
        basis = field.rule.removeprefix("derived:")
        return "address" if basis == "address" else "phone" if basis == "phone" else "company"
    return "stated"


def _zone_of(basis: HomeZoneSource, value: str) -> str | None:
    return phone_zone(value) if basis == "phone" else country_zone(value)


def phone_zone(e164: str) -> str | None:
    """The zone of a phone number's area where its numbering plan tells one, else its country's.

    `e164` is a normalised number (+ and digits): its zone follows from its first digits, the
    country code and the area code, as libphonenumber's table of prefixes has it (it places some
    countries' mobile ranges too: Russia's in Moscow time); else the number's country's zone."""
    digits = e164.removeprefix("+")
    if not digits.isdigit():
        return None
    return _prefix_zone(digits[:_PREFIX_DIGITS])


_PREFIX_DIGITS = 10  # libphonenumber's longest time zone prefix is 9 digits


@lru_cache(maxsize=1 << 16)
def _prefix_zone(prefix: str) -> str | None:
    code = next((prefix[:n] for n in (1, 2, 3) if int(prefix[:n]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE), None)
    if code is None or len(prefix) == len(code):
        return None
    national = prefix[len(code) :]
    zeros = len(national) - len(national.lstrip("0"))  # Italy's area codes begin with 0
    number = phonenumbers.PhoneNumber(
        country_code=int(code),
        national_number=int(national),
        italian_leading_zero=zeros > 0 or None,
        number_of_leading_zeros=zeros or None,
    )
    zones = [z for z in phone_timezones.time_zones_for_geographical_number(number) if z in _known()]
    if zones and len({_clocks(z) for z in zones}) == 1:
        return zones[0]
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[int(code)]
    return country_zone(regions[0]) if len(regions) == 1 else None


@cache
def country_zone(country: str) -> str | None:
    """The zone most of a country's zones keep the same clocks as (ISO 3166-1 alpha-2); None if unknown."""
    listed = _zones_by_country().get(country.upper())
    if not listed:
        return None
    zones = [zone for zone, _ in listed]
    main = [zone for zone, comment in listed if comment.startswith("most of ")]
    if len(main) == 1:
        return main[0]  # the table says so ("most of Ukraine")
    groups: dict[tuple[float, ...], list[str]] = {}
    for zone in zones:
        groups.setdefault(_clocks(zone), []).append(zone)
    # The table lists a country's most populous zone first where geography allows; its clocks
    # stand for the country unless more of the country's zones keep other clocks.
    first = groups[_clocks(zones[0])]
    if any(len(other) > len(first) for other in groups.values()):
        return None  # e.g. Russia, Canada, Brazil, Australia: the country alone does not tell
    return zones[0]


@cache
def _clocks(zone: str) -> tuple[float, ...]:
    """A zone's UTC offsets over the next two years (twice a month): zones alike here keep the same clocks."""
    tz = ZoneInfo(zone)
    start = datetime(datetime.now(UTC).year, 1, 1, tzinfo=UTC)
    offsets = []
    for n in range(48):
        at = start + timedelta(days=n * 365 / 24)
        offset = at.astimezone(tz).utcoffset()
        offsets.append(offset.total_seconds() if offset is not None else 0.0)
    return tuple(offsets)


@cache
def _zones_by_country() -> dict[str, list[tuple[str, str]]]:
    """Each country's zones with their comments, in the IANA table's order (zone.tab: one country a
    row, by the names the country's own clocks go by, e.g. Europe/Amsterdam, not the zone it links to)."""
    table = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    out: dict[str, list[tuple[str, str]]] = {}
    for line in table.splitlines():
        if not line or line.startswith("#"):
            continue
        code, _, zone, *rest = line.split("\t")
        out.setdefault(code, []).append((zone, rest[0] if rest else ""))
    return out


@cache
def _known() -> frozenset[str]:
    from zoneinfo import available_timezones

    return frozenset(available_timezones())
