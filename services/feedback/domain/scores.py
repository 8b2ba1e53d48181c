"""Score arithmetic: CSAT average and satisfied share, and the Net Promoter Score.

NPS = 100 x (promoters - detractors) / respondents, from -100 to 100, where
promoters answer 9-10, passives 7-8 and detractors 0-6.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class NpsCategory(StrEnum):
    PROMOTER = "promoter"
    PASSIVE = "passive"
    DETRACTOR = "detractor"


def nps_category(score: int) -> NpsCategory:
    if not 0 <= score <= 10:
        raise ValueError("an NPS answer is between 0 and 10")
    if score >= 9:
        return NpsCategory.PROMOTER
    return NpsCategory.PASSIVE if score >= 7 else NpsCategory.DETRACTOR


def net_promoter_score(promoters: int, passives: int, detractors: int) -> float | None:
    """NPS on the -100..100 scale; None without respondents."""
    n = promoters + passives + detractors
    if n == 0:
        return None
    return round(100 * (promoters - detractors) / n, 1)


@dataclass(frozen=True)
class CsatSummary:
    responses: int
    average: float | None  # mean of 1-5
    satisfied_share: float | None  # share answering 4 or 5
    distribution: Mapping[int, int]


@dataclass(frozen=True)
class NpsSummary:
    responses: int
    score: float | None
    promoters: int
    passives: int
    detractors: int


@dataclass(frozen=True)
class ScoreSummary:
    csat: CsatSummary
    nps: NpsSummary


def summarise(*, csat_counts: Mapping[int, int], nps_counts: Mapping[int, int]) -> ScoreSummary:
    """Summaries from how many answers gave each score (as the database counts them)."""
    csat_n = sum(csat_counts.values())
    csat_sum = sum(score * count for score, count in csat_counts.items())
    satisfied = sum(count for score, count in csat_counts.items() if score >= 4)
    by_category = dict.fromkeys(NpsCategory, 0)
    for score, count in nps_counts.items():
        by_category[nps_category(score)] += count
    return ScoreSummary(
        csat=CsatSummary(
            responses=csat_n,
            average=round(csat_sum / csat_n, 2) if csat_n else None,
            satisfied_share=round(satisfied / csat_n, 3) if csat_n else None,
            distribution={s: csat_counts.get(s, 0) for s in range(1, 6)},
        ),
        nps=NpsSummary(
            responses=sum(by_category.values()),
            score=net_promoter_score(
                by_category[NpsCategory.PROMOTER], by_category[NpsCategory.PASSIVE], by_category[NpsCategory.DETRACTOR]
            ),
            promoters=by_category[NpsCategory.PROMOTER],
            passives=by_category[NpsCategory.PASSIVE],
            detractors=by_category[NpsCategory.DETRACTOR],
        ),
    )
