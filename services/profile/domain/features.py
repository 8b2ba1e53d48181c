"""What matching sees of a record (`MatchFeatures`) and the blocking keys it is looked up by."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.profile.domain.names import phonetic


@dataclass(frozen=True, slots=True)
class MatchFeatures:
    """What matching sees of a record: match forms of valid values ('' when missing)."""

    given: str = ""  # all given names joined ("annmarie", "xiaoming")
    given_first: str = ""  # first given name ("ann")
    family: str = ""  # family name joined ("vanderberg", "wang")
    dob: str = ""  # ISO date
    dob_flagged: str = ""  # an implausible (ISO) or invalid (as typed) birth date: compared for equality only
    email: str = ""  # mailbox key (see normalize.email_match_key)
    phone: str = ""  # E.164
    loyalty: tuple[str, ...] = ()  # PROGRAMME:NUMBER
    passport: str = ""  # keyed hash
    nationality: str = ""
    company: str = ""  # company name key

    @property
    def email_local(self) -> str:
        return self.email.rpartition("@")[0]

    def to_json(self) -> dict[str, Any]:
        """Compact form stored beside the source record (empty fields left out)."""
        out: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if value:
                out[name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MatchFeatures:
        g = data.get
        return cls(
            given=g("given", ""),
            given_first=g("given_first", ""),
            family=g("family", ""),
            dob=g("dob", ""),
            dob_flagged=g("dob_flagged", ""),
            email=g("email", ""),
            phone=g("phone", ""),
            loyalty=tuple(g("loyalty", ())),
            passport=g("passport", ""),
            nationality=g("nationality", ""),
            company=g("company", ""),
        )


_FIELDS = (
    "given",
    "given_first",
    "family",
    "dob",
    "dob_flagged",
    "email",
    "phone",
    "loyalty",
    "passport",
    "nationality",
    "company",
)


# --- blocking -------------------------------------------------------------------------------


def blocking_keys(f: MatchFeatures) -> list[str]:
    """Indexed keys under which a record is stored and looked up; records sharing none are never compared.

    Strongest first: strong identifiers; the phone's last nine digits; the birth date with
    both initials (typos past the first letter, swapped order); each name part's phonetic
    code with the birth date (a nickname or a typo in the other part); then the weak ones,
    looked up with a smaller limit: the email mailbox name (a changed domain) and the
    phonetic codes of both name parts in either order (a missing or mistyped birth date).
    """
    keys: list[str] = []
    if f.passport:
        keys.append(f"pp:{f.passport[:32]}")
    keys.extend(f"l:{lo}" for lo in f.loyalty)
    if f.email:
        keys.append(f"e:{f.email}")
    if f.phone:
        keys.append(f"p:{f.phone[-9:]}")
    given = f.given_first or f.given
    fam_code, giv_code = phonetic(f.family), phonetic(given)
    if f.dob and f.family and given:
        keys.append(f"d:{f.dob}:{''.join(sorted((f.family[0], given[0])))}")
    if f.dob:
        keys.extend(f"b:{c}:{f.dob}" for c in sorted({fam_code, giv_code} - {""}))
    local = f.email_local
    if len(local) >= 6:
        keys.append(f"el:{local}")
    if fam_code and giv_code:
        keys.append("n:" + "|".join(sorted((fam_code, giv_code))))
    return keys


WEAK_KEY_PREFIXES = ("el:", "n:")


def is_weak_key(key: str) -> bool:
    """Weak keys (many records share them) are looked up with a smaller limit."""
    return key.startswith(WEAK_KEY_PREFIXES)


def name_search_keys(given: str, family: str) -> list[str]:
    """Keys to look a name up by (fuzzy name search)."""
    codes = sorted({c for c in (phonetic(family), phonetic(given)) if c})
    return [f"n:{codes[0]}|{codes[1]}"] if len(codes) == 2 else []
