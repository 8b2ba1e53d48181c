"""What an agent's correction of a golden field may hold.

A correction is held to the same standard as source data: an email address must be
one, a phone number becomes E.164, a date of birth an ISO date, a nationality an ISO
3166-1 code. Unlike source data, an invalid correction is refused rather than kept
and flagged: the agent is there to fix it. `None` (or blank) clears the field on
purpose, e.g. an address the traveller no longer has.
"""

from __future__ import annotations

import pycountry

from services.profile.domain import normalize


class InvalidCorrectionError(ValueError):
    """The value cannot stand in the golden record; the message says why."""


_MAX_NAME = 200


def normalize_correction(field: str, value: str | None, *, phone_region: str | None) -> str | None:
    """The value to store for a correction of `field`, normalised; raises InvalidCorrectionError."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if field == "email":
        return _valid(normalize.email(text), "not a valid email address")
    if field == "phone":
        return _valid(normalize.phone(text, region=phone_region), "not a valid phone number")
    if field == "date_of_birth":
        return _valid(normalize.birth_date(text), "not a valid date of birth")
    if field == "nationality":
        return _valid(normalize.country(text), "not a known country")
    if field == "language":
        return _language(text)
    if field == "address_country":
        return _valid(normalize.country(text), "not a known country")
    if field == "home_time_zone":
        return _valid(normalize.time_zone(text), "not an IANA time zone (e.g. Europe/Berlin)")
    if len(text) > _MAX_NAME:
        raise InvalidCorrectionError(f"at most {_MAX_NAME} characters")
    if any(not ch.isprintable() for ch in text):
        raise InvalidCorrectionError("contains control characters")
    return " ".join(text.split())


def _valid(result: normalize.Normalized, message: str) -> str:
    if not result.valid or result.value is None:
        detail = result.problem if result.problem and result.problem != message else None
        raise InvalidCorrectionError(f"{message}: {detail}" if detail else message)
    return result.value


def _language(text: str) -> str:
    base, _, region = text.replace("_", "-").partition("-")
    if len(base) != 2 or pycountry.languages.get(alpha_2=base.lower()) is None:
        raise InvalidCorrectionError(f"unknown language {text!r}: ISO 639-1, optionally with a region ('en-GB')")
    if region and (len(region) != 2 or not region.isalpha()):
        raise InvalidCorrectionError(f"unknown region in {text!r}: two letters, e.g. 'en-GB'")
    return base.lower() + (f"-{region.upper()}" if region else "")
