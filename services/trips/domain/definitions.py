"""Journey definitions as data: the models a definition file is read into, and what makes one valid.

A journey is a trigger (an event type and a filter on its facts) and steps run in order: a wait
(a duration after the trigger, or hours before the trip's first departure in local time), and
actions under an optional condition on the facts and the customer view (tier, consent,
preferences): a message to the traveller or a case for the account manager. A definition names
its version; each run records the version it started with.

Validation refuses what would only fail later: an unknown trigger, fact, template, purpose or tier,
a placeholder naming no fact, a step with no action or two, a wait on a departure for a trigger
that has no trip (every trigger has one here).
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from services.kit.contracts.trips import JOURNEY_TEMPLATES

# The triggers a journey may start on, and the facts each event gives its conditions and texts.
_COMMON = frozenset({"trip_id", "customer_id", "source_system", "booking_id", "trip_status"})
TRIGGER_FACTS: Mapping[str, frozenset[str]] = {
    "trip.planned": _COMMON | {"first_departure", "origin"},
    "booking.changed": _COMMON | {"reason", "reason_kind", "has_reason", "delay_minutes", "changes"},
    "booking.cancelled": _COMMON | {"reason", "reason_kind", "has_reason", "changes"},
    "survey.answered": _COMMON | {"survey_id", "csat", "nps", "low_score", "has_comment"},
}
TIERS = ("gold", "silver", "regular")
PURPOSES = ("transactional", "service", "marketing")


class DefinitionError(ValueError):
    """A journey definition that cannot run; the message names the file and what is wrong."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Condition(_Strict):
    """Every part that is set must hold (an empty condition holds)."""

    fact: str | None = None
    eq: JsonValue = None
    gte: float | None = None
    lte: float | None = None
    in_: list[JsonValue] | None = Field(default=None, alias="in")
    tier: list[Literal["gold", "silver", "regular"]] | None = None
    consent: Literal["transactional", "service", "marketing"] | None = None
    preference: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_.]*$")
    equals: JsonValue = None
    missing: bool | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _parts_fit(self) -> Condition:
        compares = self.eq is not None or self.gte is not None or self.lte is not None or self.in_ is not None
        if compares and self.fact is None:
            raise ValueError("eq/gte/lte/in compare a fact: name it with `fact`")
        if (self.equals is not None or self.missing is not None) and self.preference is None:
            raise ValueError("equals/missing test a preference: name it with `preference`")
        return self

    def facts(self) -> set[str]:
        """Every fact this condition reads."""
        names = {self.fact} if self.fact else set()
        for sub in [*(self.any or []), *([self.not_] if self.not_ else [])]:
            names |= sub.facts()
        return names


class Trigger(_Strict):
    event: str
    filter: Condition | None = None


class Wait(_Strict):
    hours: float = Field(ge=0, le=24 * 365)
    before: Literal["first_departure"] | None = Field(
        default=None, description="Counted back from the trip's first departure, in the departure's local time"
    )


class MessageAction(_Strict):
    template: str
    purpose: Literal["transactional", "service", "marketing"]
    criticality: Literal["normal", "critical"] = "normal"


class CaseAction(_Strict):
    action: Literal["case", "callback"]
    subject: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    priority: Literal["low", "normal", "high", "urgent"] = "normal"


class Step(_Strict):
    when: Condition | None = None
    wait: Wait | None = None
    message: MessageAction | None = None
    case: CaseAction | None = None

    @model_validator(mode="after")
    def _one_thing(self) -> Step:
        doing = [name for name in ("wait", "message", "case") if getattr(self, name) is not None]
        if len(doing) != 1:
            raise ValueError(f"a step does one thing (wait, message or case), this one: {doing or 'nothing'}")
        if self.wait is not None and self.when is not None:
            raise ValueError("a wait takes no condition")
        return self


class JourneyDefinition(_Strict):
    journey: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: int = Field(ge=1)
    description: str = ""
    trigger: Trigger
    steps: list[Step] = Field(min_length=1, max_length=20)

    def check(self) -> None:
        """What the models cannot say alone: trigger, facts and templates are known ones."""
        facts = TRIGGER_FACTS.get(self.trigger.event)
        if facts is None:
            raise ValueError(f"unknown trigger {self.trigger.event!r} (known: {', '.join(sorted(TRIGGER_FACTS))})")
        conditions = [self.trigger.filter, *(s.when for s in self.steps)]
        for condition in conditions:
            unknown = (condition.facts() if condition else set()) - facts
            if unknown:
                raise ValueError(f"unknown fact(s) {sorted(unknown)} for {self.trigger.event} (known: {sorted(facts)})")
        for number, step in enumerate(self.steps, 1):
            if step.message is not None and step.message.template not in JOURNEY_TEMPLATES:
                raise ValueError(
                    f"step {number}: unknown template {step.message.template!r} (known: {', '.join(JOURNEY_TEMPLATES)})"
                )
            if step.case is not None:
                for text in (step.case.subject, step.case.description):
                    named = {f for _, f, _, _ in string.Formatter().parse(text) if f}
                    if named - facts:
                        raise ValueError(f"step {number}: unknown placeholder(s) {sorted(named - facts)}")


def parse_definition(data: object, *, origin: str) -> JourneyDefinition:
    """A definition from parsed YAML/JSON, checked; DefinitionError names `origin` and every problem."""
    try:
        definition = JourneyDefinition.model_validate(data)
        definition.check()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'definition'}: {e['msg']}" for e in exc.errors())
        raise DefinitionError(f"journey definition {origin} is invalid: {problems}") from exc
    except ValueError as exc:
        raise DefinitionError(f"journey definition {origin} is invalid: {exc}") from exc
    return definition


def check_all(definitions: Iterable[JourneyDefinition]) -> dict[str, JourneyDefinition]:
    """Definitions by name; two with one name is an error."""
    out: dict[str, JourneyDefinition] = {}
    for d in definitions:
        if d.journey in out:
            raise DefinitionError(f"journey {d.journey!r} is defined twice")
        out[d.journey] = d
    if not out:
        raise DefinitionError("no journey definitions found")
    return out
