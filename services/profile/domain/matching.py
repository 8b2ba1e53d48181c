"""Matching: blocking keys, field comparisons and Fellegi–Sunter match weights.

A record is reduced to `MatchFeatures` (match forms of its valid values only: invalid
values never take part). Blocking keys pick the few stored records worth comparing
with; each candidate pair is compared field by field, each field falling into a
comparison level with an m-probability (the level's frequency among true matches)
and a u-probability (its frequency among non-matches). The level's weight is
log2(m/u); the pair's score is the sum. Above `upper` the records are merged,
between `lower` and `upper` the pair goes to review, below it they stay apart.

Strong identifiers shared by two records (passport hash, loyalty number; verified
email or phone unless the names clearly disagree) decide on their own.

Every comparison is symmetric: score(a, b) == score(b, a).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from rapidfuzz.distance import OSA, JaroWinkler

from services.profile.domain.names import are_nicknames, phonetic

Decision = Literal["match", "review", "distinct"]


@dataclass(frozen=True, slots=True)
class MatchFeatures:
    """What matching sees of a record: match forms of valid values ('' when missing)."""

    given: str = ""  # all given names joined ("annmarie", "xiaoming")
    given_first: str = ""  # first given name ("ann")
    family: str = ""  # family name joined ("vanderberg", "wang")
    dob: str = ""  # ISO date
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
            email=g("email", ""),
            phone=g("phone", ""),
            loyalty=tuple(g("loyalty", ())),
            passport=g("passport", ""),
            nationality=g("nationality", ""),
            company=g("company", ""),
        )


_FIELDS = ("given", "given_first", "family", "dob", "email", "phone", "loyalty", "passport", "nationality", "company")


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


# --- comparison levels ----------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    name: str
    m: float
    u: float

    @property
    def weight(self) -> float:
        return math.log2(self.m / self.u)


def _levels(*levels: Level) -> dict[str, Level]:
    return {lv.name: lv for lv in levels}


# m/u chosen from the corruption rates of real booking data and checked on the labelled
# benchmark (bench/profile_accuracy.py); "missing" always weighs 0.
FAMILY = _levels(
    Level("exact", 0.86, 0.004),
    Level("phonetic", 0.07, 0.006),
    Level("fuzzy", 0.04, 0.02),
    Level("different", 0.03, 0.97),
)
GIVEN = _levels(
    Level("exact", 0.78, 0.01),
    Level("nickname", 0.07, 0.002),
    Level("phonetic", 0.08, 0.008),
    Level("initial", 0.02, 0.01),
    Level("fuzzy", 0.02, 0.03),
    Level("different", 0.03, 0.94),
)
DOB = _levels(
    Level("exact", 0.90, 0.0004),
    Level("near", 0.07, 0.004),  # one typo, or day and month swapped
    Level("different", 0.03, 0.9956),
)
EMAIL = _levels(
    Level("exact", 0.80, 0.0001),
    Level("same-mailbox-name", 0.04, 0.0008),
    Level("same-name-mailbox", 0.04, 0.04),  # "li.wang@" at two providers: namesakes have it too
    Level("fuzzy", 0.03, 0.002),
    Level("different", 0.13, 0.9971),
)
PHONE = _levels(
    Level("exact", 0.80, 0.0002),
    Level("same-subscriber", 0.04, 0.0005),
    Level("different", 0.16, 0.9993),
)
LOYALTY = _levels(Level("shared", 0.5, 0.000001), Level("none-shared", 0.5, 0.5))
PASSPORT = _levels(Level("exact", 0.95, 0.000001), Level("different", 0.05, 0.999999))
NATIONALITY = _levels(Level("same", 0.95, 0.2), Level("different", 0.05, 0.8))
COMPANY = _levels(Level("same", 0.75, 0.03), Level("different", 0.25, 0.97))

UPPER_THRESHOLD = 17.0
LOWER_THRESHOLD = 10.0


@dataclass(frozen=True)
class FieldEvidence:
    """One field's comparison: the level it fell in and what it weighed."""

    field: str
    level: str
    weight: float
    a: str | None
    b: str | None

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "level": self.level, "weight": round(self.weight, 3), "a": self.a, "b": self.b}


