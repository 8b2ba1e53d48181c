"""Comparison levels: which level of agreement two match forms of one field fall in.

Each function is pure and symmetric, and checks its levels from the strongest agreement down;
the m/u-probabilities of the levels are the model's (`domain/model_params.py`). Typos real
data carries are levels of their own: a Damerau–Levenshtein edit in a name or an identifier,
a replaced or transposed digit in a birth date, day and month swapped, the year off by one.
"""

from __future__ import annotations

from functools import lru_cache

from rapidfuzz.distance import OSA, JaroWinkler, Levenshtein

from services.profile.domain.names import are_nicknames, chinese_names, phonetic, pinyin_given_names

# Shorter names differ by one letter too often between two people ("li", "lu"; "lee", "lea").
_ONE_EDIT_MIN_LENGTH = 4


def _jw(a: str, b: str) -> float:
    return float(JaroWinkler.similarity(a, b))


def _transliteration_key(name: str) -> str:
    """German umlauts as their two-letter transcriptions fold onto the plain letter: "mueller", "muller"."""
    return name.replace("ae", "a").replace("oe", "o").replace("ue", "u")


def _one_edit(a: str, b: str) -> bool:
    return min(len(a), len(b)) >= _ONE_EDIT_MIN_LENGTH and OSA.distance(a, b, score_cutoff=1) == 1


# Chinese names in pinyin: two spellings of a Chinese name that are both pinyin are two names, not a
# typo. Different names are often one letter or a sound apart in pinyin (明 ming and 平 ping, 建 jian
# and 军 jun, 张 zhang and 詹 zhan), and twins share the family name and the birth date, so a near
# miss between them must not count as agreement. A typo mostly leaves no pinyin ("jinfekng"), and
# keeps its level. The names read as Chinese when both family names are one pinyin syllable (or a
# compound family name) and both given names one to three (`names.chinese_names`,
# `names.pinyin_given_names`).


def family_level(a: str, b: str, givens: tuple[str, str] = ("", "")) -> str:
    """`givens`: the two records' given names, for the Chinese rule above."""
    if a == b:
        return "exact"
    if chinese_names(a, b) and pinyin_given_names(*givens):
        return "different"
    return _family_level(a, b)


@lru_cache(maxsize=1 << 18)  # pure; the same name pairs come back with every common name
def _family_level(a: str, b: str) -> str:
    if _transliteration_key(a) == _transliteration_key(b):
        return "transliteration"
    if _one_edit(a, b):
        return "one-edit"
    jw = _jw(a, b)
    if jw >= 0.93 or phonetic(a) == phonetic(b):
        return "phonetic"
    if jw >= 0.85:
        return "fuzzy"
    return "different"


def given_level(a_full: str, a_first: str, b_full: str, b_first: str, families: tuple[str, str] = ("", "")) -> str:
    """`families`: the two records' family names, for the Chinese rule above."""
    if a_full == b_full or (len(a_first) > 1 and a_first == b_first):
        return "exact"
    if chinese_names(*families) and pinyin_given_names(a_full, b_full):
        return "different"
    return _given_level(a_full, a_first, b_full, b_first)


@lru_cache(maxsize=1 << 18)  # pure, and keyed by the names alone (not the family names beside them)
def _given_level(a_full: str, a_first: str, b_full: str, b_first: str) -> str:
    if are_nicknames(a_first, b_first):
        return "nickname"
    if (len(a_first) == 1 or len(b_first) == 1) and a_first[:1] == b_first[:1]:
        return "initial"
    if _transliteration_key(a_full) == _transliteration_key(b_full) or (
        len(a_first) > 1 and _transliteration_key(a_first) == _transliteration_key(b_first)
    ):
        return "transliteration"
    if _one_edit(a_full, b_full) or _one_edit(a_first, b_first):
        return "one-edit"
    best = max(_jw(a_full, b_full), _jw(a_first, b_first))
    if best >= 0.93 or phonetic(a_first) == phonetic(b_first):
        return "phonetic"
    if best >= 0.85:
        return "fuzzy"
    return "different"


# Birth-date levels that name another date, not a mistyped one: the deterministic rules'
# guard treats them as disagreeing birth dates (siblings, a parent and a child).
DOB_DISAGREEING = frozenset({"different", "year-plus-minus-one", "same-year-month"})


def dob_level(a: str, b: str) -> str:
    """Two ISO dates (YYYY-MM-DD)."""
    if a == b:
        return "exact"
    ya, ma, da = a[:4], a[5:7], a[8:10]
    yb, mb, db = b[:4], b[5:7], b[8:10]
    if ya == yb and ma == db and da == mb:
        return "day-month-swapped"
    if Levenshtein.distance(a, b, score_cutoff=1) == 1:
        return "typo"
    if OSA.distance(a, b, score_cutoff=1) == 1:
        return "transposed"
    if ma == mb and da == db and ya.isdigit() and yb.isdigit() and abs(int(ya) - int(yb)) == 1:
        return "year-plus-minus-one"
    if ya == yb and ma == mb:
        return "same-year-month"
    return "different"


