"""Matching: blocking keys, field comparisons and Fellegi–Sunter match weights.

A record is reduced to `MatchFeatures` (match forms of its valid values; an implausible or
invalid birth date is kept flagged and compared for equality only). Blocking keys pick the
few stored records worth comparing with; each candidate pair is compared field by field
(`domain/comparisons.py`), each field falling into a comparison level with an m-probability
(the level's frequency among true matches) and a u-probability (its frequency among
non-matches), both from a version of the model's parameters (`domain/model_params.py`;
the built-in one unless a learned one is given). The level's weight is log2(m/u); the pair's
score is the sum. Above `upper` the records are merged, between `lower` and `upper` the pair
goes to review, below it they stay apart.

Strong identifiers shared by two records (passport hash, loyalty number; verified
email or phone unless the names clearly disagree) decide on their own.

Every comparison is symmetric: score(a, b) == score(b, a).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from services.profile.domain.comparisons import (
    DOB_DISAGREEING,
    dob_level,
    email_level,
    family_level,
    flagged_dates_equal,
    given_level,
    loyalty_level,
    mailbox_from_name,
    phone_level,
)
from services.profile.domain.features import (
    WEAK_KEY_PREFIXES,
    MatchFeatures,
    blocking_keys,
    is_weak_key,
    name_search_keys,
)
from services.profile.domain.model_params import (
    DEFAULT_LOWER,
    DEFAULT_PARAMETERS,
    DEFAULT_UPPER,
    DEFAULT_VERSION,
    ModelParameters,
)

__all__ = [
    "WEAK_KEY_PREFIXES",
    "Decision",
    "FieldEvidence",
    "Frequencies",
    "MatchFeatures",
    "MatchResult",
    "blocking_keys",
    "compare",
    "decide",
    "deterministic_rule",
    "is_weak_key",
    "name_search_keys",
    "quick_rank",
    "quick_score",
    "rank",
    "score_pair",
]

Decision = Literal["match", "review", "distinct"]


# --- scoring --------------------------------------------------------------------------------

UPPER_THRESHOLD = DEFAULT_UPPER
LOWER_THRESHOLD = DEFAULT_LOWER


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
    parameters_version: str = DEFAULT_VERSION  # the model version whose weights and thresholds decided
    upper: float = UPPER_THRESHOLD
    lower: float = LOWER_THRESHOLD

    def to_json(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 3),
            "decision": self.decision,
            "rule": self.rule,
            "parameters_version": self.parameters_version,
            "thresholds": {"upper": round(self.upper, 3), "lower": round(self.lower, 3)},
            "evidence": [e.to_json() for e in self.evidence],
        }


Frequencies = Mapping[str, float]
"""Share of stored records carrying a name part: "f:<family>" / "g:<given>" -> 0..1 (term frequencies)."""


def _tf(params: ModelParameters, table: str, level: str, tokens: tuple[str, ...], freq: Frequencies | None) -> float:
    """An exact agreement on a common name says less: u becomes the name's frequency (TF adjustment)."""
    if level != "exact" or not freq:
        return params.weights[table][level]
    lv = params.levels[table][level]
    share = max((freq.get(t, 0.0) for t in tokens), default=0.0)
    if share <= lv.u:
        return lv.weight
    return math.log2(lv.m / share)


def _label(table: str, level: str, tokens: tuple[str, ...], freq: Frequencies | None, params: ModelParameters) -> str:
    if level != "exact" or not freq:
        return level
    share = max((freq.get(t, 0.0) for t in tokens), default=0.0)
    return level if share <= params.levels[table][level].u else f"exact (common name, {share:.2%} of records)"


def _evidence(
    params: ModelParameters, field_: str, level: str, tokens: tuple[str, ...], freq: Frequencies | None, a: str, b: str
) -> FieldEvidence:
    weight = _tf(params, field_, level, tokens, freq)
    return FieldEvidence(field_, _label(field_, level, tokens, freq, params), weight, a, b)


def _name_evidence(
    a: MatchFeatures, b: MatchFeatures, freq: Frequencies | None, params: ModelParameters
) -> list[FieldEvidence]:
    out: list[FieldEvidence] = []
    if a.family and b.family:
        level = family_level(a.family, b.family)
        out.append(_evidence(params, "family_name", level, (f"f:{a.family}",), freq, a.family, b.family))
    if a.given and b.given:
        level = given_level(a.given, a.given_first, b.given, b.given_first)
        token = a.given if a.given == b.given else a.given_first
        out.append(_evidence(params, "given_name", level, (f"g:{token}",), freq, a.given, b.given))
    return out


