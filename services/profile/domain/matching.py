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

Strong identifiers shared by two records (passport or national id hash, loyalty number; verified
email or phone unless the names clearly disagree) decide on their own. Sealed numbers one typo apart
(a shared deletion-variant hash, `domain/identifiers.py`) fall in a "one-edit" level: strong evidence,
never a decision alone.

Every comparison is symmetric: score(a, b) == score(b, a).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from services.profile.domain.comparisons import (
    DOB_DISAGREEING,
    PLACEHOLDER_DATES,
    dob_level,
    email_level,
    flagged_dates_equal,
    loyalty_level,
    mailbox_from_name,
    phone_level,
)
from services.profile.domain.features import (
    WEAK_KEY_PREFIXES,
    MatchFeatures,
    blocking_keys,
    is_weak_key,
    lookup_limit,
    name_pair_key,
)
from services.profile.domain.identity_fields import extra_levels, passport_level
from services.profile.domain.model_params import (
    DEFAULT_LOWER,
    DEFAULT_PARAMETERS,
    DEFAULT_UPPER,
    DEFAULT_VERSION,
    ModelParameters,
)
from services.profile.domain.name_scoring import FieldEvidence, Frequencies, names, quick_names, total_weight

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
    "lookup_limit",
    "name_pair_key",
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
    """The birth-date level and the two values compared.

    A flagged value (implausible, or no calendar date) in the ISO shape is compared like any date: a
    birth year 1901 against 1948 disagrees, and 1932-02-39 against 1932-02-19 is a typo. Flagged values
    in another shape are compared for equality only; placeholders (1900-01-01) never.
    """
    if a.dob and b.dob:
        return dob_level(a.dob, b.dob), a.dob, b.dob
    if a.dob_flagged or b.dob_flagged:
        da, db = a.dob or a.dob_flagged, b.dob or b.dob_flagged
        if not (da and db) or da in PLACEHOLDER_DATES or db in PLACEHOLDER_DATES:
            return None
        if _ISO_SHAPE.fullmatch(da) and _ISO_SHAPE.fullmatch(db):
            return dob_level(da, db), da, db
        if flagged_dates_equal(da, db):
            return "exact", da, db
    return None


_ISO_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _flagged_equal(a: MatchFeatures, b: MatchFeatures, kind: str) -> str:
    """The flagged values of a kind both records hold ("" if none): invalid identifiers, equality only."""
    if not (a.flagged and b.flagged):
        return ""
    prefix = f"{kind}:"
    return ",".join(sorted(x.removeprefix(prefix) for x in set(a.flagged) & set(b.flagged) if x.startswith(prefix)))


def _contact(a: MatchFeatures, b: MatchFeatures, kind: str) -> tuple[str, str, str, str] | None:
    """An email's or a phone's level, the two values, and a note: "" for the primary values, "secondary"
    when a record's secondary value is the other's (then "exact"), "flagged value" for equal invalid
    values (equality only). None: nothing to compare."""
    va, vb = getattr(a, kind), getattr(b, kind)
    level = None
    if va and vb:
        level = _email_level(a, b) if kind == "email" else phone_level(va, vb)
        if level == "exact":
            return level, va, vb, ""
    oa, ob = getattr(a, f"other_{kind}s"), getattr(b, f"other_{kind}s")
    if oa or ob:
        shared = ({va, *oa} & {vb, *ob}) - {""}
        if shared:
            value = min(shared)
            return "exact", value, value, _SECONDARY
    if level is not None:
        return level, va, vb, ""
    flagged = _flagged_equal(a, b, kind)
    return ("exact", flagged, flagged, _FLAGGED) if flagged else None


def _shares_contact(contact: tuple[str, str, str, str] | None) -> bool:
    """Whether two records share a valid email or phone (primary or secondary): a deterministic link."""
    return contact is not None and contact[0] == "exact" and contact[3] != _FLAGGED