# Placeholders systems put in a required date field: two records with one say nothing alike.
PLACEHOLDER_DATES = frozenset({"1900-01-01", "1901-01-01", "1899-12-31", "1800-01-01", "0001-01-01", "9999-12-31"})


def flagged_dates_equal(a: str, b: str) -> bool:
    """Flagged (implausible or invalid) birth dates are compared for equality only, placeholders never."""
    return a == b and a not in PLACEHOLDER_DATES


def mailbox_from_name(local: str, given_first: str, given: str, family: str) -> bool:
    """Whether a mailbox name is just the person's name ("li.wang", "lwang7"): then it adds no evidence."""
    bare = "".join(ch for ch in local if ch.isalpha())
    first = given_first or given
    if not bare or not family or not first:
        return False
    return bare in {first + family, family + first, first[:1] + family, family + first[:1], given + family}


def email_level(a: str, a_named: bool, b: str, b_named: bool) -> str:
    """Two mailbox keys; `*_named`: whether each one's mailbox name is the person's name."""
    if a == b:
        return "exact"
    la, lb = a.rpartition("@")[0], b.rpartition("@")[0]
    if la == lb and len(la) >= 4:
        return "same-name-mailbox" if a_named or b_named else "same-mailbox-name"
    if a_named and b_named:
        return "different"  # "john.smith" and "john.smith2": two namesakes at one provider
    if OSA.distance(a, b, score_cutoff=1) == 1:
        return "one-edit"
    if _jw(a, b) >= 0.94:
        return "fuzzy"
    return "different"


def phone_level(a: str, b: str) -> str:
    if a == b:
        return "exact"
    if a[-8:] == b[-8:]:
        return "same-subscriber"
    if OSA.distance(a, b, score_cutoff=1) == 1:
        return "one-edit"
    return "different"


def loyalty_level(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, str]:
    """The level and the numbers it rests on ("PROGRAMME:NUMBER", comma-separated)."""
    shared = sorted(set(a) & set(b))
    if shared:
        return "shared", ",".join(shared)
    for x in a:
        prog, _, num = x.partition(":")
        for y in b:
            other_prog, _, other = y.partition(":")
            if prog == other_prog and len(num) >= 6 and OSA.distance(num, other, score_cutoff=1) == 1:
                return "one-edit", prog
    return "none-shared", ""


def address_level(a: tuple[str, ...], b: tuple[str, ...]) -> str:
    """Two addresses as (postcode, street, number, city) keys; the best of what both state.

    Streets agree as `streets_agree` says (a typo, a space, a locality line written after the
    street). One street and house number in one city with the postcodes differing is a typo in
    the postcode: "same-street".
    """
    pa, sa, na, ca = a
    pb, sb, nb, cb = b
    street = bool(sa and sb) and streets_agree(sa, sb)
    if pa and pb and bare_postcode(pa) == bare_postcode(pb) and (pa == pb or ":" not in pa or ":" not in pb):
        if street:
            return "exact" if na and na == nb else "same-street"
        return "same-postcode"
    if ca and ca == cb:
        return "same-street" if street and na and na == nb else "same-city"
    return "different"


# Street keys this long (spaces left out) may differ by two edits, shorter ones by one.
_STREET_TWO_EDITS = 16


def streets_agree(a: str, b: str) -> bool:
    """Two street keys name one street: equal; equal but for spaces and a typo or two (one below 16
    letters) with the first letter kept ("duffy ytreet arders ier", "duffy street ardersier"); or one
    is the other with words after it, a locality or a building written on the same line ("julia flynn
    avenue", "julia flynn avenue nazareth village"), also with such a typo."""
    if a == b:
        return True
    wa, wb = a.split(" "), b.split(" ")
    if len(wa) > len(wb):
        wa, wb = wb, wa
    ca, cb = "".join(wa), "".join(wb)
    if not ca or ca[0] != cb[0]:
        return False
    if len(wb) > len(wa) and _close(ca, "".join(wb[: len(wa)])):
        return True
    return _close(ca, cb)


def _close(a: str, b: str) -> bool:
    if a == b:
        return True
    limit = 2 if min(len(a), len(b)) >= _STREET_TWO_EDITS else 1
    return OSA.distance(a, b, score_cutoff=limit) <= limit


def bare_postcode(key: str) -> str:
    """A postcode key without its country ("DE:10115" → "10115"): a source may leave the country out."""
    return key.rpartition(":")[2]


def sealed_level(a: str, a_variants: frozenset[str], b: str, b_variants: frozenset[str]) -> str:
    """Two sealed numbers (keyed hashes and deletion-variant hashes): `SealedIdentifier.one_edit_from`."""
    if a == b:
        return "exact"
    if a_variants & b_variants:
        return "one-edit"
    return "different"


def employee_level(a: str, b: str) -> str | None:
    """Two employee keys; None when they belong to different companies (nothing to compare)."""
    if a == b:
        return "exact"
    if a.rpartition(":")[0] != b.rpartition(":")[0]:
        return None
    return "different"
