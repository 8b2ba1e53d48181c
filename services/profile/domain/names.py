"""Person names as source systems write them: order, case, accents, honorifics, nicknames, Chinese.

Two forms come out of here. The *display* form keeps the script and spelling the source
used, tidied (honorifics dropped, ALL CAPS softened). The *match* form is ASCII, lower
case, without spaces or hyphens: Chinese characters become pinyin (pypinyin), other
scripts and accents are transliterated (anyascii), so "王小明", "WANG Xiaoming" and
"Xiao-Ming Wang" meet on the same tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import jellyfish
from anyascii import anyascii
from nicknames import NickNamer
from pypinyin import lazy_pinyin

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")

HONORIFICS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "dr",
        "prof",
        "sir",
        "dame",
        "herr",
        "frau",
        "mme",
        "mlle",
        "m",
        "sr",
        "sra",
        "srta",
        "dott",
        "ing",
        "mag",
        "mstr",
        "master",
        "rev",
        "capt",
        "lord",
        "lady",
        "dipl",
    }
)
SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "phd", "md", "esq", "mba"})

# Two-character Chinese family names: the rest of a name written in characters is the given name.
COMPOUND_SURNAMES = frozenset(
    {
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "令狐",
        "端木",
        "轩辕",
        "澹台",
        "钟离",
        "申屠",
        "南宫",
        "西门",
        "独孤",
    }
)
# Characters whose reading as a family name differs from their common reading.
_SURNAME_READINGS = {
    "单": "shan",
    "曾": "zeng",
    "解": "xie",
    "仇": "qiu",
    "朴": "piao",
    "查": "zha",
    "区": "ou",
    "乐": "yue",
}

# Words that begin a family name ("van de Wal", "von der Leyen", "dos Santos", "di Maria"). Only
# when typed in lower case: "Van" capitalised is also a Vietnamese middle name ("An Van Nguyen").
FAMILY_PARTICLES = frozenset(
    ["van", "von", "de", "der", "den", "del", "della", "di", "da", "das", "dos", "do", "du", "la", "le", "ten",
     "ter", "te", "zu", "zum", "zur", "vom", "af", "av", "bin", "binti", "ibn", "al", "el"]
)  # fmt: skip

# The most frequent Chinese family names in pinyin: a romanised name starting with one of
# these (and not ending with one) is read family-name first ("Wang Xiaoming").
CHINESE_SURNAMES = frozenset(
    [
        "wang",
        "li",
        "zhang",
        "liu",
        "chen",
        "yang",
        "huang",
        "zhao",
        "wu",
        "zhou",
        "xu",
        "sun",
        "ma",
        "zhu",
        "hu",
        "guo",
        "he",
        "gao",
        "lin",
        "luo",
        "zheng",
        "liang",
        "xie",
        "song",
        "tang",
        "han",
        "feng",
        "deng",
        "cao",
        "peng",
        "zeng",
        "xiao",
        "tian",
        "dong",
        "yuan",
        "pan",
        "cai",
        "jiang",
        "yu",
        "du",
        "ye",
        "cheng",
        "wei",
        "su",
        "lu",
        "ding",
        "ren",
        "shen",
        "yao",
        "jin",
        "fu",
        "zhong",
        "dai",
        "cui",
        "tan",
        "jia",
        "fan",
        "shi",
        "qin",
        "shao",
        "meng",
        "xiong",
        "qiu",
        "bai",
        "kong",
        "mao",
        "yan",
        "hou",
        "lei",
        "long",
        "duan",
        "hao",
        "tao",
        "gu",
        "kang",
        "mo",
        "xia",
        "qian",
        "yin",
        "chang",
        "wan",
        "gong",
        "lai",
        "wen",
        "pang",
        "niu",
        "tong",
        "zhan",
        "ou",
        "yi",
        "geng",
        "guan",
        "lan",
        "hong",
        "ni",
    ]
)


@dataclass(frozen=True)
class PersonName:
    given: str | None
    family: str | None
    display: str


def is_chinese(text: str) -> bool:
    return bool(_HAN.search(text))


@lru_cache(maxsize=200_000)
def match_form(text: str) -> str:
    """ASCII, lower case, letters and digits only: the form names are compared in."""
    if not text:
        return ""
    if is_chinese(text):
        return "".join(lazy_pinyin(text))
    return _NON_ALNUM.sub("", anyascii(text).lower())


def _surname_pinyin(family: str) -> str:
    if len(family) == 1 and family in _SURNAME_READINGS:
        return _SURNAME_READINGS[family]
    return "".join(lazy_pinyin(family))


def match_tokens(text: str, *, family: bool = False) -> list[str]:
    """Match forms of each word of a name part (Chinese characters: the whole part is one token)."""
    if not text:
        return []
    if is_chinese(text):
        return [_surname_pinyin(text) if family else "".join(lazy_pinyin(text))]
    out = [_NON_ALNUM.sub("", w) for w in re.split(r"[\s\-]+", anyascii(text).lower())]
    return [w for w in out if w]


def _strip_words(words: list[str]) -> list[str]:
    while words and words[0].rstrip(".").casefold() in HONORIFICS and len(words) > 1:
        words.pop(0)
    while words and len(words) > 1 and words[-1].rstrip(".").casefold() in SUFFIXES | HONORIFICS:
        words.pop()  # "SMITH/WILLIAM MR", "John Smith Jr."
    return words


def clean_part(text: str | None) -> str | None:
    """Trim, collapse spaces, drop leading honorifics and trailing suffixes."""
    if not text:
        return None
    words = [w for w in re.split(r"\s+", text.strip().strip(",")) if w]
    if len(words) == 1 and words[0].rstrip(".").casefold() in HONORIFICS:
        return None
    return " ".join(_strip_words(words)) or None


def nice_case(text: str) -> str:
    """'ANN-MARIE' and 'ann-marie' become 'Ann-Marie'; mixed case is left as typed."""
    if is_chinese(text) or not (text.isupper() or text.islower()):
        return text
    return re.sub(r"[^\W\d_]+", lambda m: m.group(0)[:1].upper() + m.group(0)[1:].lower(), text)


def _split_chinese(full: str) -> tuple[str, str]:
    compact = re.sub(r"\s+", "", full)
    if compact[:2] in COMPOUND_SURNAMES and len(compact) > 2:
        return compact[:2], compact[2:]
    return compact[:1], compact[1:]


def split_full_name(full: str) -> tuple[str | None, str | None]:
    """(given, family) from a name typed in one field."""
    text = full.strip()
    if is_chinese(text) and not re.search(r"[A-Za-z]", text):
        family, given = _split_chinese(text)
        return given or None, family or None
    if "/" in text:  # airline style FAMILY/GIVEN MR
        fam, _, giv = text.partition("/")
        return clean_part(giv), clean_part(fam)
    if "," in text:  # "LEE, Ann"
        fam, _, giv = text.partition(",")
        return clean_part(giv), clean_part(fam)
    words = _strip_words([w for w in text.split() if w])
    if not words:
        return None, None
    if len(words) == 1:
        return None, words[0]
    first, last = words[0], words[-1]
    # "WANG Xiaoming": a family name in capitals before a mixed-case given name.
    if first.isupper() and len(first) > 1 and not last.isupper():
        return " ".join(words[1:]), first
    # "Wang Xiaoming" / "Wang Xiao Ming": a common Chinese family name first.
    if match_form(first) in CHINESE_SURNAMES and match_form(last) not in CHINESE_SURNAMES:
        return " ".join(words[1:]), first
    # "Wesley van de Wal": particles typed in lower case before the last word belong to the family name.
    cut = len(words) - 1
    while cut > 0 and words[cut - 1].islower() and words[cut - 1] in FAMILY_PARTICLES:
        cut -= 1
    return " ".join(words[:cut]) or None, " ".join(words[cut:])


def person_name(*, given: str | None, family: str | None, full: str | None) -> PersonName:
    """Split and tidy a name: honorifics dropped, 'FAMILY, Given', 'FAMILY/GIVEN', ALL CAPS, characters."""
    given_c, family_c = clean_part(given), clean_part(family)
    if not (given_c or family_c) and full:
        given_c, family_c = split_full_name(full)
    given_c = nice_case(given_c) if given_c else None
    family_c = nice_case(family_c) if family_c else None
    if family_c and given_c and is_chinese(family_c) and is_chinese(given_c):
        display = f"{family_c}{given_c}"  # Chinese order, no space
    else:
        display = " ".join(p for p in (given_c, family_c) if p) or (full or "").strip() or "(unnamed)"
    return PersonName(given=given_c, family=family_c, display=display)


_NICKNAMER: NickNamer | None = None


def _nicknamer() -> NickNamer:
    global _NICKNAMER  # noqa: PLW0603  # loaded lazily once: a CSV read, not I/O worth injecting
    if _NICKNAMER is None:
        _NICKNAMER = NickNamer()
    return _NICKNAMER


@lru_cache(maxsize=50_000)
def name_variants(given: str) -> frozenset[str]:
    """The given name with its nicknames and the names it is a nickname of ('bill' ~ 'william')."""
    if not given or len(given) < 2:
        return frozenset({given})
    nn = _nicknamer()
    return frozenset({given} | set(nn.nicknames_of(given)) | set(nn.canonicals_of(given)))


@lru_cache(maxsize=50_000)
def canonical_names(given: str) -> frozenset[str]:
    """The names a given name is a nickname of ('jerry' → 'gerald', …); empty for a name that is no nickname."""
    if not given or len(given) < 2:
        return frozenset()
    return frozenset(_nicknamer().canonicals_of(given))


@lru_cache(maxsize=50_000)
def nickname_forms(given: str) -> frozenset[str]:
    """What a given name meets its nicknames under when the two start differently (a blocking key: names
    that share an initial meet under that): the names it is a nickname of, and itself when it has such a
    nickname ('bob' → {'robert'}, 'robert' → {'robert'}, 'tom' → {}, 'gerald' → {'gerald'}); empty for a
    name in no nickname pair."""
    if not given or len(given) < 2:
        return frozenset()
    nn = _nicknamer()
    own = {given} if any(n[:1] != given[:1] for n in nn.nicknames_of(given)) else set()
    return frozenset(own | {c for c in nn.canonicals_of(given) if c[:1] != given[:1]})


def are_nicknames(a: str, b: str) -> bool:
    """Symmetric: either name is a known nickname or canonical form of the other."""
    return b in name_variants(a) or a in name_variants(b)


@lru_cache(maxsize=200_000)
def phonetic(token: str) -> str:
    """A phonetic code (metaphone) of a match-form token, for blocking and fuzzy comparison."""
    if not token:
        return ""
    return str(jellyfish.metaphone(token))[:8]


@lru_cache(maxsize=1)
def _pinyin_syllables() -> frozenset[str]:
    """The toneless pinyin syllables pypinyin's dictionary knows ("a", "ai", …, "zuo"), without the
    interjections that have no vowel ("m", "ng", "hm")."""
    from pypinyin.contrib.tone_convert import to_normal
    from pypinyin.pinyin_dict import pinyin_dict

    readings = (to_normal(p) for value in pinyin_dict.values() for p in value.split(","))
    return frozenset(r for r in readings if _VOWEL.search(r))


_VOWEL = re.compile(r"[aeiouv]")
# Chinese family names of two syllables; every other one is one syllable.
_COMPOUND_SURNAMES = frozenset(
    ["ouyang", "situ", "sima", "shangguan", "zhuge", "dongfang", "huangfu", "xiahou", "murong", "duanmu", "gongsun",
     "linghu", "zhangsun", "yuwen", "zhongli", "nangong", "ximen"]
)  # fmt: skip


@lru_cache(maxsize=100_000)
def pinyin_syllables(word: str) -> int:
    """How few pinyin syllables a match form splits into ("xiaoming": 2); 0 if it does not."""
    syllables = _pinyin_syllables()
    fewest = [0] + [-1] * len(word)
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - 6), end):
            if fewest[start] >= 0 and word[start:end] in syllables:
                count = fewest[start] + 1
                if fewest[end] < 0 or count < fewest[end]:
                    fewest[end] = count
    return max(fewest[-1], 0) if word else 0


def chinese_names(family_a: str, family_b: str) -> bool:
    """Both family names (match forms) read as Chinese ones: one pinyin syllable ("wang"; "meier", two, is
    not), or one of the compound family names ("ouyang")."""
    return _chinese_family(family_a) and _chinese_family(family_b)


def _chinese_family(family: str) -> bool:
    return pinyin_syllables(family) == 1 or family in _COMPOUND_SURNAMES


def pinyin_given_names(given_a: str, given_b: str) -> bool:
    """Both given names (match forms) are pinyin of one to three syllables ("ming", "xiaoming")."""
    return 0 < pinyin_syllables(given_a) <= 3 and 0 < pinyin_syllables(given_b) <= 3
