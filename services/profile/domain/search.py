"""What the traveller search compares: the names and companies of a customer, in one folded form.

Folded as matching folds names (any script to ASCII, lower case: "Lübs" and "LÜBS" are
"lubs", 王伟 is "wang wei"), plus the German spelling of umlauts on an English keyboard
("Luebs" is "lubs" too: ae, oe, ue stand for ä, ö, ü), on the stored side and on the query
alike. Typos are forgiven by PostgreSQL's pg_trgm (word similarity of trigrams: "lindnr"
finds "lindner"), fragments by word prefixes ("lind").

A customer's search document holds every spelling its source records and golden record
give its names (a record typed "Soeren", another "Søren"), its company's name, and the
phonetic codes of its names as matching computes them ("#an.nt" for Ann Knight and Anne
Nite), which the sound-alike search looks for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from anyascii import anyascii

from services.profile.domain.names import match_tokens, phonetic

NAME_PARTS = ("given_name", "family_name", "display_name")


def search_tokens(text: str) -> list[str]:
    """The folded words of a name or company as the search compares them: ASCII letters and digits only
    (so they need no escaping in a LIKE pattern)."""
    return list(_folded(text))


@lru_cache(maxsize=1 << 16)  # names repeat (given names, families, companies): fold each once
def _folded(text: str) -> tuple[str, ...]:
    words = (_german(_plain(t)) for t in match_tokens(text))
    return tuple(w for w in words if w)


def _plain(token: str) -> str:
    if token.isascii() and token.isalnum():
        return token  # match_tokens' usual output: nothing to fold
    return _ASCII.sub("", anyascii(token).lower())


_ASCII = re.compile(r"[^a-z0-9]+")


def _german(token: str) -> str:
    return token.replace("ae", "a").replace("oe", "o").replace("ue", "u")


def document(names: Iterable[Mapping[str, Any]], companies: Iterable[str | None]) -> str:
    """A customer's search document: the distinct folded words of its names, then of its companies.

    `names`: the name fields of its records and golden record (given_name, family_name, display_name).
    " anna lindner | globex gmbh ~ #an.lntnr": a space before every word, so a word prefix is
    `LIKE '% prefix%'` (which the trigram index serves); the names before `COMPANY_MARK`, so a search
    can rank a traveller named like the query before one whose company is; after `SOUNDS_MARK` the
    names' phonetic codes, which the database keeps as an indexed array (`search_sounds`).
    """
    words: set[str] = set()
    sounds: set[str] = set()
    for fields in names:
        for part in NAME_PARTS:
            value = fields.get(part)
            if value and value != "(unnamed)":
                words.update(_folded(str(value)))
        sounds.update(_sounds(fields.get("given_name"), fields.get("family_name")))
    firms: set[str] = set()
    for company in companies:
        if company:
            firms.update(_folded(company))
    return " " + " ".join([*sorted(words), COMPANY_MARK, *sorted(firms), SOUNDS_MARK, *sorted(sounds)])


COMPANY_MARK = "|"  # never a search word (words are letters and digits)
SOUNDS_MARK = "~"  # before the phonetic codes, the document's last part (migration 0013 indexes it as an array)
SOUND_MARK = "#"  # before each phonetic code: never a search word (a word prefix or a trigram query skips it)


def sound_words(given: str | None, family: str | None) -> list[str]:
    """The document word a name sounds like ("#jn.nt" for John Knight, and for Nite John): both name
    parts' phonetic codes (metaphone, as blocking computes them), in either order, as one word (one
    exact entry of the indexed array); none without both parts."""
    return sorted(_sounds(given, family, first_word=False))


def _sounds(given: object, family: object, *, first_word: bool = True) -> frozenset[str]:
    """Phonetic words of a name; a document also holds the one with its given name's first word
    ("Ann Marie": "ann")."""
    if not isinstance(given, str) or not isinstance(family, str):
        return frozenset()
    return _codes(given, family, first_word)


@lru_cache(maxsize=1 << 16)  # from the folded words (cached too): a document is written with every golden record
def _codes(given: str, family: str, first_word: bool) -> frozenset[str]:
    words = _folded(given)
    fam, giv = phonetic("".join(_folded(family))), phonetic("".join(words))
    if not fam or not giv:
        return frozenset()  # a name part without a sound: nothing to look for
    givens = {giv, phonetic(words[0])} - {""} if first_word else {giv}
    return frozenset(SOUND_MARK + ".".join(sorted((fam.lower(), g.lower()))) for g in givens)