def _contact_label(level: str, note: str) -> str:
    return f"{level} ({note})" if note else level


_SECONDARY, _FLAGGED = "secondary", "flagged value"  # `_contact`'s notes
# The evidence levels of a shared valid email or phone (`_shares_contact` over `compare`'s labels).
_SHARED_CONTACT_LEVELS = frozenset({"exact", _contact_label("exact", _SECONDARY)})


def _loyalty(a: MatchFeatures, b: MatchFeatures) -> tuple[str, str, bool] | None:
    """The loyalty level, the numbers it rests on, and whether they are flagged values (numbers that do
    not fit their programme's format: "shared" when equal, not compared otherwise). None: nothing to compare."""
    valid = loyalty_level(a.loyalty, b.loyalty) if a.loyalty and b.loyalty else None
    if valid is not None and valid[0] == "shared":
        return valid[0], valid[1], False
    shared = _flagged_equal(a, b, "loyalty")
    if shared:
        return "shared", shared, True
    return None if valid is None else (valid[0], valid[1], False)


def compare(
    a: MatchFeatures, b: MatchFeatures, freq: Frequencies | None = None, params: ModelParameters = DEFAULT_PARAMETERS
) -> list[FieldEvidence]:
    """Per-field evidence for a pair; fields missing on either side are left out (weight 0)."""
    ev = names(a, b, freq, params)
    w = params.weights
    dob = _dob(a, b)
    if dob is not None:
        level, da, db = dob
        label = level if (a.dob and b.dob) else f"{level} (flagged value)"
        ev.append(FieldEvidence("date_of_birth", label, w["date_of_birth"][level], da, db))
    for kind in ("email", "phone"):
        contact = _contact(a, b, kind)
        if contact is not None:
            level, va, vb, note = contact
            ev.append(FieldEvidence(kind, _contact_label(level, note), w[kind][level], va, vb))
    loyalty = _loyalty(a, b)
    if loyalty is not None:
        level, on, flagged = loyalty
        label = f"{level} (flagged value)" if flagged else level
        ev.append(FieldEvidence("loyalty", label, w["loyalty"][level], on or None, on or None))
    if a.passport and b.passport:
        level = passport_level(a, b)
        ev.append(FieldEvidence("passport", level, w["passport"][level], "(hash)", "(hash)"))
    if a.nationality and b.nationality:
        level = "same" if a.nationality == b.nationality else "different"
        ev.append(FieldEvidence("nationality", level, w["nationality"][level], a.nationality, b.nationality))
    if a.company and b.company:
        level = "same" if a.company == b.company else "different"
        ev.append(FieldEvidence("company", level, w["company"][level], a.company, b.company))
    if _has_extra(a) and _has_extra(b):
        household = dob is None or _given_names_differ(ev) or _birth_dates_differ(ev)
        ev.extend(FieldEvidence(*x) for x in extra_levels(a, b, params, household=household, freq=freq))
    return ev


def _has_extra(f: MatchFeatures) -> bool:
    return bool(f.home or f.business or f.employee or f.national_id or f.known_traveller)


def _given_names_differ(evidence: Iterable[FieldEvidence]) -> bool:
    return any(e.field == "given_name" and base_level(e) == "different" for e in evidence)


def base_level(evidence: FieldEvidence) -> str:
    """The level without its notes ("exact (common name, …)", "phonetic (swapped order)")."""
    return evidence.level.split(" (", 1)[0]


def _names_disagree(evidence: Iterable[FieldEvidence]) -> bool:
    levels = {e.field: e.level for e in evidence}
    return levels.get("family_name", "").startswith("different") and levels.get("given_name", "").startswith(
        "different"
    )


