"""Next best actions from preferences: confirm what was inferred, suggest hotels the traveller would pick.

Hotel suggestions use what exists: the cities of the traveller's resolved hotel stays (the last
year), their preferred chains (effective preferences: stated, inferred or the policy's), and the
company policy's nightly rate cap for the city (else its `default`). A city qualifies after two
stays; a suggestion names a preferred chain the traveller did not use there every time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from services.kit.actions import Action
from services.preferences.domain import catalogue

OFTEN = 2  # stays in a city in the window that make it a city the traveller "often visits"
MAX_CONFIRMATIONS = 3
MAX_HOTEL_SUGGESTIONS = 3


@dataclass(frozen=True)
class Inferred:
    key: str
    value: Any
    confidence: float
    evidence_count: int
    asked: bool


@dataclass(frozen=True)
class Visits:
    city: str
    country: str
    stays: int
    nights: int
    last_check_in: date
    chains: Mapping[str, int]


def confirm_inferred(inferred: Sequence[Inferred], *, confident: float) -> list[Action]:
    """Inferred preferences below `confident`, the most important first: confirm them with the traveller."""
    rank = catalogue.RANK
    wanted = sorted(
        (i for i in inferred if i.confidence < confident), key=lambda i: (rank.get(i.key, len(rank)), i.key)
    )
    out = []
    for i in wanted[:MAX_CONFIRMATIONS]:
        asked = " The traveller was asked and has not answered." if i.asked else ""
        out.append(
            Action(
                kind="confirm_inferred_preference",
                title=f"Confirm {i.key} = {i.value}",
                reason=f"Inferred from {i.evidence_count} bookings with confidence {i.confidence:.0%}: not yet"
                f" confirmed.{asked}",
                priority="normal",
                facts={
                    "key": i.key,
                    "value": i.value,
                    "confidence": round(i.confidence, 3),
                    "evidence_count": i.evidence_count,
                    "asked": i.asked,
                },
            )
        )
    return out


def _cap(caps: Mapping[str, Mapping[str, Any]], city: str) -> tuple[str, Mapping[str, Any]] | None:
    for name, cap in caps.items():
        if name.casefold() == city.casefold():
            return name, cap
    return ("default", caps["default"]) if "default" in caps else None


def suggest_hotels(
    visits: Sequence[Visits],
    preferred_chains: Sequence[str],
    rate_caps: Mapping[str, Mapping[str, Any]],
    *,
    chain_names: Mapping[str, str],
) -> list[Action]:
    """Hotels of preferred chains in the cities the traveller often visits, within the policy's rate cap."""
    if not preferred_chains:
        return []
    out: list[Action] = []
    for v in visits:
        if v.stays < OFTEN or len(out) >= MAX_HOTEL_SUGGESTIONS:
            continue
        # Suggest the preferred chain least used there: the one the traveller did not already pick each time.
        chain = min(preferred_chains, key=lambda c: (v.chains.get(c, 0), preferred_chains.index(c)))
        if v.chains.get(chain, 0) >= v.stays:
            continue
        name = chain_names.get(chain, chain)
        cap = _cap(rate_caps, v.city)
        within = (
            f"; policy allows up to {Decimal(str(cap[1]['amount']))} {cap[1]['currency']} a night"
            + ("" if cap[0] != "default" else " (the policy's default)")
            if cap
            else "; the company policy sets no rate cap"
        )
        out.append(
            Action(
                kind="suggest_hotel",
                title=f"Suggest a {name} hotel in {v.city}",
                reason=f"Stayed in {v.city} {v.stays} times ({v.nights} nights, last on {v.last_check_in:%d %b %Y})"
                f" and prefers {name}{within}",
                priority="low",
                facts={
                    "city": v.city,
                    "country": v.country,
                    "stays": v.stays,
                    "nights": v.nights,
                    "chain": chain,
                    "chains_used": dict(v.chains),
                    "rate_cap": None if cap is None else {"applies_to": cap[0], **dict(cap[1])},
                },
            )
        )
    return out