@dataclass(frozen=True)
class MatchResult:
    score: float
    decision: Decision
    rule: str  # "deterministic:<identifier>" or "probabilistic"
    evidence: tuple[FieldEvidence, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 3),
            "decision": self.decision,
            "rule": self.rule,
            "thresholds": {"upper": UPPER_THRESHOLD, "lower": LOWER_THRESHOLD},
            "evidence": [e.to_json() for e in self.evidence],
        }


def _jw(a: str, b: str) -> float:
    return float(JaroWinkler.similarity(a, b))


@lru_cache(maxsize=1 << 18)  # pure; the same name pairs come back with every common name
def _family_level(a: str, b: str) -> str:
    if a == b:
        return "exact"
    if phonetic(a) == phonetic(b) or _jw(a, b) >= 0.93:
        return "phonetic"
    if _jw(a, b) >= 0.85:
        return "fuzzy"
    return "different"


@lru_cache(maxsize=1 << 18)
def _given_level(a_full: str, a_first: str, b_full: str, b_first: str) -> str:
    if a_full == b_full or (len(a_first) > 1 and a_first == b_first):
        return "exact"
    if are_nicknames(a_first, b_first):
        return "nickname"
    if (len(a_first) == 1 or len(b_first) == 1) and a_first[:1] == b_first[:1]:
        return "initial"
    best = max(_jw(a_full, b_full), _jw(a_first, b_first))
    if phonetic(a_first) == phonetic(b_first) or best >= 0.93:
        return "phonetic"
    if best >= 0.85:
        return "fuzzy"
    return "different"


Frequencies = Mapping[str, float]
"""Share of stored records carrying a name part: "f:<family>" / "g:<given>" -> 0..1 (term frequencies)."""


def _weight(level: Level, tokens: tuple[str, ...], freq: Frequencies | None) -> tuple[str, float]:
    """An exact agreement on a common name says less: u becomes the name's frequency (TF adjustment)."""
    if level.name != "exact" or not freq:
        return level.name, level.weight
    share = max((freq.get(t, 0.0) for t in tokens), default=0.0)
    if share <= level.u:
        return level.name, level.weight
    return f"exact (common name, {share:.2%} of records)", math.log2(level.m / share)


def _name_evidence(a: MatchFeatures, b: MatchFeatures, freq: Frequencies | None) -> list[FieldEvidence]:
    out: list[FieldEvidence] = []
    if a.family and b.family:
        name, weight = _weight(FAMILY[_family_level(a.family, b.family)], (f"f:{a.family}",), freq)
        out.append(FieldEvidence("family_name", name, weight, a.family, b.family))
    if a.given and b.given:
        lv = GIVEN[_given_level(a.given, a.given_first, b.given, b.given_first)]
        token = a.given if a.given == b.given else a.given_first
        name, weight = _weight(lv, (f"g:{token}",), freq)
        out.append(FieldEvidence("given_name", name, weight, a.given, b.given))
    return out


def _swapped_evidence(a: MatchFeatures, b: MatchFeatures, freq: Frequencies | None) -> list[FieldEvidence]:
    """Names compared crosswise (a's family with b's given name and vice versa)."""
    if not (a.family and a.given and b.family and b.given):
        return []
    fam_name, fam_weight = _weight(FAMILY[_family_level(a.family, b.given)], (f"f:{a.family}", f"g:{b.given}"), freq)
    giv_name, giv_weight = _weight(
        GIVEN[_given_level(a.given, a.given_first, b.family, b.family)], (f"g:{a.given}", f"f:{b.family}"), freq
    )
    return [
        FieldEvidence("family_name", f"{fam_name} (swapped order)", fam_weight, a.family, b.given),
        FieldEvidence("given_name", f"{giv_name} (swapped order)", giv_weight, a.given, b.family),
    ]


def _total(evidence: Iterable[FieldEvidence]) -> float:
    return sum(e.weight for e in evidence)


def _names(a: MatchFeatures, b: MatchFeatures, freq: Frequencies | None) -> list[FieldEvidence]:
    straight = _name_evidence(a, b, freq)
    if len(straight) == 2 and a.family == b.family and a.given == b.given:
        return straight  # nothing crosswise can beat two identical parts
    # Symmetric: the crosswise comparison is tried from both sides and the better kept.
    crossed = max((_swapped_evidence(a, b, freq), _swapped_evidence(b, a, freq)), key=_total)
    if crossed and _total(crossed) > _total(straight) + 1e-9:
        return crossed
    return straight