def deterministic_rule(a: MatchFeatures, b: MatchFeatures, evidence: Sequence[FieldEvidence]) -> str | None:
    """The strong identifier that makes two records one traveller, if any (`evidence`: `compare`'s).

    A shared passport hash, national id hash or loyalty number decides alone. A shared email or phone
    (primary or secondary, not a flagged value) decides unless both name parts clearly differ or the
    birth dates do (a family mailbox, an office line); then the pair is scored like any other.
    """
    if a.passport and a.passport == b.passport:
        return "passport"
    if a.national_id and a.national_id == b.national_id:
        return "national_id"
    if a.loyalty and b.loyalty and set(a.loyalty) & set(b.loyalty):
        return "loyalty"
    shared = [e.field for e in evidence if e.field in ("email", "phone") and e.level in _SHARED_CONTACT_LEVELS]
    if shared and not _names_disagree(evidence) and not _birth_dates_differ(evidence):
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
    score = total_weight(evidence)
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
    flagged = bool(a.flagged and b.flagged)  # invalid identifiers both hold: compared for equality
    # Secondary contacts or flagged values: the full comparison; else the primary values only.
    if flagged or a.other_emails or b.other_emails or a.other_phones or b.other_phones:
        email, phone = _contact(a, b, "email"), _contact(a, b, "phone")
    else:  # the primary values only (most pairs): `_contact`'s result without its lookups
        email = (_email_level(a, b), a.email, b.email, "") if a.email and b.email else None
        phone = (phone_level(a.phone, b.phone), a.phone, b.phone, "") if a.phone and b.phone else None
    if email is not None:
        email_w = w["email"][email[0]]
    if phone is not None:
        phone_w = w["phone"][phone[0]]
    shared_loyalty = False  # a valid number both state: decides alone (a flagged one only weighs)
    loyalty = _loyalty(a, b) if (a.loyalty and b.loyalty) or flagged else None
    if loyalty is not None:
        shared_loyalty = loyalty[0] == "shared" and not loyalty[2]
        loyalty_w = w["loyalty"][loyalty[0]]
    same_passport = bool(a.passport) and a.passport == b.passport
    if a.passport and b.passport:
        passport_w = w["passport"]["exact" if same_passport else passport_level(a, b)]
    if a.nationality and b.nationality:
        nationality_w = w["nationality"]["same" if a.nationality == b.nationality else "different"]
    if a.company and b.company:
        company_w = w["company"]["same" if a.company == b.company else "different"]
    shared_email = _shares_contact(email)
    shared_phone = _shares_contact(phone)
    same_national_id = bool(a.national_id) and a.national_id == b.national_id
    strong = same_passport or same_national_id or shared_loyalty or shared_email or shared_phone
    has_extra = _has_extra(a) and _has_extra(b)
    if floor > -math.inf and not strong:
        # No name comparison (straight, crosswise, TF-adjusted) weighs more than its best level.
        bound = (params.max_weights["family_name"] if a.family and b.family else 0.0) + (
            params.max_weights["given_name"] if a.given and b.given else 0.0
        )
        bound += dob_w + email_w + phone_w + loyalty_w + passport_w + nationality_w + company_w
        if has_extra:  # unguarded, unadjusted weights: the household guard and the frequencies only lower them
            bound += sum(x[2] for x in extra_levels(a, b, params, household=False))
        if bound < floor - 1e-9:
            return None
    score, fam_level, giv_level = quick_names(a, b, freq, params)
    names_disagree = fam_level == "different" and giv_level == "different"
    # The same additions in the same order as `total_weight` over `compare`'s evidence.
    if dob is not None:
        score += dob_w
    if email is not None:
        score += email_w
    if phone is not None:
        score += phone_w
    if loyalty is not None:
        score += loyalty_w
    if a.passport and b.passport:
        score += passport_w
    if a.nationality and b.nationality:
        score += nationality_w
    if a.company and b.company:
        score += company_w
    if has_extra:
        household = dob is None or giv_level == "different" or dob_different
        for x in extra_levels(a, b, params, household=household, freq=freq):
            score += x[2]
    if same_passport:
        return score, "match", "deterministic:passport"
    if same_national_id:
        return score, "match", "deterministic:national_id"
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
