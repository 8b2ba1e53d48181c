"""What matching sees of a record (`MatchFeatures`) and the blocking keys it is looked up by."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.profile.domain.identifiers import VARIANT_DIGITS
from services.profile.domain.names import nickname_forms, phonetic


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
    passport_variants: frozenset[str] = frozenset()  # deletion-variant hashes (`identifiers.passport_variants`)
    nationality: str = ""
    company: str = ""  # company name key
    # Addresses as (postcode key, street key, house number key, city key): `addresses.AddressReading`.
    home: tuple[str, ...] = ()
    business: tuple[str, ...] = ()
    employee: str = ""  # "<company key>:<number>" (`identifiers.employee_key`)
    national_id: str = ""  # keyed hash
    national_id_variants: frozenset[str] = frozenset()  # deletion-variant hashes (`identifiers.seal`)
    known_traveller: str = ""  # keyed hash
    known_traveller_variants: frozenset[str] = frozenset()
    # Invalid identifiers kept for equality only, as "kind:value" (`FLAGGED_KINDS`): an email that is not
    # an address, a phone number no numbering plan has, a loyalty number outside its programme's format.
    flagged: tuple[str, ...] = ()
    # Valid secondary emails (mailbox keys) and phones (E.164) besides the primary ones: an HR feed's
    # private address is the one a traveller books with.
    other_emails: tuple[str, ...] = ()
    other_phones: tuple[str, ...] = ()

    @property
    def email_local(self) -> str:
        return self.email.rpartition("@")[0]

    def to_json(self) -> dict[str, Any]:
        """Compact form stored beside the source record (empty fields left out; variant hashes as one
        string of 16-digit hashes, sorted)."""
        out: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if value:
                out[name] = list(value) if isinstance(value, tuple) else value
        for name in ("home", "business"):
            if getattr(self, name):
                out[name] = "|".join(getattr(self, name))
        for name in ("passport_variants", "national_id_variants", "known_traveller_variants"):
            if getattr(self, name):
                out[name] = "".join(sorted(getattr(self, name)))
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MatchFeatures:
        # Only the fields a record has (most have a few), each converted where its stored form differs:
        # candidates' features are read with every lookup.
        converted = _CONVERTED.keys() & data.keys()
        kwargs = dict(data)
        for name in converted:
            kwargs[name] = _CONVERTED[name](kwargs[name])
        try:
            return cls(**kwargs)
        except TypeError:  # a key written by a later version: left out
            return cls(**{k: v for k, v in kwargs.items() if k in _ATTRIBUTES})


def address_form(postcode: str, street: str, number: str, city: str) -> tuple[str, ...]:
    """An address's match forms as `MatchFeatures` keeps them; () when it has no postcode and no city."""
    return (postcode, street, number, city) if postcode or city else ()


def _address(text: str) -> tuple[str, ...]:
    return tuple(text.split("|")) if text else ()


def _variants(text: str | None) -> frozenset[str]:
    if not text:
        return _NONE
    return frozenset(text[i : i + VARIANT_DIGITS] for i in range(0, len(text), VARIANT_DIGITS))


_NONE: frozenset[str] = frozenset()
# Stored fields whose attribute has another form; the others are stored as they are.
_CONVERTED: dict[str, Any] = {
    "loyalty": tuple,
    "flagged": tuple,
    "other_emails": tuple,
    "other_phones": tuple,
    "passport_variants": _variants,
    "home": _address,
    "business": _address,
    "national_id_variants": _variants,
    "known_traveller_variants": _variants,
}
_ATTRIBUTES = frozenset(MatchFeatures.__dataclass_fields__)

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
    "employee",
    "national_id",
    "known_traveller",
    "flagged",
    "other_emails",
    "other_phones",
)
# The kinds of `MatchFeatures.flagged` values and the blocking key each is stored under.
FLAGGED_KINDS = {"email": "e", "phone": "p", "loyalty": "l"}


# --- blocking -------------------------------------------------------------------------------


def blocking_keys(f: MatchFeatures) -> list[str]:
    """Indexed keys under which a record is stored and looked up; records sharing none are never compared.

    Strongest first: strong identifiers; the phone's last nine digits; the birth date with
    both initials (typos past the first letter, swapped order); identifier and address keys;
    then the weak ones, looked up with a smaller limit: the name keys of `_one_name_keys`. The
    family name's code with the birth date finds a replaced given name. Each key is stored and
    locked with every record, so a key earns its place by the true pairs only it finds
    (bench/results/linkage.md): the email's mailbox name alone, both names' codes together and
    the given name's code with the birth date found next to none and are no longer keys (the
    sound-alike name search reads the codes from the search document instead).
    """
    keys: list[str] = []
    if f.passport:
        keys.append(f"pp:{f.passport[:32]}")
    keys.extend(f"l:{lo}" for lo in f.loyalty)
    for flagged in f.flagged:
        kind, _, value = flagged.partition(":")
        keys.append(f"{FLAGGED_KINDS[kind]}:{value[-9:] if kind == 'phone' else value}")
    if f.email:
        keys.append(f"e:{f.email}")
    keys.extend(f"e:{email}" for email in f.other_emails)
    if f.phone:
        keys.append(f"p:{f.phone[-9:]}")
    keys.extend(f"p:{phone[-9:]}" for phone in f.other_phones)
    given = f.given_first or f.given
    fam_code, giv_code = phonetic(f.family), phonetic(given)
    if f.dob and f.family and given:
        keys.append(f"d:{f.dob}:{''.join(sorted((f.family[0], given[0])))}")
    if f.dob and fam_code:  # a replaced or mistyped given name (FEBRL's replaced values)
        keys.append(f"b:{fam_code}:{f.dob}")
    keys.extend(_identifier_keys(f))
    keys.extend(_address_keys(f, fam_code))
    keys.extend(_one_name_keys(f.family, given, fam_code, giv_code, f.company))
    keys.extend(f"nv:{v}" for v in sorted(f.national_id_variants))
    return keys


