"""Normalisation of traveller data as source systems send it.

Every function returns a `Normalized` value: the cleaned value when the input is
valid, or the input kept as received and flagged invalid. An invalid value is not
silently dropped from matching where it can still say something: a birth date that is
implausible (before the cut-off, in the future) or no calendar date, an email that is not an
address, a phone number no numbering plan has and a loyalty number that does not fit its
programme's format keep a `flagged` form, compared for equality only (placeholders never).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email

from services.profile.domain.names import PersonName, person_name

__all__ = [
    "MISSING",
    "Normalized",
    "PersonName",
    "birth_date",
    "country",
    "email",
    "email_match_key",
    "fold",
    "loyalty_number",
    "passport_hash",
    "person_name",
    "phone",
    "time_zone",
]


@dataclass(frozen=True)
class Normalized:
    raw: str | None
    value: str | None  # None when missing or invalid
    valid: bool
    problem: str | None = None
    flagged: str | None = None  # the comparable form of an invalid value (equality only), where it has one


MISSING = Normalized(raw=None, value=None, valid=False, problem="missing")

# Names pycountry does not know (local names, common short forms).
_COUNTRY_ALIASES = {
    "uk": "GB",
    "great britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "britain": "GB",
    "usa": "US",
    "u.s.a.": "US",
    "u.s.": "US",
    "america": "US",
    "deutschland": "DE",
    "allemagne": "DE",
    "espana": "ES",
    "españa": "ES",
    "italia": "IT",
    "schweiz": "CH",
    "suisse": "CH",
    "osterreich": "AT",
    "österreich": "AT",
    "nederland": "NL",
    "holland": "NL",
    "the netherlands": "NL",
    "zhongguo": "CN",
    "中国": "CN",
    "prc": "CN",
    "korea": "KR",
    "south korea": "KR",
    "russia": "RU",
    "czech republic": "CZ",
    "turkey": "TR",
    "vietnam": "VN",
    "taiwan": "TW",
    "iran": "IR",
    "uae": "AE",
    "polska": "PL",
}


# Plain ASCII addresses (the vast majority) that this pattern accepts are valid for
# email-validator too; everything else goes through email-validator itself.
_PLAIN_EMAIL = re.compile(
    r"[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}"
)


def email(raw: str | None) -> Normalized:
    """Syntax-checked, case-folded email address."""
    if not raw or not raw.strip():
        return MISSING
    text = raw.strip().lower()
    if _PLAIN_EMAIL.fullmatch(text) and ".." not in text and len(text) <= 254:
        return Normalized(raw=raw, value=text, valid=True)
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        return Normalized(raw=raw, value=None, valid=False, problem=str(exc), flagged=_comparable_email(text))
    return Normalized(raw=raw, value=result.normalized.lower(), valid=True)


def _comparable_email(text: str) -> str | None:
    """An invalid address that still names a mailbox ("ann.lee@example", "ann lee@example.com"): one @
    with two letters or digits on each side; compared for equality only."""
    local, at, domain = text.partition("@")
    if not at or "@" in domain or len(text) > 254:
        return None
    if sum(c.isalnum() for c in local) < 2 or sum(c.isalnum() for c in domain) < 2:
        return None
    return text


# Providers that deliver `first.last+tag@` to `firstlast@`: one mailbox, one match key.
_DOTLESS = frozenset({"gmail.com", "googlemail.com"})
_PLUS_TAGS = frozenset(
    {"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "icloud.com", "proton.me"}
)


def email_match_key(normalized: str) -> str:
    """The mailbox an address reaches: sub-addressing (+tag) and Gmail dots removed."""
    local, _, domain = normalized.rpartition("@")
    if domain in _PLUS_TAGS:
        local = local.split("+", 1)[0]
    if domain in _DOTLESS:
        local = local.replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}"


def phone(raw: str | None, *, region: str | None = None) -> Normalized:
    """E.164 phone number; numbers without a country code are read in `region`."""
    if not raw or not raw.strip():
        return MISSING
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        return Normalized(raw=raw, value=None, valid=False, problem=str(exc), flagged=_comparable_phone(text))
    if not phonenumbers.is_valid_number(parsed):
        # A national number read with a "+" does not depend on the region setting (restating reads without one).
        flagged = _comparable_phone(text, national=str(parsed.national_number) if text.startswith("+") else None)
        return Normalized(raw=raw, value=None, valid=False, problem="not a valid phone number", flagged=flagged)
    return Normalized(
        raw=raw, value=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), valid=True
    )


# Day-first before month-first: the sources are mostly European desks; ISO always wins.
_DATE_FORMATS = (
    "%Y-%m-%d",
    "%d.%m.%Y",
    "%Y/%m/%d",
    "%d/%m/%Y",
    "%d-%m-%Y",
    "%Y%m%d",
    "%d %b %Y",
    "%d %B %Y",
    "%d-%b-%Y",
    "%d%b%Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%Y.%m.%d",
    "%Y年%m月%d日",
)


def birth_date(raw: str | None, *, today: date | None = None) -> Normalized:
    """ISO date of birth; implausible dates (future, over 120 years) are invalid."""
    if not raw or not raw.strip():
        return MISSING
    text = raw.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T.*", text):
        text = text[:10]
    now = today or date.today()
    if _ISO_DATE.fullmatch(text):  # the common case, without trying every format
        try:
            parsed = date.fromisoformat(text)
        except ValueError:
            return Normalized(raw=raw, value=None, valid=False, problem="not a calendar date", flagged=_as_typed(text))
        return _plausible(raw, parsed, now)
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        return _plausible(raw, parsed, now)
    return Normalized(raw=raw, value=None, valid=False, problem="unrecognised date format", flagged=_as_typed(text))


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _plausible(raw: str, parsed: date, now: date) -> Normalized:
    if parsed > now or parsed.year < now.year - 120:
        iso = parsed.isoformat()
        return Normalized(raw=raw, value=None, valid=False, problem="implausible date of birth", flagged=iso)
    return Normalized(raw=raw, value=parsed.isoformat(), valid=True)


def _as_typed(text: str) -> str | None:
    """An unreadable date as typed (case and spaces folded) when it looks like a date: six digits or more,
    not all zero ("31.02.1980", "1985-13-01"); "unknown" or "00.00.0000" compare with nothing."""
    digits = [c for c in text if c.isdigit()]
    if len(digits) < 6 or not any(c != "0" for c in digits):
        return None
    return " ".join(text.casefold().split())


def country(raw: str | None) -> Normalized:
    """ISO 3166-1 alpha-2 code from an alpha-2/alpha-3 code or a country name (pycountry)."""
    if not raw or not raw.strip():
        return MISSING
    return _country(raw)


@lru_cache(maxsize=4096)
def _country(raw: str) -> Normalized:
    text = raw.strip()
    alias = _COUNTRY_ALIASES.get(text.casefold())
    if alias:
        return Normalized(raw=raw, value=alias, valid=True)
    try:
        found = pycountry.countries.lookup(text)
    except LookupError:
        return Normalized(raw=raw, value=None, valid=False, problem="unknown country")
    return Normalized(raw=raw, value=str(found.alpha_2), valid=True)


@dataclass(frozen=True)
class LoyaltyProgramme:
    code: str
    pattern: str  # the membership number's format after spaces and dashes are removed
    aliases: tuple[str, ...]


# Programme codes and number formats of the programmes business travellers use most.
PROGRAMMES: tuple[LoyaltyProgramme, ...] = (
    LoyaltyProgramme(
        "MILESANDMORE",
        r"(992|222)\d{12}",
        ("LH", "MILESANDMORE", "MILESMORE", "MM", "LHMILESANDMORE", "LHMILESMORE", "LX", "OS"),
    ),
    LoyaltyProgramme("BAEC", r"\d{8}", ("BA", "BAEC", "EXECUTIVECLUB", "BAEXECUTIVECLUB", "AVIOS")),
    LoyaltyProgramme("FLYINGBLUE", r"\d{10}", ("AF", "KL", "FLYINGBLUE", "AFKLFLYINGBLUE")),
    LoyaltyProgramme("MILEAGEPLUS", r"[A-Z]{2}\d{6}|[A-Z0-9]{8}", ("UA", "MILEAGEPLUS", "UNITEDMILEAGEPLUS")),
    LoyaltyProgramme("SKYMILES", r"\d{9,10}", ("DL", "SKYMILES", "DELTASKYMILES")),
    LoyaltyProgramme("AADVANTAGE", r"[A-Z0-9]{7}", ("AA", "AADVANTAGE")),
    LoyaltyProgramme("MARRIOTTBONVOY", r"\d{9}", ("MB", "MARRIOTT", "BONVOY", "MARRIOTTBONVOY")),
    LoyaltyProgramme("HILTONHONORS", r"\d{9,10}", ("HH", "HILTON", "HILTONHONORS", "HHONORS")),
    LoyaltyProgramme("IHGONEREWARDS", r"\d{9}", ("IHG", "IHGONEREWARDS", "IHGREWARDS")),
)
_PROGRAMME_BY_ALIAS = {alias: p for p in PROGRAMMES for alias in p.aliases}


def loyalty_number(programme: str, number: str) -> Normalized:
    """`PROGRAMME:NUMBER`: programme aliases unified, number checked against the programme's format."""
    raw = f"{programme}:{number}"
    prog_key = re.sub(r"[^A-Za-z0-9]", "", programme).upper()
    num = re.sub(r"[\s\-./]", "", number).upper()
    if not prog_key:
        return Normalized(raw=raw, value=None, valid=False, problem="missing loyalty programme")
    known = _PROGRAMME_BY_ALIAS.get(prog_key)
    if known is not None:
        if not re.fullmatch(known.pattern, num):
            # Kept for equality: the same number in one programme is the same member, whatever
            # its shape (a source may send an older or mistyped form, or a format may change).
            flagged = f"{known.code}:{num}" if _comparable_number(num) else None
            return Normalized(raw=raw, value=None, valid=False, problem=f"not a {known.code} number", flagged=flagged)
        return Normalized(raw=raw, value=f"{known.code}:{num}", valid=True)
    if not re.fullmatch(r"[A-Z0-9]{4,20}", num):
        return Normalized(raw=raw, value=None, valid=False, problem="malformed loyalty number")
    return Normalized(raw=raw, value=f"{prog_key}:{num}", valid=True)