def _dob_level(a: str, b: str) -> str:
    if a == b:
        return "exact"
    ya, ma, da = a.split("-")
    yb, mb, db = b.split("-")
    if (ya == yb and ma == db and da == mb) or OSA.distance(a, b) <= 1:
        return "near"
    return "different"


def _mailbox_from_name(local: str, f: MatchFeatures) -> bool:
    """Whether a mailbox name is just the person's name ("li.wang", "lwang7"): then it adds no evidence."""
    bare = "".join(ch for ch in local if ch.isalpha())
    given = f.given_first or f.given
    if not bare or not f.family or not given:
        return False
    return bare in {given + f.family, f.family + given, given[:1] + f.family, f.family + given[:1], f.given + f.family}


def _email_level(a: MatchFeatures, b: MatchFeatures) -> str:
    if a.email == b.email:
        return "exact"
    la, lb = a.email_local, b.email_local
    if la == lb and len(la) >= 4:
        if _mailbox_from_name(la, a) or _mailbox_from_name(lb, b):
            return "same-name-mailbox"
        return "same-mailbox-name"
    if _jw(a.email, b.email) >= 0.94 and not (_mailbox_from_name(la, a) and _mailbox_from_name(lb, b)):
        return "fuzzy"  # a typo, not "john.smith" and "john.smith2" (two namesakes at one provider)
    return "different"


def _phone_level(a: str, b: str) -> str:
    if a == b:
        return "exact"
    if a[-8:] == b[-8:]:
        return "same-subscriber"
    return "different"


def compare(a: MatchFeatures, b: MatchFeatures, freq: Frequencies | None = None) -> list[FieldEvidence]:
    """Per-field evidence for a pair; fields missing on either side are left out (weight 0)."""
    ev = _names(a, b, freq)
    if a.dob and b.dob:
        lv = DOB[_dob_level(a.dob, b.dob)]
        ev.append(FieldEvidence("date_of_birth", lv.name, lv.weight, a.dob, b.dob))
    if a.email and b.email:
        lv = EMAIL[_email_level(a, b)]
        ev.append(FieldEvidence("email", lv.name, lv.weight, a.email, b.email))
    if a.phone and b.phone:
        lv = PHONE[_phone_level(a.phone, b.phone)]
        ev.append(FieldEvidence("phone", lv.name, lv.weight, a.phone, b.phone))
    if a.loyalty and b.loyalty:
        shared = sorted(set(a.loyalty) & set(b.loyalty))
        lv = LOYALTY["shared" if shared else "none-shared"]
        ev.append(FieldEvidence("loyalty", lv.name, lv.weight, ",".join(shared) or None, ",".join(shared) or None))
    if a.passport and b.passport:
        lv = PASSPORT["exact" if a.passport == b.passport else "different"]
        ev.append(FieldEvidence("passport", lv.name, lv.weight, "(hash)", "(hash)"))
    if a.nationality and b.nationality:
        lv = NATIONALITY["same" if a.nationality == b.nationality else "different"]
        ev.append(FieldEvidence("nationality", lv.name, lv.weight, a.nationality, b.nationality))
    if a.company and b.company:
        lv = COMPANY["same" if a.company == b.company else "different"]
        ev.append(FieldEvidence("company", lv.name, lv.weight, a.company, b.company))
    return ev


def _names_disagree(evidence: Iterable[FieldEvidence]) -> bool:
    levels = {e.field: e.level for e in evidence}
    return levels.get("family_name", "").startswith("different") and levels.get("given_name", "").startswith(
        "different"
    )


def deterministic_rule(a: MatchFeatures, b: MatchFeatures, evidence: Iterable[FieldEvidence] = ()) -> str | None:
    """The strong identifier that makes two records one traveller, if any.

    A shared passport hash or loyalty number decides alone. A shared email or phone
    decides unless both name parts clearly differ or the birth dates do (a family
    mailbox, an office line); then the pair is scored like any other.
    """
    if a.passport and a.passport == b.passport:
        return "passport"
    if a.loyalty and b.loyalty and set(a.loyalty) & set(b.loyalty):
        return "loyalty"
    shared = [k for k in ("email", "phone") if getattr(a, k) and getattr(a, k) == getattr(b, k)]
    if shared and not _names_disagree(evidence) and not _birth_dates_differ(evidence):
        return shared[0]
    return None


