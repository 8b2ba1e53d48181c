"""A traveller's home time zone: stated, or derived from address, phone or company, from the IANA tables."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pycountry
import pytest

from services.profile.domain import normalize
from services.profile.domain.corrections import InvalidCorrectionError, normalize_correction
from services.profile.domain.model import FieldValue
from services.profile.domain.timezones import country_zone, home_time_zone, phone_zone, source_of

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def field(value: str, rule: str = "recency", system: str = "gds") -> FieldValue:
    return FieldValue(value, system, "T-1", T0, rule, 1)


@pytest.mark.parametrize(
    ("country", "zone"),
    [
        ("DE", "Europe/Berlin"),  # Europe/Busingen keeps Berlin's clocks
        ("ES", "Europe/Madrid"),  # the Canaries are fewer
        ("US", "America/New_York"),  # listed first, and most US zones keep Eastern time
        ("CN", "Asia/Shanghai"),
        ("NL", "Europe/Amsterdam"),  # the name the country's clocks go by, not the zone it links to
        ("UA", "Europe/Kyiv"),  # "most of Ukraine", says the table
        ("nz", "Pacific/Auckland"),
        ("RU", None),  # no clocks most of the country keeps: the country alone does not tell
        ("AU", None),
        ("XX", None),
    ],
)
def test_a_country_stands_for_the_zone_most_of_it_keeps(country: str, zone: str | None) -> None:
    assert country_zone(country) == zone


@pytest.mark.parametrize(
    ("phone", "zone"),
    [
        ("+493012345678", "Europe/Berlin"),
        ("+12125551234", "America/New_York"),  # the area code tells
        ("+13105551234", "America/Los_Angeles"),
        ("+74951234567", "Europe/Moscow"),
        ("+73832123456", "Asia/Novosibirsk"),
        ("+390612345678", "Europe/Rome"),  # the area code's leading zero counts
        ("+4915112345678", "Europe/Berlin"),  # a mobile: its country
        ("+99912345678", None),  # no such country code
        ("not a number", None),
    ],
)
def test_a_phone_number_tells_its_area_s_zone_or_its_country_s(phone: str, zone: str | None) -> None:
    assert phone_zone(phone) == zone


def test_every_derived_zone_is_a_real_iana_zone() -> None:
    for country in pycountry.countries:
        zone = country_zone(country.alpha_2)
        if zone is not None:
            ZoneInfo(zone)  # raises for an unknown name


def test_stated_wins_then_address_then_phone_then_company() -> None:
    everything = {
        "home_time_zone": field("America/Chicago"),
        "address_country": field("NL"),
        "phone": field("+4930123456"),
    }
    company = field("Globex Inc", system="crm")
    stated = home_time_zone(everything, company_country="US", company_source=company)
    assert stated is not None
    assert (stated.value, source_of(stated)) == ("America/Chicago", "stated")

    del everything["home_time_zone"]
    by_address = home_time_zone(everything, company_country="US", company_source=company)
    assert by_address is not None
    assert (by_address.value, source_of(by_address)) == ("Europe/Amsterdam", "address")

    del everything["address_country"]
    by_phone = home_time_zone(everything, company_country="US", company_source=company)
    assert by_phone is not None
    assert (by_phone.value, source_of(by_phone), by_phone.rule) == ("Europe/Berlin", "phone", "derived:phone")

    del everything["phone"]
    by_company = home_time_zone(everything, company_country="US", company_source=company)
    assert by_company is not None
    assert (by_company.value, source_of(by_company), by_company.source_system) == ("America/New_York", "company", "crm")
    assert home_time_zone({}, company_country=None) is None


def test_an_agent_s_zone_counts_as_stated_and_is_checked() -> None:
    corrected = home_time_zone({"home_time_zone": field("Asia/Tokyo", rule="agent-correction", system="agent")},
                               company_country=None)
    assert source_of(corrected) == "stated"
    assert normalize_correction("home_time_zone", "europe/berlin", phone_region=None) == "Europe/Berlin"
    with pytest.raises(InvalidCorrectionError):
        normalize_correction("home_time_zone", "+02:00", phone_region=None)
    assert normalize_correction("address_country", "Netherlands", phone_region=None) == "NL"


def test_a_zone_as_a_source_sends_it() -> None:
    assert normalize.time_zone("America/new_york").value == "America/New_York"
    assert normalize.time_zone("CET+1").problem is not None
    assert normalize.time_zone(None) is normalize.MISSING