def _swapped_evidence(
    a: MatchFeatures, b: MatchFeatures, freq: Frequencies | None, params: ModelParameters
) -> list[FieldEvidence]:
    """Names compared crosswise (a's family with b's given name and vice versa)."""
    if not (a.family and a.given and b.family and b.given):
        return []
    fam = _evidence(
        params, "family_name", family_level(a.family, b.given), (f"f:{a.family}", f"g:{b.given}"), freq, a.family,
        b.given,
    )  # fmt: skip
    giv = _evidence(
        params, "given_name", given_level(a.given, a.given_first, b.family, b.family),
        (f"g:{a.given}", f"f:{b.family}"), freq, a.given, b.family,
    )  # fmt: skip
    return [
        FieldEvidence(fam.field, f"{fam.level} (swapped order)", fam.weight, fam.a, fam.b),
        FieldEvidence(giv.field, f"{giv.level} (swapped order)", giv.weight, giv.a, giv.b),
    ]


def _total(evidence: Iterable[FieldEvidence]) -> float:
    return sum(e.weight for e in evidence)


def _names(
    a: MatchFeatures, b: MatchFeatures, freq: Frequencies | None, params: ModelParameters
) -> list[FieldEvidence]:
    straight = _name_evidence(a, b, freq, params)
    if len(straight) == 2 and a.family == b.family and a.given == b.given:
        return straight  # nothing crosswise can beat two identical parts
    # Symmetric: the crosswise comparison is tried from both sides and the better kept.
    crossed = max((_swapped_evidence(a, b, freq, params), _swapped_evidence(b, a, freq, params)), key=_total)
    if crossed and _total(crossed) > _total(straight) + 1e-9:
        return crossed
    return straight


def _email_level(a: MatchFeatures, b: MatchFeatures) -> str:
    if a.email == b.email:
        return "exact"
    return email_level(
        a.email,
        mailbox_from_name(a.email_local, a.given_first, a.given, a.family),
        b.email,
        mailbox_from_name(b.email_local, b.given_first, b.given, b.family),
    )


def _dob(a: MatchFeatures, b: MatchFeatures) -> tuple[str, str, str] | None:
    """The birth-date level and the two values compared; flagged values only when equal (exact)."""
    if a.dob and b.dob:
        return dob_level(a.dob, b.dob), a.dob, b.dob
    if a.dob_flagged or b.dob_flagged:
        da, db = a.dob or a.dob_flagged, b.dob or b.dob_flagged
        if da and db and flagged_dates_equal(da, db):
            return "exact", da, db
    return None


def compare(
    a: MatchFeatures, b: MatchFeatures, freq: Frequencies | None = None, params: ModelParameters = DEFAULT_PARAMETERS
) -> list[FieldEvidence]:
    """Per-field evidence for a pair; fields missing on either side are left out (weight 0)."""
    ev = _names(a, b, freq, params)
    w = params.weights
    dob = _dob(a, b)
    if dob is not None:
        level, da, db = dob
        label = level if (a.dob and b.dob) else f"{level} (flagged value)"
        ev.append(FieldEvidence("date_of_birth", label, w["date_of_birth"][level], da, db))
    if a.email and b.email:
        level = _email_level(a, b)
        ev.append(FieldEvidence("email", level, w["email"][level], a.email, b.email))
    if a.phone and b.phone:
        level = phone_level(a.phone, b.phone)
        ev.append(FieldEvidence("phone", level, w["phone"][level], a.phone, b.phone))
    if a.loyalty and b.loyalty:
        level, on = loyalty_level(a.loyalty, b.loyalty)
        ev.append(FieldEvidence("loyalty", level, w["loyalty"][level], on or None, on or None))
    if a.passport and b.passport:
        level = "exact" if a.passport == b.passport else "different"
        ev.append(FieldEvidence("passport", level, w["passport"][level], "(hash)", "(hash)"))
    if a.nationality and b.nationality:
        level = "same" if a.nationality == b.nationality else "different"
        ev.append(FieldEvidence("nationality", level, w["nationality"][level], a.nationality, b.nationality))
    if a.company and b.company:
        level = "same" if a.company == b.company else "different"
        ev.append(FieldEvidence("company", level, w["company"][level], a.company, b.company))
    return ev


def base_level(evidence: FieldEvidence) -> str:
    """The level without its notes ("exact (common name, …)", "phonetic (swapped order)")."""
    return evidence.level.split(" (", 1)[0]


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
    if shared:
        evidence = list(evidence)
        if not _names_disagree(evidence) and not _birth_dates_differ(evidence):
            return shared[0]
    return None


def _birth_dates_differ(evidence: Iterable[FieldEvidence]) -> bool:
    return any(e.field == "date_of_birth" and base_level(e) in DOB_DISAGREEING for e in evidence)


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
    params: ModelParameters = DEFAULT_PARAMETERS,
) -> MatchResult:
    """Compare two records: deterministic rules first, then the sum of match weights."""
    evidence = compare(a, b, freq, params)
    score = _total(evidence)
    rule = deterministic_rule(a, b, evidence)
    decision: Decision = "match" if rule is not None else decide(score, upper=upper, lower=lower)
    return MatchResult(
        score=score,
        decision=decision,
        rule=f"deterministic:{rule}" if rule is not None else "probabilistic",
        evidence=tuple(evidence),
        parameters_version=params.version,
        upper=upper,
        lower=lower,
    )


