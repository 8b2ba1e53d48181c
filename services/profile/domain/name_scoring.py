"""Name evidence: the family and given names compared straight and crosswise, weighed with
their frequencies (term-frequency adjustment); `matching.py` adds the other fields."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.profile.domain.comparisons import family_level, given_level
from services.profile.domain.features import MatchFeatures
from services.profile.domain.model_params import ModelParameters


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


Frequencies = Mapping[str, float]
"""Share of stored records carrying a name part: "f:<family>" / "g:<given>" -> 0..1 (term frequencies)."""


def tf(params: ModelParameters, table: str, level: str, tokens: tuple[str, ...], freq: Frequencies | None) -> float:
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
    weight = tf(params, field_, level, tokens, freq)
    return FieldEvidence(field_, _label(field_, level, tokens, freq, params), weight, a, b)


def _name_evidence(
    a: MatchFeatures, b: MatchFeatures, freq: Frequencies | None, params: ModelParameters
) -> list[FieldEvidence]:
    out: list[FieldEvidence] = []
    if a.family and b.family:
        level = family_level(a.family, b.family, (a.given, b.given))
        out.append(_evidence(params, "family_name", level, (f"f:{a.family}",), freq, a.family, b.family))
    if a.given and b.given:
        level = given_level(a.given, a.given_first, b.given, b.given_first, (a.family, b.family))
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
        params, "family_name", family_level(a.family, b.given, (a.given, b.family)),
        (f"f:{a.family}", f"g:{b.given}"), freq, a.family, b.given,
    )  # fmt: skip
    giv = _evidence(
        params, "given_name", given_level(a.given, a.given_first, b.family, b.family, (a.family, b.given)),
        (f"g:{a.given}", f"f:{b.family}"), freq, a.given, b.family,
    )  # fmt: skip
    return [
        FieldEvidence(fam.field, f"{fam.level} (swapped order)", fam.weight, fam.a, fam.b),
        FieldEvidence(giv.field, f"{giv.level} (swapped order)", giv.weight, giv.a, giv.b),
    ]


def total_weight(evidence: Iterable[FieldEvidence]) -> float:
    return sum(e.weight for e in evidence)


def names(a: MatchFeatures, b: MatchFeatures, freq: Frequencies | None, params: ModelParameters) -> list[FieldEvidence]:
    straight = _name_evidence(a, b, freq, params)
    if len(straight) == 2 and a.family == b.family and a.given == b.given:
        return straight  # nothing crosswise can beat two identical parts
    # Symmetric: the crosswise comparison is tried from both sides and the better kept.
    crossed = max((_swapped_evidence(a, b, freq, params), _swapped_evidence(b, a, freq, params)), key=total_weight)
    if crossed and total_weight(crossed) > total_weight(straight) + 1e-9:
        return crossed
    return straight


def quick_names(
    a: MatchFeatures, b: MatchFeatures, freq: Frequencies | None, p: ModelParameters
) -> tuple[float, str, str]:
    """`names` as (total weight, the chosen family and given levels; '' where not compared)."""
    has_family, has_given = bool(a.family and b.family), bool(a.given and b.given)
    total = 0.0
    fam_level = giv_level = ""
    w = p.weights
    if has_family:
        fam_level = family_level(a.family, b.family, (a.given, b.given))
        total = (
            w["family_name"][fam_level]
            if fam_level != "exact" or not freq
            else _tf1(p, "family_name", "f:", a.family, freq)
        )
    if has_given:
        giv_level = given_level(a.given, a.given_first, b.given, b.given_first, (a.family, b.family))
        if giv_level != "exact" or not freq:
            giv_w = w["given_name"][giv_level]
        else:
            giv_w = _tf1(p, "given_name", "g:", a.given if a.given == b.given else a.given_first, freq)
        total = total + giv_w if has_family else giv_w
    if not (has_family and has_given):
        return total, fam_level, giv_level
    if a.family == b.family and a.given == b.given:
        return total, fam_level, giv_level
    ab_fam, ab_giv = quick_swapped(a, b, freq, p)
    ba_fam, ba_giv = quick_swapped(b, a, freq, p)
    ab_total, ba_total = ab_fam[1] + ab_giv[1], ba_fam[1] + ba_giv[1]
    (c_fam, c_giv), c_total = ((ba_fam, ba_giv), ba_total) if ba_total > ab_total else ((ab_fam, ab_giv), ab_total)
    if c_total > total + 1e-9:
        return c_total, c_fam[0], c_giv[0]
    return total, fam_level, giv_level


def quick_swapped(
    a: MatchFeatures, b: MatchFeatures, freq: Frequencies | None, p: ModelParameters
) -> tuple[tuple[str, float], tuple[str, float]]:
    fam = family_level(a.family, b.given, (a.given, b.family))
    giv = given_level(a.given, a.given_first, b.family, b.family, (a.family, b.given))
    w = p.weights
    # The frequency tokens only for an exact agreement (`tf` adjusts nothing else).
    fam_w = (
        w["family_name"][fam]
        if fam != "exact" or not freq
        else tf(p, "family_name", fam, (f"f:{a.family}", f"g:{b.given}"), freq)
    )
    giv_w = (
        w["given_name"][giv]
        if giv != "exact" or not freq
        else tf(p, "given_name", giv, (f"g:{a.given}", f"f:{b.family}"), freq)
    )
    return (fam, fam_w), (giv, giv_w)


def _tf1(p: ModelParameters, table: str, prefix: str, value: str, freq: Frequencies) -> float:
    return tf(p, table, "exact", (prefix + value,), freq)
