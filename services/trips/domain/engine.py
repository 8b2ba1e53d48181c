"""Running a journey: conditions on facts and the customer view, waits in local time, the next steps.

Pure: the service layer loads the run, the trip's facts and the customer's view entries, asks
`advance()` what to do now, and carries it out (requests on the outbox, the run's new state).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal

from services.trips.domain.definitions import CaseAction, Condition, JourneyDefinition, MessageAction


@dataclass(frozen=True)
class CustomerContext:
    """What the customer view says that conditions read: tier, stated consents, preferences."""

    tier: str | None = None
    consents: Mapping[str, bool] = field(default_factory=dict)  # purpose -> the traveller's stated decision
    preferences: Mapping[str, Any] = field(default_factory=dict)  # key -> effective value

    @classmethod
    def from_view(cls, value: Mapping[str, Any] | None, preferences: Mapping[str, Any] | None) -> CustomerContext:
        tier = (value or {}).get("tier")
        consents: dict[str, bool] = {}
        prefs: dict[str, Any] = {}
        for p in (preferences or {}).get("preferences") or ():
            key, val = p.get("key"), p.get("value")
            if not isinstance(key, str):
                continue
            prefs[key] = val
            # Only the traveller's own word (stated, or recorded by an agent) is consent.
            if key.startswith("comms.consent.") and isinstance(val, bool) and p.get("source") in ("stated", "agent"):
                consents[key.removeprefix("comms.consent.")] = val
        return cls(tier if isinstance(tier, str) else None, consents, prefs)

    def consents_to(self, purpose: str) -> bool:
        """Marketing needs an opt-in; the others hold unless the traveller withdrew them."""
        stated = self.consents.get(purpose)
        return stated is True if purpose == "marketing" else stated is not False


def holds(condition: Condition | None, facts: Mapping[str, Any], customer: CustomerContext) -> bool:
    """Whether every part of `condition` holds (None holds)."""
    if condition is None:
        return True
    c = condition
    if c.fact is not None:
        value = facts.get(c.fact)
        if c.eq is not None and value != c.eq:
            return False
        number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        if c.gte is not None and (number is None or number < c.gte):
            return False
        if c.lte is not None and (number is None or number > c.lte):
            return False
        if c.in_ is not None and value not in c.in_:
            return False
    if c.tier is not None and (customer.tier or "regular") not in c.tier:
        return False
    if c.consent is not None and not customer.consents_to(c.consent):
        return False
    if c.preference is not None:
        present = c.preference in customer.preferences
        if c.missing is not None and present == c.missing:
            return False
        if c.equals is not None and customer.preferences.get(c.preference) != c.equals:
            return False
    if c.any is not None and not any(holds(sub, facts, customer) for sub in c.any):
        return False
    return not (c.not_ is not None and holds(c.not_, facts, customer))


def local_hours_before(instant: datetime, hours: float, zone: tzinfo) -> datetime:
    """`hours` before `instant` on the wall clock of `zone` (48 h before a 10:00 departure is 10:00 two
    days earlier, whatever daylight-saving change lies between), as a UTC instant."""
    wall = instant.astimezone(zone).replace(tzinfo=None) - timedelta(hours=hours)
    return wall.replace(tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Departure:
    """The trip's first departure and the zone of its place (UTC when unknown)."""

    at: datetime
    zone: tzinfo = UTC


@dataclass(frozen=True)
class Emit:
    """An action to request now: `step` is its index in the definition (the request's id says it)."""

    step: int
    action: MessageAction | CaseAction


@dataclass(frozen=True)
class Advance:
    """What a run does now: the actions to request, then wait until `due_at` at `step`, or end."""

    emits: tuple[Emit, ...]
    step: int
    status: Literal["waiting", "done", "skipped"]
    due_at: datetime | None = None
    note: str = ""


def advance(
    definition: JourneyDefinition,
    *,
    step: int,
    started_at: datetime,
    now: datetime,
    facts: Mapping[str, Any],
    customer: CustomerContext,
    departure: Departure | None,
) -> Advance:
    """Run from `step` until a wait that is not over yet, or the end.

    A wait before the first departure that has already passed ends the run (a reminder after the trip
    left means nothing); one whose moment is past but the departure is not is over at once.
    """
    emits: list[Emit] = []
    steps: Sequence[Any] = definition.steps
    index = step
    while index < len(steps):
        s = steps[index]
        if s.wait is not None:
            if s.wait.before == "first_departure":
                if departure is None:
                    return Advance(tuple(emits), index, "skipped", note="the trip has no departure time")
                if departure.at <= now:
                    return Advance(tuple(emits), index, "skipped", note="the trip left before the reminder")
                due = local_hours_before(departure.at, s.wait.hours, departure.zone)
            else:
                due = started_at + timedelta(hours=s.wait.hours)
            if due > now:
                return Advance(tuple(emits), index, "waiting", due_at=due)
        elif holds(s.when, facts, customer):
            action = s.message if s.message is not None else s.case
            assert action is not None  # a step does one thing (checked at start)
            emits.append(Emit(index, action))
        index += 1
    return Advance(tuple(emits), index, "done")


def render_text(text: str, facts: Mapping[str, Any]) -> str:
    """A case subject or description with its `{fact}` placeholders filled (names checked at start)."""
    return text.format_map({k: ("" if v is None else v) for k, v in facts.items()})