# --- scoring without evidence ---------------------------------------------------------------
#
# Resolution scores every blocking candidate but keeps the evidence of a few (the chosen
# match and the reviews). `quick_score` computes the same score, decision and rule as
# `score_pair` from plain values, in the same order of addition (the floats are equal, not
# just close); the resolver builds the evidence with `score_pair` for the pairs it keeps.

_RANKS = {"match": 2, "review": 1, "distinct": 0}


def _quick_names(
    a: MatchFeatures, b: MatchFeatures, freq: Frequencies | None, p: ModelParameters
) -> tuple[float, bool]:
    """`_names` as (total weight, whether both name parts fall in "different")."""
    has_family, has_given = bool(a.family and b.family), bool(a.given and b.given)
    total = 0.0
    fam_level = giv_level = ""
    if has_family:
        fam_level = family_level(a.family, b.family)
        total = _tf(p, "family_name", fam_level, (f"f:{a.family}",), freq)
    if has_given:
        giv_level = given_level(a.given, a.given_first, b.given, b.given_first)
        token = a.given if a.given == b.given else a.given_first
        giv_w = _tf(p, "given_name", giv_level, (f"g:{token}",), freq)
        total = total + giv_w if has_family else giv_w
    if not (has_family and has_given):
        return total, False
    if a.family == b.family and a.given == b.given:
        return total, False
    ab_fam, ab_giv = _quick_swapped(a, b, freq, p)
    ba_fam, ba_giv = _quick_swapped(b, a, freq, p)
    ab_total, ba_total = ab_fam[1] + ab_giv[1], ba_fam[1] + ba_giv[1]
    (c_fam, c_giv), c_total = ((ba_fam, ba_giv), ba_total) if ba_total > ab_total else ((ab_fam, ab_giv), ab_total)
    if c_total > total + 1e-9:
        return c_total, c_fam[0] == "different" and c_giv[0] == "different"
    return total, fam_level == "different" and giv_level == "different"


def _quick_swapped(
    a: MatchFeatures, b: MatchFeatures, freq: Frequencies | None, p: ModelParameters
) -> tuple[tuple[str, float], tuple[str, float]]:
    fam = family_level(a.family, b.given)
    giv = given_level(a.given, a.given_first, b.family, b.family)
    return (
        (fam, _tf(p, "family_name", fam, (f"f:{a.family}", f"g:{b.given}"), freq)),
        (giv, _tf(p, "given_name", giv, (f"g:{a.given}", f"f:{b.family}"), freq)),
    )


def quick_score(
    a: MatchFeatures,
    b: MatchFeatures,
    *,
    upper: float = UPPER_THRESHOLD,
    lower: float = LOWER_THRESHOLD,
    freq: Frequencies | None = None,
    floor: float = -math.inf,
    params: ModelParameters = DEFAULT_PARAMETERS,
) -> tuple[float, Decision, str] | None:
    """`score_pair`'s (score, decision, rule) without building its evidence.

    With a `floor`: None for a pair no strong identifier decides whose score cannot reach
    the floor whatever its names (the name comparisons are then skipped).
    """
    w = params.weights
    dob_w = email_w = phone_w = loyalty_w = passport_w = nationality_w = company_w = 0.0
    dob_different = False
    dob = _dob(a, b) if (a.dob and b.dob) or a.dob_flagged or b.dob_flagged else None
    if dob is not None:
        dob_w = w["date_of_birth"][dob[0]]
        dob_different = dob[0] in DOB_DISAGREEING
    if a.email and b.email:
        email_w = w["email"][_email_level(a, b)]
    if a.phone and b.phone:
        phone_w = w["phone"][phone_level(a.phone, b.phone)]
    shared_loyalty = False
    if a.loyalty and b.loyalty:
        loyalty = loyalty_level(a.loyalty, b.loyalty)[0]
        shared_loyalty = loyalty == "shared"
        loyalty_w = w["loyalty"][loyalty]
    same_passport = bool(a.passport) and a.passport == b.passport
    if a.passport and b.passport:
        passport_w = w["passport"]["exact" if same_passport else "different"]
    if a.nationality and b.nationality:
        nationality_w = w["nationality"]["same" if a.nationality == b.nationality else "different"]
    if a.company and b.company:
        company_w = w["company"]["same" if a.company == b.company else "different"]
    shared_email = bool(a.email) and a.email == b.email
    shared_phone = bool(a.phone) and a.phone == b.phone
    strong = same_passport or shared_loyalty or shared_email or shared_phone
    if floor > -math.inf and not strong:
        # No name comparison (straight, crosswise, TF-adjusted) weighs more than its best level.
        bound = (params.max_weights["family_name"] if a.family and b.family else 0.0) + (
            params.max_weights["given_name"] if a.given and b.given else 0.0
        )
        bound += dob_w + email_w + phone_w + loyalty_w + passport_w + nationality_w + company_w
        if bound < floor - 1e-9:
            return None
    score, names_disagree = _quick_names(a, b, freq, params)
    # The same additions in the same order as `_total` over `compare`'s evidence.
    if dob is not None:
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
    return (_RANKS[result.decision], result.score)