def _birth_dates_differ(evidence: Iterable[FieldEvidence]) -> bool:
    return any(e.field == "date_of_birth" and e.level == "different" for e in evidence)


def decide(score: float, *, upper: float = UPPER_THRESHOLD, lower: float = LOWER_THRESHOLD) -> Decision:
    if score >= upper:
        return "match"
    if score >= lower:
        return "review"
    return "distinct"


def score_pair(
    a: MatchFeatures,
    b: MatchFeatures,
    *,
    upper: float = UPPER_THRESHOLD,
    lower: float = LOWER_THRESHOLD,
    freq: Frequencies | None = None,
) -> MatchResult:
    """Compare two records: deterministic rules first, then the sum of match weights."""
    evidence = compare(a, b, freq)
    score = _total(evidence)
    rule = deterministic_rule(a, b, evidence)
    if rule is not None:
        return MatchResult(score=score, decision="match", rule=f"deterministic:{rule}", evidence=tuple(evidence))
    return MatchResult(
        score=score, decision=decide(score, upper=upper, lower=lower), rule="probabilistic", evidence=tuple(evidence)
    )


# --- scoring without evidence ---------------------------------------------------------------
#
# Resolution scores every blocking candidate but keeps the evidence of a few (the chosen
# match and the reviews). `quick_score` computes the same score, decision and rule as
# `score_pair` from plain values, in the same order of addition (the floats are equal, not
# just close); the resolver builds the evidence with `score_pair` for the pairs it keeps.

_FAMILY_W = {name: lv.weight for name, lv in FAMILY.items()}
_GIVEN_W = {name: lv.weight for name, lv in GIVEN.items()}
_DOB_W = {name: lv.weight for name, lv in DOB.items()}
_EMAIL_W = {name: lv.weight for name, lv in EMAIL.items()}
_PHONE_W = {name: lv.weight for name, lv in PHONE.items()}
_LOYALTY_SHARED, _LOYALTY_NONE = LOYALTY["shared"].weight, LOYALTY["none-shared"].weight
_PASSPORT_SAME, _PASSPORT_DIFFERENT = PASSPORT["exact"].weight, PASSPORT["different"].weight
_NATIONALITY_SAME, _NATIONALITY_DIFFERENT = NATIONALITY["same"].weight, NATIONALITY["different"].weight
_COMPANY_SAME, _COMPANY_DIFFERENT = COMPANY["same"].weight, COMPANY["different"].weight
_MAX_FAMILY = max(_FAMILY_W.values())  # no name comparison (straight, crosswise, TF-adjusted) weighs more
_MAX_GIVEN = max(_GIVEN_W.values())
_RANKS = {"match": 2, "review": 1, "distinct": 0}


def _tf(table: Mapping[str, Level], level: str, tokens: tuple[str, ...], freq: Frequencies | None) -> float:
    """`_weight` without its label."""
    lv = table[level]
    if level != "exact" or not freq:
        return lv.weight
    share = max((freq.get(t, 0.0) for t in tokens), default=0.0)
    if share <= lv.u:
        return lv.weight
    return math.log2(lv.m / share)


def _quick_names(a: MatchFeatures, b: MatchFeatures, freq: Frequencies | None) -> tuple[float, bool]:
    """`_names` as (total weight, whether both name parts fall in "different")."""
    has_family, has_given = bool(a.family and b.family), bool(a.given and b.given)
    total = 0.0
    fam_level = giv_level = ""
    if has_family:
        fam_level = _family_level(a.family, b.family)
        total = _FAMILY_W[fam_level] if not freq else _tf(FAMILY, fam_level, (f"f:{a.family}",), freq)
    if has_given:
        giv_level = _given_level(a.given, a.given_first, b.given, b.given_first)
        token = a.given if a.given == b.given else a.given_first
        giv_w = _GIVEN_W[giv_level] if not freq else _tf(GIVEN, giv_level, (f"g:{token}",), freq)
        total = total + giv_w if has_family else giv_w
    if not (has_family and has_given):
        return total, False
    if a.family == b.family and a.given == b.given:
        return total, False
    ab_fam, ab_giv = _quick_swapped(a, b, freq)
    ba_fam, ba_giv = _quick_swapped(b, a, freq)
    ab_total, ba_total = ab_fam[1] + ab_giv[1], ba_fam[1] + ba_giv[1]
    (c_fam, c_giv), c_total = ((ba_fam, ba_giv), ba_total) if ba_total > ab_total else ((ab_fam, ab_giv), ab_total)
    if c_total > total + 1e-9:
        return c_total, c_fam[0] == "different" and c_giv[0] == "different"
    return total, fam_level == "different" and giv_level == "different"


