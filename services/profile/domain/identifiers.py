"""Sensitive identifiers: national identity, known-traveller and redress numbers, employee numbers.

National identity, known-traveller and redress numbers are sensitive like the passport number:
the service keeps a keyed hash (HMAC-SHA256 under the pepper) and never stores or republishes
the number. Whether a national identity number is well formed is checked with python-stdnum
(the country's check digits), where the issuing country is known and stdnum has a module
for it; a number that fails is flagged and still compared for equality, never dropped.

One edit apart, without the clear value. Two numbers one substitution, insertion, deletion or
adjacent transposition apart share a *deletion variant* (the number with one character
left out: "DE1234" and "DE1243" both give "DE124"; "DE1234" gives "DE123", which is the number
"DE123" itself). So each number is also kept as the keyed hashes of itself and its deletion
variants (short, 16 hex digits), and two records whose sets intersect
are "one edit" apart. The test accepts a few pairs two edits apart (a character removed at
one end and added at the other), which the comparison level's learned weight absorbs.

A passport number's exact hash is `normalize.passport_hash` (unchanged since records were first
stored: the number alone, without a kind, so stored hashes keep matching); its deletion variants
are sealed here like the other numbers (kind "passport") from the number alone, without the
issuing country, which sources often leave out or state differently for one passport
(`passport_variants`).

An employee number only means something within its company: its key is qualified by the
company's key ("acme:E01234").
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from stdnum.exceptions import ValidationError
from stdnum.util import get_cc_module

_CLEAN = re.compile(r"[^A-Za-z0-9]")
VARIANT_DIGITS = 16
_MAX_FOR_VARIANTS = 24  # longer "numbers" are not identifiers worth a neighbourhood

# stdnum's module for a country's personal identity number.
_NATIONAL_ID_MODULES = {
    "AR": "dni",
    "AT": "vnr",
    "AU": "tfn",
    "BE": "nn",
    "BG": "egn",
    "BR": "cpf",
    "CH": "ssn",
    "CL": "rut",
    "CN": "ric",
    "CZ": "rc",
    "DE": "idnr",
    "DK": "cpr",
    "EE": "ik",
    "ES": "dni",
    "FI": "hetu",
    "FR": "nir",
    "GR": "amka",
    "HR": "oib",
    "IE": "pps",
    "IN": "aadhaar",
    "IS": "kennitala",
    "IT": "codicefiscale",
    "LT": "asmens",
    "LV": "pk",
    "MX": "curp",
    "NL": "bsn",
    "NO": "fodselsnummer",
    "PL": "pesel",
    "PT": "cc",
    "RO": "cnp",
    "SE": "personnummer",
    "SG": "nric",
    "SI": "emso",
    "TR": "tckimlik",
    "US": "ssn",
    "ZA": "idnr",
}


@dataclass(frozen=True, slots=True)
class SealedIdentifier:
    """What is kept of a sensitive number: its keyed hash, its one-edit neighbourhood, and a flag."""

    hash: str
    variants: frozenset[str]
    problem: str | None = None  # "invalid check digits", "malformed": flagged, still compared

    def one_edit_from(self, other: SealedIdentifier) -> bool:
        return self.hash != other.hash and bool(self.variants & other.variants)


def clean(number: str | None) -> str:
    """Upper case, letters and digits only ("123-45 678" → "12345678")."""
    return _CLEAN.sub("", number or "").upper()


def seal(number: str | None, *, kind: str, pepper: str, problem: str | None = None) -> SealedIdentifier | None:
    """The keyed hash and deletion-variant hashes of a number; None when there is no number."""
    value = clean(number)
    if not value:
        return None
    key = pepper.encode()
    exact = hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    variants: frozenset[str] = frozenset()
    if 3 <= len(value) <= _MAX_FOR_VARIANTS:
        forms = {value} | {value[:i] + value[i + 1 :] for i in range(len(value))}
        variants = frozenset(
            hmac.new(key, f"{kind}~{form}".encode(), hashlib.sha256).hexdigest()[:VARIANT_DIGITS] for form in forms
        )
    return SealedIdentifier(hash=exact, variants=variants, problem=problem)


def passport_variants(number: str | None, *, pepper: str) -> frozenset[str]:
    """The deletion-variant hashes of a passport number (its exact hash: `normalize.passport_hash`)."""
    sealed = seal(number, kind="passport", pepper=pepper)
    return sealed.variants if sealed is not None else frozenset()


def national_id_problem(number: str | None, country: str | None) -> str | None:
    """Why a national identity number breaks its country's rules; None when it passes or cannot be checked."""
    value = clean(number)
    if not value:
        return None
    if not 4 <= len(value) <= 20:
        return "malformed"
    module = _module(country.upper()) if country else None
    if module is None:
        return None
    try:
        module.validate(value)
    except ValidationError as error:
        return f"invalid ({str(error).rstrip('.')})".lower()
    return None


@lru_cache(maxsize=64)
def _module(country: str) -> Any:
    name = _NATIONAL_ID_MODULES.get(country)
    if name is None:
        return None
    return get_cc_module(country.lower(), name)


def known_traveller_problem(number: str | None) -> str | None:
    """A known-traveller number (TSA PreCheck, Global Entry, NEXUS, SENTRI) is 8–10 letters and digits."""
    value = clean(number)
    if value and not re.fullmatch(r"[A-Z0-9]{8,10}", value):
        return "malformed"
    return None


def redress_problem(number: str | None) -> str | None:
    """A DHS redress control number is 7 digits (older ones up to 13 letters and digits)."""
    value = clean(number)
    if value and not re.fullmatch(r"\d{7}|[A-Z0-9]{8,13}", value):
        return "malformed"
    return None


def employee_key(number: str | None, company_key: str | None) -> str:
    """An employee number within its company ("acme:E01234"); '' without either."""
    value = clean(number)
    if not value or not company_key:
        return ""
    return f"{company_key}:{value.lstrip('0') or '0'}"
