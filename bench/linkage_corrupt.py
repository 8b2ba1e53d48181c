"""Corruption functions of the travel data generator (`bench/linkage_datagen.py`).

Each function takes a random generator and a value and returns the corrupted value (or the value
unchanged when the corruption does not apply to it). The tables follow GeCo's (Christen and
Vatsalan, 2013; Tran, Vatsalan and Christen, 2013): keyboard neighbours on a QWERTY layout,
OCR confusions, phonetic rewrite rules, and date corruptions as in FEBRL's generator.
"""

from __future__ import annotations

import random
from datetime import date

from nicknames import NickNamer

# Neighbouring keys on a QWERTY keyboard (letters only: names).
_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
KEYBOARD: dict[str, str] = {}
for _r, _row in enumerate(_ROWS):
    for _c, _ch in enumerate(_row):
        near = [_row[i] for i in (_c - 1, _c + 1) if 0 <= i < len(_row)]
        for _other in (_r - 1, _r + 1):
            if 0 <= _other < len(_ROWS):
                near += [_ROWS[_other][i] for i in (_c - 1, _c, _c + 1) if 0 <= i < len(_ROWS[_other])]
        KEYBOARD[_ch] = "".join(near)

# Characters a scanner or a tired clerk reads as others (GeCo's OCR table, letters only, both ways).
OCR: list[tuple[str, str]] = [
    ("m", "rn"), ("rn", "m"), ("d", "cl"), ("cl", "d"), ("w", "vv"), ("vv", "w"), ("h", "b"), ("b", "h"),
    ("e", "c"), ("c", "e"), ("u", "v"), ("v", "u"), ("g", "q"), ("q", "g"), ("i", "l"), ("l", "i"),
    ("n", "h"), ("a", "o"), ("o", "a"), ("f", "t"),
]  # fmt: skip

# Spellings that sound alike (a subset of GeCo's phonetic variation rules, usable both ways).
PHONETIC: list[tuple[str, str]] = [
    ("ph", "f"), ("f", "ph"), ("ck", "k"), ("c", "k"), ("k", "c"), ("ei", "ie"), ("ie", "ei"), ("y", "i"),
    ("i", "y"), ("z", "s"), ("s", "z"), ("th", "t"), ("dt", "t"), ("v", "w"), ("w", "v"), ("sch", "sh"),
    ("ou", "u"), ("ae", "e"), ("mm", "m"), ("nn", "n"), ("tt", "t"), ("ll", "l"), ("ss", "s"), ("x", "ks"),
    ("qu", "kw"), ("gh", "g"), ("ai", "ay"), ("ey", "ay"), ("ee", "ea"), ("oo", "u"),
]  # fmt: skip

HONORIFICS = ["Mr", "Mrs", "Ms", "Dr", "Dr.", "Prof.", "Herr", "Frau", "M.", "Mme", "Sr.", "Sra."]

_NICK = NickNamer()


def _latin(word: str) -> bool:
    return word.isascii() and word.isalpha() and len(word) >= 3


def _keep_case(original: str, changed: str) -> str:
    return changed.capitalize() if original[:1].isupper() else changed


def keyboard_typo(rng: random.Random, word: str) -> str:
    """One letter replaced by a neighbouring key."""
    if not _latin(word):
        return word
    low = word.lower()
    i = rng.randrange(1, len(low))
    near = KEYBOARD.get(low[i], "")
    return _keep_case(word, low[:i] + rng.choice(near) + low[i + 1 :]) if near else word


def doubled_letter(rng: random.Random, word: str) -> str:
    """A letter written twice, or a double letter written once."""
    if not _latin(word):
        return word
    low = word.lower()
    doubles = [i for i in range(1, len(low)) if low[i] == low[i - 1]]
    if doubles and rng.random() < 0.5:
        i = rng.choice(doubles)
        return _keep_case(word, low[:i] + low[i + 1 :])
    i = rng.randrange(1, len(low))
    return _keep_case(word, low[:i] + low[i] + low[i:])


def _rewrite(rng: random.Random, word: str, rules: list[tuple[str, str]]) -> str:
    if not _latin(word):
        return word
    low = word.lower()
    options = [(i, old, new) for old, new in rules for i in range(1, len(low)) if low.startswith(old, i)]
    if not options:
        return word
    i, old, new = rng.choice(options)
    return _keep_case(word, low[:i] + new + low[i + len(old) :])


def ocr(rng: random.Random, word: str) -> str:
    """One OCR confusion (rn/m, cl/d, …), never on the first letter."""
    return _rewrite(rng, word, OCR)


def phonetic(rng: random.Random, word: str) -> str:
    """One phonetic variant (ph/f, ei/ie, …), never on the first letter."""
    return _rewrite(rng, word, PHONETIC)


def nickname(rng: random.Random, given: str) -> str:
    options = sorted(_NICK.nicknames_of(given.lower())) if _latin(given) else []
    return rng.choice(options).capitalize() if options else given


def honorific(rng: random.Random, given: str) -> str:
    return f"{rng.choice(HONORIFICS)} {given}"


def date_typo(rng: random.Random, day: date) -> date:
    """One digit of the ISO date changed (kept when the result is no calendar date)."""
    iso = day.isoformat()
    pos = rng.choice([2, 3, 5, 6, 8, 9])
    text = iso[:pos] + str((int(iso[pos]) + rng.choice([1, 9])) % 10) + iso[pos + 1 :]
    try:
        return date.fromisoformat(text)
    except ValueError:
        return day


def day_month_swap(day: date) -> date:
    return date(day.year, day.day, day.month) if day.day <= 12 and day.day != day.month else day