def _quick_swapped(
    a: MatchFeatures, b: MatchFeatures, freq: Frequencies | None
) -> tuple[tuple[str, float], tuple[str, float]]:
    fam = _family_level(a.family, b.given)
    giv = _given_level(a.given, a.given_first, b.family, b.family)
    if not freq:
        return (fam, _FAMILY_W[fam]), (giv, _GIVEN_W[giv])
    return (
        (fam, _tf(FAMILY, fam, (f"f:{a.family}", f"g:{b.given}"), freq)),
        (giv, _tf(GIVEN, giv, (f"g:{a.given}", f"f:{b.family}"), freq)),
    )


def quick_score(
    a: MatchFeatures,
    b: MatchFeatures,
    *,
    upper: float = UPPER_THRESHOLD,
    lower: float = LOWER_THRESHOLD,
    freq: Frequencies | None = None,
    floor: float = -math.inf,
) -> tuple[float, Decision, str] | None:
    """`score_pair`'s (score, decision, rule) without building its evidence.

    With a `floor`: None for a pair no strong identifier decides whose score cannot reach
    the floor whatever its names (the name comparisons are then skipped).
    """
    dob_w = email_w = phone_w = loyalty_w = passport_w = nationality_w = company_w = 0.0
    dob_different = False
    if a.dob and b.dob:
        level = _dob_level(a.dob, b.dob)
        dob_w = _DOB_W[level]
        dob_different = level == "different"
    if a.email and b.email:
        email_w = _EMAIL_W[_email_level(a, b)]
    if a.phone and b.phone:
        phone_w = _PHONE_W[_phone_level(a.phone, b.phone)]
    shared_loyalty = False
    if a.loyalty and b.loyalty:
        shared_loyalty = bool(set(a.loyalty) & set(b.loyalty))
        loyalty_w = _LOYALTY_SHARED if shared_loyalty else _LOYALTY_NONE
    same_passport = bool(a.passport) and a.passport == b.passport
    if a.passport and b.passport:
        passport_w = _PASSPORT_SAME if same_passport else _PASSPORT_DIFFERENT
    if a.nationality and b.nationality:
        nationality_w = _NATIONALITY_SAME if a.nationality == b.nationality else _NATIONALITY_DIFFERENT
    if a.company and b.company:
        company_w = _COMPANY_SAME if a.company == b.company else _COMPANY_DIFFERENT
    shared_email = bool(a.email) and a.email == b.email
    shared_phone = bool(a.phone) and a.phone == b.phone
    strong = same_passport or shared_loyalty or shared_email or shared_phone
    if floor > -math.inf and not strong:
        bound = (_MAX_FAMILY if a.family and b.family else 0.0) + (_MAX_GIVEN if a.given and b.given else 0.0)
        bound += dob_w + email_w + phone_w + loyalty_w + passport_w + nationality_w + company_w
        if bound < floor - 1e-9:
            return None
    score, names_disagree = _quick_names(a, b, freq)
    # The same additions in the same order as `_total` over `compare`'s evidence.
    if a.dob and b.dob:
        score += dob_w
    if a.email and b.email:
        score += email_w
    if a.phone and b.phone:
        score += phone_w
    if a.loyalty and b.loyalty:
        score += loyalty_w
    if a.passport and b.passport:
        score += passport_w
    if a.nationality and b.nationality:
        score += nationality_w
    if a.company and b.company:
        score += company_w
    if same_passport:
        return score, "match", "deterministic:passport"
    if shared_loyalty:
        return score, "match", "deterministic:loyalty"
    if (shared_email or shared_phone) and not names_disagree and not dob_different:
        return score, "match", "deterministic:email" if shared_email else "deterministic:phone"
    return score, decide(score, upper=upper, lower=lower), "probabilistic"


def quick_rank(decision: Decision, score: float) -> tuple[int, float]:
    """`rank` of a `quick_score` result."""
    return _RANKS[decision], score


def rank(result: MatchResult) -> tuple[int, float]:
    """Orders candidate results: matches before reviews, then by score."""
    return ({"match": 2, "review": 1, "distinct": 0}[result.decision], result.score)
