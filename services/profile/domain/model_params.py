"""The match model's parameters: per comparison and level an m- and a u-probability, the prior, thresholds.

A version is immutable and named. The built-in version `default-1` holds the hand-set values
(chosen from the corruption rates of real booking data and checked on the labelled benchmark);
it decides while the store is empty or no learned version passes the sanity checks. Learned
versions come from `domain/estimation.py`.

A level's weight is log2(m/u); a pair's score is the sum of its fields' weights (a Bayes
factor in bits). The prior λ is the share of blocked candidate pairs that are one traveller:
the score a pair needs for a given posterior probability moves with it (`thresholds_for`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

EPSILON = 1e-6  # probabilities are kept inside [EPSILON, 1 - EPSILON]: log2(m/u) stays finite


@dataclass(frozen=True)
class Level:
    name: str
    m: float
    u: float

    @property
    def weight(self) -> float:
        return math.log2(self.m / self.u)


# Levels that say the two values disagree: every other level must have m > u in a sane version.
DISAGREEING = frozenset({"different", "none-shared"})


def _levels(*levels: Level) -> dict[str, Level]:
    return {lv.name: lv for lv in levels}


# Per comparison (the evidence's field name), its levels from the strongest agreement down.
# Levels added with the typo-tolerant comparisons (one-edit, transliteration, the date levels)
# carry hand-set values in the same spirit; "missing" always weighs 0 and is not a level.
_DEFAULT_LEVELS: dict[str, dict[str, Level]] = {
    "family_name": _levels(
        Level("exact", 0.86, 0.004),
        Level("transliteration", 0.02, 0.0005),  # "mueller" and "muller" (Müller typed two ways)
        Level("one-edit", 0.05, 0.002),  # Damerau–Levenshtein distance 1
        Level("phonetic", 0.07, 0.006),  # same metaphone code, or Jaro–Winkler >= 0.93
        Level("fuzzy", 0.04, 0.02),  # Jaro–Winkler >= 0.85
        Level("different", 0.03, 0.97),
    ),
    "given_name": _levels(
        Level("exact", 0.78, 0.01),
        Level("nickname", 0.07, 0.002),
        Level("transliteration", 0.02, 0.001),
        Level("one-edit", 0.04, 0.004),
        Level("phonetic", 0.08, 0.008),
        Level("initial", 0.02, 0.01),
        Level("fuzzy", 0.02, 0.03),
        Level("different", 0.03, 0.94),
    ),
    "date_of_birth": _levels(
        Level("exact", 0.90, 0.0004),
        Level("day-month-swapped", 0.03, 0.0004),
        Level("typo", 0.04, 0.002),  # one character replaced, added or left out
        Level("transposed", 0.01, 0.0004),  # two neighbouring digits swapped
        Level("year-plus-minus-one", 0.01, 0.002),
        Level("same-year-month", 0.01, 0.01),
        Level("different", 0.03, 0.9856),
    ),
    "email": _levels(
        Level("exact", 0.80, 0.0001),
        Level("one-edit", 0.02, 0.0002),
        Level("same-mailbox-name", 0.04, 0.0008),
        Level("same-name-mailbox", 0.04, 0.04),  # "li.wang@" at two providers: namesakes have it too
        Level("fuzzy", 0.03, 0.002),
        Level("different", 0.13, 0.9971),
    ),
    "phone": _levels(
        Level("exact", 0.80, 0.0002),
        Level("same-subscriber", 0.04, 0.0005),
        # Numbers handed out in sequence differ in one digit between colleagues: a weak level.
        Level("one-edit", 0.02, 0.002),
        Level("different", 0.16, 0.9993),
    ),
    "loyalty": _levels(Level("shared", 0.5, 0.000001), Level("one-edit", 0.03, 0.0002), Level("none-shared", 0.5, 0.5)),
    # "one-edit": a shared deletion-variant hash (a typo). Its m and u are hand-set like the national
    # id's one-edit level below (not learned, not tuned on a benchmark): m, the share of one traveller's
    # record pairs whose numbers are one typo apart, about that of the name and date typo levels (0.03,
    # taken from "exact"); u, the chance two travellers' numbers share a deletion variant, as rare as the
    # loyalty and email one-edit levels (0.0002, taken from "different"). "different" keeps its m: a
    # renewed passport has a new number.
    "passport": _levels(
        Level("exact", 0.92, 0.000001), Level("one-edit", 0.03, 0.0002), Level("different", 0.05, 0.999799)
    ),
    "nationality": _levels(Level("same", 0.95, 0.2), Level("different", 0.05, 0.8)),
    "company": _levels(Level("same", 0.75, 0.03), Level("different", 0.25, 0.97)),
    # Addresses: (postcode, street, number) all equal, postcode and street, postcode, city. A home
    # moves (m of "different"); a business address is shared by colleagues (higher u). Agreement
    # counts only between records that do not name another member of the household or the office
    # (`identity_fields.py`).
    "home_address": _levels(
        Level("exact", 0.60, 0.0005),
        Level("same-street", 0.05, 0.001),  # another house number: a typo, or a neighbour
        Level("same-postcode", 0.10, 0.01),
        Level("same-city", 0.08, 0.05),
        Level("different", 0.17, 0.9385),
    ),
    "business_address": _levels(
        Level("exact", 0.50, 0.01),
        Level("same-street", 0.05, 0.01),
        Level("same-postcode", 0.10, 0.03),
        Level("same-city", 0.15, 0.12),
        Level("different", 0.20, 0.83),
    ),
    # Sensitive numbers by their keyed hashes; "one-edit": a shared deletion variant.
    "national_id": _levels(
        Level("exact", 0.95, 0.000001), Level("one-edit", 0.03, 0.0002), Level("different", 0.02, 0.999799)
    ),
    "known_traveller": _levels(
        Level("exact", 0.95, 0.000001), Level("one-edit", 0.03, 0.0002), Level("different", 0.02, 0.999799)
    ),
    # One number per person within a company (the key carries the company): strong, not decisive.
    "employee": _levels(Level("exact", 0.90, 0.0002), Level("different", 0.10, 0.9998)),
}

DEFAULT_UPPER = 17.0
DEFAULT_LOWER = 10.0
# The prior the default thresholds were tuned at: about the share of blocked candidate pairs that are
# one traveller which estimation finds on travel-shaped data (bench/results/profile.md).
DEFAULT_PRIOR = 0.7


def logit2(p: float) -> float:
    p = clamp(p)
    return math.log2(p / (1 - p))


def clamp(p: float) -> float:
    return min(1 - EPSILON, max(EPSILON, p))


def thresholds_for(prior: float) -> tuple[float, float]:
    """The score thresholds that give the default version's posterior probabilities under `prior`.

    The default thresholds with the default prior fix the posterior log-odds a match (and a review)
    needs; a store whose candidate pairs are rarer true matches needs a higher score for the same
    certainty. A store where they look more common does not lower the thresholds below the default
    ones: an over-estimated prior would otherwise link namesakes.
    """
    shift = max(0.0, logit2(DEFAULT_PRIOR) - logit2(prior))
    return DEFAULT_UPPER + shift, DEFAULT_LOWER + shift


@dataclass(frozen=True)
class ModelParameters:
    """One version of the match model."""

    version: str
    levels: Mapping[str, Mapping[str, Level]]
    prior: float = DEFAULT_PRIOR
    upper: float = DEFAULT_UPPER
    lower: float = DEFAULT_LOWER
    estimated_at: datetime | None = None
    record_count: int = 0
    notes: Mapping[str, Any] = field(default_factory=dict)  # how it was estimated (sample, pairs, iterations)
    # Weights by comparison and level, computed once: scoring reads them per candidate.
    weights: Mapping[str, Mapping[str, float]] = field(init=False, repr=False, compare=False)
    max_weights: Mapping[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table = {c: {name: lv.weight for name, lv in lvs.items()} for c, lvs in self.levels.items()}
        object.__setattr__(self, "weights", table)
        object.__setattr__(self, "max_weights", {c: max(ws.values()) for c, ws in table.items()})

    @property
    def is_default(self) -> bool:
        return self.version == DEFAULT_VERSION

    def level(self, comparison: str, name: str) -> Level:
        return self.levels[comparison][name]

    def problems(self) -> list[str]:
        """What makes a version unfit to decide (empty: fit).

        The strongest level of each comparison must favour a match (m > u), a disagreeing level
        must not favour a match (m <= u), and no partial agreement may weigh as little as the
        disagreement (a typo must never count against a pair more than a different value).
        """
        out = []
        for comparison, default in _DEFAULT_LEVELS.items():
            have = self.levels.get(comparison, {})
            if set(have) != set(default):
                out.append(f"{comparison}: levels {sorted(have)} instead of {sorted(default)}")
                continue
            if any(not (0 < lv.m < 1 and 0 < lv.u < 1) for lv in have.values()):
                out.append(f"{comparison}: m and u must lie strictly between 0 and 1")
                continue
            strongest = have[next(iter(default))]
            if strongest.m <= strongest.u:
                out.append(f"{comparison}.{strongest.name}: agreeing level with m <= u")
            floor = max((lv.weight for name, lv in have.items() if name in DISAGREEING), default=-math.inf)
            for name, lv in have.items():
                if name in DISAGREEING and lv.m > lv.u:
                    out.append(f"{comparison}.{name}: disagreeing level with m > u")
                elif name not in DISAGREEING and lv.weight <= floor:
                    out.append(f"{comparison}.{name}: weighs no more than a disagreement")
        if self.names_alone() >= self.upper:
            out.append(f"names alone (with the nationality) score {self.names_alone():.2f}, at the upper threshold")
        if not 0 < self.prior < 1:
            out.append("prior must lie strictly between 0 and 1")
        if self.lower > self.upper:
            out.append("lower threshold above the upper one")
        return out

    def names_alone(self) -> float:
        """What two records agreeing only on both names and the nationality score (before the
        name-frequency adjustment): namesakes look like that, so it must stay below a link."""
        w = self.weights
        return w["family_name"]["exact"] + w["given_name"]["exact"] + w["nationality"]["same"]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "prior": self.prior,
            "thresholds": {"upper": self.upper, "lower": self.lower},
            "estimated_at": self.estimated_at.isoformat() if self.estimated_at else None,
            "record_count": self.record_count,
            "levels": {
                c: [{"level": lv.name, "m": lv.m, "u": lv.u, "weight": round(lv.weight, 4)} for lv in lvs.values()]
                for c, lvs in self.levels.items()
            },
            "notes": dict(self.notes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelParameters:
        """A stored version; comparisons and levels added since it was learned take the built-in levels
        (a version learned before passports had a "one-edit" level gets the built-in one)."""
        estimated = data.get("estimated_at")
        stored = {
            c: {str(lv["level"]): Level(str(lv["level"]), float(lv["m"]), float(lv["u"])) for lv in lvs}
            for c, lvs in data["levels"].items()
        }
        levels = {c: dict(lvs) for c, lvs in _DEFAULT_LEVELS.items() if c not in stored}
        for c, lvs in stored.items():
            default = _DEFAULT_LEVELS.get(c, {})
            # In the built-in order, the stored levels first where both have them.
            levels[c] = {name: lvs.get(name, lv) for name, lv in default.items()} | lvs
        return cls(
            version=str(data["version"]),
            levels=levels,
            prior=float(data["prior"]),
            upper=float(data["thresholds"]["upper"]),
            lower=float(data["thresholds"]["lower"]),
            estimated_at=datetime.fromisoformat(estimated) if estimated else None,
            record_count=int(data.get("record_count", 0)),
            notes=dict(data.get("notes") or {}),
        )


DEFAULT_VERSION = "default-1"
DEFAULT_PARAMETERS = ModelParameters(version=DEFAULT_VERSION, levels=_DEFAULT_LEVELS)


def default_levels() -> dict[str, dict[str, Level]]:
    """A copy of the built-in levels (estimation starts from them)."""
    return {c: dict(lvs) for c, lvs in _DEFAULT_LEVELS.items()}


class ParametersCache:
    """The version resolution decides with, kept between batches (the service layer loads it:
    `service_layer.parameters.current_parameters`)."""

    def __init__(self) -> None:
        self._params = DEFAULT_PARAMETERS

    def cached(self) -> ModelParameters:
        """The version last loaded (the built-in one before any)."""
        return self._params

    def use(self, params: ModelParameters) -> None:
        """Decide with `params` until the next load (benchmarks, tests)."""
        self._params = params

    def thresholds(self, *, upper: float, lower: float) -> tuple[float, float]:
        """The (upper, lower) thresholds: the settings' for the built-in version, a learned version's own."""
        params = self._params
        return (upper, lower) if params.is_default else (params.upper, params.lower)
