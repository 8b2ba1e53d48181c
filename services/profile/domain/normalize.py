"""Normalisation of traveller data as source systems send it.

Every function returns a `Normalized` value: the cleaned value when the input is
valid, or the input kept as received and flagged invalid (never used for matching).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

import phonenumbers
from email_validator import EmailNotValidError, validate_email


@dataclass(frozen=True)
class Normalized:
    raw: str | None
    value: str | None  # None when missing or invalid
    valid: bool
    problem: str | None = None


MISSING = Normalized(raw=None, value=None, valid=False, problem="missing")

_TITLES = {
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "herr", "frau", "mme", "mlle", "m", "sr", "sra",
    "srta", "dott", "ing", "mag",
}
_COUNTRY_NAMES = {
    "germany": "DE", "deutschland": "DE", "united kingdom": "GB", "uk": "GB", "great britain": "GB",
    "united states": "US", "usa": "US", "france": "FR", "china": "CN", "spain": "ES", "italy": "IT",
    "netherlands": "NL", "switzerland": "CH", "austria": "AT", "japan": "JP", "india": "IN",
}


def email(raw: str | None) -> Normalized:
    """Syntax-checked, case-folded email address."""
    if not raw or not raw.strip():
        return MISSING
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        return Normalized(raw=raw, value=None, valid=False, problem=str(exc))
    return Normalized(raw=raw, value=result.normalized.lower(), valid=True)


def phone(raw: str | None, *, region: str | None = None) -> Normalized:
    """E.164 phone number; numbers without a country code are read in `region`."""
    if not raw or not raw.strip():
        return MISSING
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        return Normalized(raw=raw, value=None, valid=False, problem=str(exc))
    if not phonenumbers.is_valid_number(parsed):
        return Normalized(raw=raw, value=None, valid=False, problem="not a valid phone number")
    return Normalized(raw=raw, value=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), valid=True)


_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%Y/%m/%d", "%d %b %Y", "%d %B %Y", "%Y%m%d", "%d-%m-%Y")


def birth_date(raw: str | None, *, today: date | None = None) -> Normalized:
    """ISO date of birth; implausible dates (future, over 120 years) are invalid."""
    if not raw or not raw.strip():
        return MISSING
    text = raw.strip()
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        now = today or date.today()
        if parsed > now or parsed.year < now.year - 120:
            return Normalized(raw=raw, value=None, valid=False, problem="implausible date of birth")
        return Normalized(raw=raw, value=parsed.isoformat(), valid=True)
    return Normalized(raw=raw, value=None, valid=False, problem="unrecognised date format")


def country(raw: str | None) -> Normalized:
    """ISO 3166-1 alpha-2 code from a code or a common English/German name."""
    if not raw or not raw.strip():
        return MISSING
    text = raw.strip()
    if re.fullmatch(r"[A-Za-z]{2}", text):
        return Normalized(raw=raw, value=text.upper(), valid=True)
    code = _COUNTRY_NAMES.get(text.casefold())
    if code:
        return Normalized(raw=raw, value=code, valid=True)
    return Normalized(raw=raw, value=None, valid=False, problem="unknown country")


def loyalty_number(programme: str, number: str) -> Normalized:
    """`PROGRAMME:NUMBER` with spaces and dashes removed, upper case."""
    prog = re.sub(r"[^A-Za-z0-9]", "", programme).upper()
    num = re.sub(r"[\s\-]", "", number).upper()
    if not prog or not re.fullmatch(r"[A-Z0-9]{4,20}", num):
        return Normalized(raw=f"{programme}:{number}", value=None, valid=False, problem="malformed loyalty number")
    return Normalized(raw=f"{programme}:{number}", value=f"{prog}:{num}", valid=True)


def passport_hash(number: str | None, issuing_country: str | None, *, pepper: str) -> str | None:
    """A keyed hash of a passport number: matchable, never reversible, never stored in clear."""
    if not number or not number.strip():
        return None
    clean = re.sub(r"[^A-Za-z0-9]", "", number).upper()
    ctry = (country(issuing_country).value or "") if issuing_country else ""
    return hashlib.sha256(f"{pepper}|{ctry}|{clean}".encode()).hexdigest()


def fold(text: str) -> str:
    """Case- and accent-insensitive form used for comparing names."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s'-]", " ", stripped.casefold())).strip()


@dataclass(frozen=True)
class PersonName:
    given: str | None
    family: str | None
    display: str


def _clean_part(text: str | None) -> str | None:
    if not text:
        return None
    words = [w for w in re.split(r"\s+", text.strip()) if w]
    while words and words[0].rstrip(".").casefold() in _TITLES:
        words.pop(0)
    return " ".join(words) or None


def _nice_case(text: str) -> str:
    if text.isupper() or text.islower():
        return " ".join(w[:1].upper() + w[1:].lower() for w in text.split(" "))
    return text


def person_name(*, given: str | None, family: str | None, full: str | None) -> PersonName:
    """Split and tidy a name: honorifics dropped, 'FAMILY, Given' and ALL CAPS handled."""
    given_c, family_c = _clean_part(given), _clean_part(family)
    if not (given_c or family_c) and full:
        full_c = _clean_part(full.replace("/", ", ")) or ""
        if "," in full_c:  # "LEE, Ann" or airline style "LEE/ANN"
            fam, _, giv = full_c.partition(",")
            family_c, given_c = fam.strip() or None, _clean_part(giv) or None
        else:
            parts = full_c.split(" ")
            if len(parts) == 1:
                family_c = parts[0]
            else:
                given_c, family_c = " ".join(parts[:-1]), parts[-1]
    given_c = _nice_case(given_c) if given_c else None
    family_c = _nice_case(family_c) if family_c else None
    display = " ".join(p for p in (given_c, family_c) if p) or (full or "").strip() or "(unnamed)"
    return PersonName(given=given_c, family=family_c, display=display)