def _one_name_keys(family: str, given: str, fam_code: str, giv_code: str, company: str) -> list[str]:
    """One name part right and the other mistyped, replaced or swapped: each part's code with the
    company, and with the start of the other part (weak), both ways round."""
    keys = [f"c:{company}:{code}" for code in sorted({fam_code, giv_code} - {""})] if company else []
    if family and given:
        # Each name part as written with the other part's initial: one part right, the other mistyped,
        # replaced by a nickname with its initial, or swapped (both ways round). Until this version
        # the key was each part's phonetic code with the other part's first two letters: that missed a
        # typo early in the other part ("Mstthew Mckay", "Donna Czark"), at the same cost.
        keys.extend(sorted({f"x:{family}:{given[:1]}", f"x:{given}:{family[:1]}"}))
        # The name's letters in order: swapped or transposed letters, parts split elsewhere ("jianhua chen",
        # "huachen jian"; "irisvan northeim", "iris vannortheim").
        keys.append("a:" + "".join(sorted(given + family)))
        # One part alone (weak: the first few records of a common name only): a replaced other part.
        keys.extend(f"o:{code}" for code in sorted({fam_code, giv_code} - {""}) if ONE_PART_KEYS)
        if fam_code:  # a nickname for its name across initials ("bob", "robert"); "tom" and "thomas" share "x:"
            keys.extend(f"k:{fam_code}:{name}" for name in sorted(nickname_forms(given)))
    return keys


def _identifier_keys(f: MatchFeatures) -> list[str]:
    keys = []
    if f.national_id:
        keys.append(f"ni:{f.national_id}")
    if f.known_traveller:
        keys.append(f"kt:{f.known_traveller}")
    if f.employee:
        keys.append(f"em:{f.employee}")
    return keys


def _address_keys(f: MatchFeatures, fam_code: str) -> list[str]:
    """Postcode with the house number, postcode with the family name's code (both addresses)."""
    keys: list[str] = []
    for address in (f.home, f.business):
        if not address:
            continue
        postcode, street, number, _city = address
        postcode = postcode.rpartition(":")[2]  # a source may leave the country out
        if postcode and number:
            keys.append(f"pn:{postcode}:{number}")
        if postcode and fam_code:
            keys.append(f"pf:{postcode}:{fam_code}")
        if street and number:
            keys.append(f"sn:{street}:{number}")
    return list(dict.fromkeys(keys))


# Each name part alone as a key (weak) finds replaced names ("Sarah Mills", "Emily Mills") but makes
# four to five times the candidates (bench/results/linkage.md, "With the new fields in matching").
ONE_PART_KEYS = False
WEAK_KEY_PREFIXES = ("nv:", "sn:", "x:", "k:", "o:")


def is_weak_key(key: str) -> bool:
    """Weak keys (many records share them) are looked up with a smaller limit."""
    return key.startswith(WEAK_KEY_PREFIXES)


# A name part with the other's initial is shared by many records (a common name): its first 2 records
# only. On the original generator 2 records give record recall 0.9973 at 2.1 candidates per record, 5
# records 0.9981 at 2.9, 20 records 0.9986 at 4.2, nearly all of them other people. With 5 the 1M import
# took 18.6 min instead of 14.2 (17 candidates per record instead of 12): at that size common names fill
# every key (bench/results/profile.md).
NARROW_KEY_PREFIXES = ("x:",)
NARROW_KEY_LIMIT = 2


def lookup_limit(key: str, per_key: int) -> int:
    """How many stored records a lookup reads under a key: `per_key`, half for weak keys, a few for narrow
    ones."""
    if key.startswith(NARROW_KEY_PREFIXES):
        return min(NARROW_KEY_LIMIT, per_key)
    return max(1, per_key // 2) if is_weak_key(key) else per_key


def name_pair_key(f: MatchFeatures) -> str:
    """Both names' phonetic codes, in either order: a key of the names alone, never stored (weight
    estimation groups pairs by it: `estimation.SESSIONS`)."""
    codes = sorted({phonetic(f.family), phonetic(f.given_first or f.given)} - {""})
    return f"n:{codes[0]}|{codes[1]}" if len(codes) == 2 else ""
