"""Company travel policy, and how a traveller's preferences resolve against it.

A policy caps what a traveller may book (cabin by flight duration, hotel stars, car and
rail class), blocks suppliers, recommends preferred suppliers and carries rules that are
not preferences at all (hotel rate caps per city, advance-booking days). Resolution
never loosens a preference that is stricter than the policy: the effective value of a
ranked preference is the lower of what the traveller wants and what the policy allows,
and a clash is reported as a conflict ("prefers business on medium-haul flights; policy
allows economy under 6 h").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.config import JsonDict

from services.preferences.domain import codes
from services.preferences.domain.catalogue import CABINS, CAR_CLASSES, HAULS
from services.preferences.domain.model import Preference

HAUL_MIN_HOURS = {"short_haul": 0.0, "medium_haul": 3.0, "long_haul": 6.0}
RAIL_RANK = {"standard": 0, "second": 0, "business": 1, "first": 2}
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _any_case(words: Any) -> str:
    """A pattern matching any of `words` in any letter case (as the validators compare them)."""
    classes = ("".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in w) for w in words)
    return "^(?:" + "|".join(sorted(classes)) + ")$"


# The rules of the validators below, in the schema too (the OpenAPI document shows the body's schema).
_AIRLINE: JsonDict = {"type": "string", "pattern": _any_case(codes.AIRLINES), "description": "IATA airline code"}
_GDS_CODE = re.compile(r"^[A-Za-z0-9]{2}$")
_GDS_ITEM: JsonDict = {"type": "string", "pattern": _GDS_CODE.pattern, "minLength": 2, "maxLength": 2}


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CabinRule(_Strict):
    """From `min_hours` of flight time on, the best cabin allowed is `max_cabin`."""

    min_hours: float = Field(ge=0, le=24, strict=True)  # strict: `true` is not a number of hours
    max_cabin: str = Field(json_schema_extra={"enum": list(CABINS)})

    @field_validator("max_cabin")
    @classmethod
    def _cabin(cls, v: str) -> str:
        if v not in CABINS:
            raise ValueError(f"unknown cabin {v!r}; one of {', '.join(CABINS)}")
        return v


class RateCap(_Strict):
    amount: Decimal = Field(gt=0, max_digits=10, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class TravelPolicy(_Strict):
    """One company's travel policy (every rule optional)."""

    company_id: str = Field(min_length=1, max_length=100)
    cabin_rules: tuple[CabinRule, ...] = Field(default=(), max_length=10)
    hotel_max_star: int | None = Field(default=None, ge=1, le=5, strict=True)
    hotel_rate_caps: dict[str, RateCap] = Field(
        default_factory=dict, max_length=500, description="Nightly rate cap per city; the key 'default' for elsewhere"
    )
    preferred_airlines: tuple[str, ...] = Field(default=(), max_length=20, json_schema_extra={"items": _AIRLINE})
    blocked_airlines: tuple[str, ...] = Field(default=(), max_length=50, json_schema_extra={"items": _AIRLINE})
    preferred_hotel_chains: tuple[str, ...] = Field(default=(), max_length=20, json_schema_extra={"items": _GDS_ITEM})
    preferred_car_vendors: tuple[str, ...] = Field(default=(), max_length=20, json_schema_extra={"items": _GDS_ITEM})
    max_car_class: str | None = Field(default=None, json_schema_extra={"enum": [*CAR_CLASSES, None]})
    max_rail_class: str | None = Field(default=None, json_schema_extra={"enum": [*RAIL_RANK, None]})
    advance_booking_days: int | None = Field(default=None, ge=0, le=365, strict=True)

    @field_validator("preferred_airlines", "blocked_airlines")
    @classmethod
    def _airlines(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in v if c.upper() not in codes.AIRLINES]
        if unknown:
            raise ValueError(f"unknown airline code(s) {', '.join(unknown)}")
        return tuple(dict.fromkeys(c.upper() for c in v))

    @field_validator("preferred_hotel_chains", "preferred_car_vendors")
    @classmethod
    def _codes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        # ASCII letters and digits only: `isalnum` let "é1" pass for a GDS code.
        bad = [c for c in v if not _GDS_CODE.fullmatch(c)]
        if bad:
            raise ValueError(f"not two-character GDS codes: {', '.join(bad)}")
        return tuple(dict.fromkeys(c.upper() for c in v))

    @field_validator("max_car_class")
    @classmethod
    def _car(cls, v: str | None) -> str | None:
        if v is not None and v not in CAR_CLASSES:
            raise ValueError(f"unknown car class {v!r}; one of {', '.join(CAR_CLASSES)}")
        return v

    @field_validator("max_rail_class")
    @classmethod
    def _rail(cls, v: str | None) -> str | None:
        if v is not None and v not in RAIL_RANK:
            raise ValueError(f"unknown rail class {v!r}; one of {', '.join(RAIL_RANK)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> TravelPolicy:
        hours = [r.min_hours for r in self.cabin_rules]
        if len(set(hours)) != len(hours):
            raise ValueError("cabin_rules: two rules for the same min_hours")
        both = set(self.preferred_airlines) & set(self.blocked_airlines)
        if both:
            raise ValueError(f"airlines both preferred and blocked: {', '.join(sorted(both))}")
        return self

    @classmethod
    def from_json(cls, company_id: str, data: Mapping[str, Any]) -> TravelPolicy:
        return cls.model_validate({**data, "company_id": company_id})

    def allowed_cabin(self, hours: float) -> str | None:
        """The best cabin allowed on a flight of `hours`; None when no rule covers it."""
        applicable = [r for r in self.cabin_rules if r.min_hours <= hours]
        if not applicable:
            return None
        return max(applicable, key=lambda r: r.min_hours).max_cabin

    def cabin_threshold(self, wanted: str, above: float) -> float | None:
        """The flight time from which `wanted` is allowed, if any rule allows it beyond `above` hours."""
        rank = CABINS.index(wanted)
        starts = sorted(
            r.min_hours for r in self.cabin_rules if r.min_hours > above and CABINS.index(r.max_cabin) >= rank
        )
        return starts[0] if starts else None


@dataclass(frozen=True)
class Conflict:
    """A preference the policy does not allow."""

    key: str
    preferred: Any
    allowed: Any
    message: str


def _hours(h: float) -> str:
    return f"{h:g} h"


def _policy_pref(key: str, value: Any, as_of: datetime) -> Preference:
    return Preference(key, value, "policy", 1.0, 0, as_of, as_of)


def resolve(
    preferences: Mapping[str, Preference], policy: TravelPolicy | None, *, as_of: datetime | None = None
) -> tuple[dict[str, Preference], list[Conflict]]:
    """Effective preferences: the traveller's, limited by company policy, with the conflicts found."""
    out = dict(preferences)
    conflicts: list[Conflict] = []
    if policy is None:
        return out, conflicts
    at = as_of or _EPOCH

    def cap(key: str, allowed: Any, message: str) -> None:
        conflicts.append(Conflict(key, out[key].value, allowed, message))
        out[key] = _policy_pref(key, allowed, at)

    for haul in HAULS:
        key = f"air.cabin.{haul}"
        floor = HAUL_MIN_HOURS[haul]
        allowed = policy.allowed_cabin(floor)
        if allowed is None:
            continue
        wanted = out.get(key)
        if wanted is None:
            out[key] = _policy_pref(key, allowed, at)
        elif CABINS.index(wanted.value) > CABINS.index(allowed):
            threshold = policy.cabin_threshold(wanted.value, floor)
            limit = f"under {_hours(threshold)}" if threshold is not None else "at most"
            label = haul.replace("_", "-")
            cap(key, allowed, f"prefers {wanted.value} on {label} flights; policy allows {allowed} {limit}")

    if policy.hotel_max_star is not None and "hotel.star_min" in out:
        wanted_star = out["hotel.star_min"].value
        if wanted_star > policy.hotel_max_star:
            cap(
                "hotel.star_min",
                policy.hotel_max_star,
                f"prefers at least {wanted_star}-star hotels; policy allows up to {policy.hotel_max_star} stars",
            )

    if policy.max_car_class is not None and "car.class" in out:
        wanted_car = out["car.class"].value
        if CAR_CLASSES.index(wanted_car) > CAR_CLASSES.index(policy.max_car_class):
            cap(
                "car.class",
                policy.max_car_class,
                f"prefers {wanted_car} cars; policy allows up to {policy.max_car_class}",
            )

    if policy.max_rail_class is not None and "rail.class" in out:
        wanted_rail = out["rail.class"].value
        if RAIL_RANK[wanted_rail] > RAIL_RANK[policy.max_rail_class]:
            cap(
                "rail.class",
                policy.max_rail_class,
                f"prefers {wanted_rail} class; policy allows {policy.max_rail_class}",
            )

    if policy.blocked_airlines:
        blocked = list(policy.blocked_airlines)
        preferred = out.get("air.airlines.preferred")
        if preferred is not None:
            clash = [c for c in preferred.value if c in blocked]
            if clash:
                kept = [c for c in preferred.value if c not in blocked]
                conflicts.append(
                    Conflict(
                        "air.airlines.preferred", preferred.value, kept, f"prefers {', '.join(clash)}; policy blocks it"
                    )
                )
                if kept:
                    out["air.airlines.preferred"] = _policy_pref("air.airlines.preferred", kept, at)
                else:
                    del out["air.airlines.preferred"]
        avoided = out.get("air.airlines.avoided")
        mine = list(avoided.value) if avoided is not None else []
        union = mine + [c for c in blocked if c not in mine]
        if union != mine:
            out["air.airlines.avoided"] = _policy_pref("air.airlines.avoided", union, at)

    for key, recommended in (
        ("air.airlines.preferred", policy.preferred_airlines),
        ("hotel.chains.preferred", policy.preferred_hotel_chains),
        ("car.vendors.preferred", policy.preferred_car_vendors),
    ):
        if recommended and key not in out:
            out[key] = _policy_pref(key, list(recommended), at)

    if policy.hotel_rate_caps:
        caps = {
            city: {"amount": str(c.amount), "currency": c.currency}
            for city, c in sorted(policy.hotel_rate_caps.items())
        }
        out["policy.hotel.rate_caps"] = _policy_pref("policy.hotel.rate_caps", caps, at)
    if policy.advance_booking_days is not None:
        out["policy.advance_booking_days"] = _policy_pref(
            "policy.advance_booking_days", policy.advance_booking_days, at
        )
    return dict(sorted(out.items())), conflicts