def _comparable_phone(text: str, *, national: str | None = None) -> str | None:
    """An invalid phone number's digits as typed (a leading + kept), where they can still name one
    line: 7 to 17 digits, not a placeholder (judged on the `national` number where it was read). The
    region is left out on purpose, so that the form does not depend on settings: equality only."""
    digits = "".join(c for c in text if c.isdigit())
    if not 7 <= len(digits) <= 17 or not _comparable_number(national or digits):
        return None
    return ("+" if text.startswith("+") else "") + digits


def _comparable_number(num: str) -> bool:
    """Whether an invalid membership number still names someone: 6 to 20 letters and digits, not a
    placeholder (one or two characters repeated, a run like 123456)."""
    if not re.fullmatch(r"[A-Z0-9]{6,20}", num) or len(set(num)) < 3:
        return False
    return num not in "01234567890123456789" and num not in "98765432109876543210"


def passport_hash(number: str | None, issuing_country: str | None, *, pepper: str) -> str | None:
    """A keyed hash (HMAC-SHA256) of a passport number: matchable, never reversible, never stored in clear."""
    if not number or not number.strip():
        return None
    clean = re.sub(r"[^A-Za-z0-9]", "", number).upper()
    if not clean:
        return None
    # The issuing country is left out on purpose: many sources omit it, and the same
    # number from two sources must hash alike. Collisions across countries are negligible.
    del issuing_country
    return hmac.new(pepper.encode(), clean.encode(), hashlib.sha256).hexdigest()


def time_zone(raw: str | None) -> Normalized:
    """An IANA time zone name ("europe/berlin" is Europe/Berlin); UTC offsets are not zones."""
    if not raw or not raw.strip():
        return MISSING
    zone = _zone_names().get(raw.strip().casefold())
    if zone is None:
        return Normalized(raw=raw, value=None, valid=False, problem="not an IANA time zone (e.g. Europe/Berlin)")
    return Normalized(raw=raw, value=zone, valid=True)


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    from zoneinfo import available_timezones

    return {name.casefold(): name for name in available_timezones()}


def fold(text: str) -> str:
    """Case- and accent-insensitive form used for comparing free text."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s'-]", " ", stripped.casefold())).strip()
