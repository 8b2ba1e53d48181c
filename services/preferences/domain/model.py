"""A customer's travel preferences: stated, set by an agent, inferred, and the effective result.

Pure Python: no database, no broker. The service layer loads a `CustomerPreferences`,
lets it record bookings or edits, and stores it again.

Precedence per key: an explicit preference (stated by the traveller or set by an
agent; the newer of the two) always beats an inference. An inference the traveller
declined is not used. Company policy is applied afterwards (`policy.resolve`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import attrgetter
from typing import Any, Literal, NamedTuple

from services.preferences.domain import catalogue
from services.preferences.domain.inference import (
    MIN_CONFIDENCE,
    WINDOW,
    Inference,
    Observation,
    infer,
    infer_window,
    observe,
    window,
    window_order,
)

Source = Literal["stated", "agent", "inferred", "policy"]
_booking_of = attrgetter("booking")
ExplicitSource = Literal["stated", "agent"]
JSON = Any

# Low-confidence inferences worth asking the traveller about.
CONFIRM_MIN, CONFIRM_MAX, CONFIRM_MIN_EVIDENCE = 0.4, 0.7, 2


class Preference(NamedTuple):
    """One preference with its provenance (immutable; a named tuple: a snapshot builds dozens of them)."""

    key: str
    value: JSON
    source: Source
    confidence: float
    evidence_count: int
    first_seen: datetime
    last_seen: datetime


class Explicit(NamedTuple):
    """A preference somebody said out loud: the traveller (stated) or an agent (immutable)."""

    key: str
    value: JSON
    source: ExplicitSource
    set_by: str
    first_set: datetime
    set_at: datetime


class ConfirmationRequest(NamedTuple):
    """An inference we asked the traveller to confirm (immutable)."""

    request_id: str
    key: str
    value: JSON
    confidence: float
    evidence_count: int
    asked_at: datetime


@dataclass
class CustomerPreferences:
    """The preferences aggregate of one customer."""

    customer_id: str
    company_id: str | None = None
    observations: dict[str, list[Observation]] = field(default_factory=dict)
    explicit: dict[str, Explicit] = field(default_factory=dict)
    declined: dict[str, list[JSON]] = field(default_factory=dict)
    asked: dict[str, ConfirmationRequest] = field(default_factory=dict)
    last_event_at: datetime | None = None
    # Per dimension, the list `from_json` built and the stored JSON it came from: a dimension
    # whose list is still that object (every change puts a new list in place) is written back
    # from its stored JSON instead of being serialised again. A booking's new observations put
    # their list here too, with the stored JSON carried along (None for the new ones).
    _loaded: dict[str, tuple[list[Observation], list[Any]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    # --- behaviour ---------------------------------------------------------------------------

    def record_booking(self, *, booking: str, kind: str, segments: Sequence[object], at: datetime) -> None:
        """A booking was created, changed or cancelled: its segments replace what it showed before.

        A changed booking carries its full new state, so it replaces its earlier
        observations instead of counting twice; a cancelled one withdraws them. Trip
        start/completion reveal nothing new.
        """
        if kind in ("created", "changed", "cancelled"):
            self._forget_booking(booking)
        if kind in ("created", "changed"):
            added: dict[str, list[Observation]] = {}
            for o in observe(segments, booking=booking):
                added.setdefault(o.dimension, []).append(o)
            keep = catalogue.KEEP_OBSERVATIONS
            loaded = self._loaded
            for dimension, new in added.items():
                # A dimension's list is in the window's order (see `_trim`): inserting the new
                # observations in order gives what sorting the appended list would (equal ones go
                # after those already there, in the order observed), with fewer comparisons. A new
                # list is put in place, never the loaded one changed (see `_loaded`); a list as
                # loaded carries its stored JSON along, None where an observation is new.
                current = self.observations.get(dimension, ())
                merged = list(current)
                stored = loaded.get(dimension)
                entries = None
                if stored is not None and stored[0] is current and len(current) == len(stored[1]):
                    entries = list(stored[1])
                for o in new:
                    position = bisect_right(merged, window_order(o), key=window_order)
                    merged.insert(position, o)
                    if entries is not None:
                        entries.insert(position, None)
                if len(merged) > keep:
                    merged = merged[-keep:]
                    entries = None if entries is None else entries[-keep:]
                self.observations[dimension] = merged
                if entries is not None:
                    loaded[dimension] = (merged, entries)
        if self.last_event_at is None or at > self.last_event_at:
            self.last_event_at = at

    def _forget_booking(self, booking: str) -> None:
        for dimension, obs in list(self.observations.items()):
            if obs and booking not in map(_booking_of, obs):  # scanned in C: usually absent
                continue
            kept = [o for o in obs if o.booking != booking]
            if kept:
                self.observations[dimension] = kept
            else:
                del self.observations[dimension]

    def _trim(self, dimension: str) -> None:
        # Keep a little more than the window so a withdrawn booking does not empty it
        # (in the window's order: time, then booking, then value). Every list in `observations`
        # is in that order: trimmed after appending, filtered in place when a booking is withdrawn,
        # and stored and loaded as it was.
        self.observations[dimension] = window(self.observations[dimension], catalogue.KEEP_OBSERVATIONS)

    # --- explicit preferences ----------------------------------------------------------------

    def set_explicit(self, key: str, value: JSON, *, source: ExplicitSource, set_by: str, at: datetime) -> None:
        """Record a stated or agent-set preference (value already validated)."""
        previous = self.explicit.get(key)
        first = previous.first_set if previous is not None and previous.value == value else at
        self.explicit[key] = Explicit(key, value, source, set_by, first, at)
        self.asked.pop(key, None)

    def clear_explicit(self, key: str) -> bool:
        """Forget an explicit preference; inference takes over again. False if there was none."""
        return self.explicit.pop(key, None) is not None

    def answer_confirmation(self, key: str, *, accepted: bool, answered_by: str, at: datetime) -> JSON:
        """The traveller confirmed or declined the inference we asked about; returns its value."""
        request = self.asked.pop(key)
        if accepted:
            self.set_explicit(key, request.value, source="stated", set_by=answered_by, at=at)
        else:
            self.declined.setdefault(key, [])
            if request.value not in self.declined[key]:
                self.declined[key].append(request.value)
        return request.value

    def confirm_inference(
        self, key: str, value: JSON, *, accepted: bool, source: ExplicitSource, set_by: str, at: datetime
    ) -> None:
        """Somebody confirmed or rejected an inferred value, whether or not we had asked about it.

        Accepted: it becomes an explicit preference (and is no longer declined). Rejected: it is
        declined, so it is neither used nor asked about again; a question about that value is
        closed, one about another value stays recorded as asked (it is not asked twice).
        """
        if accepted:
            self.set_explicit(key, value, source=source, set_by=set_by, at=at)
            declined = self.declined.get(key)
            if declined is not None and value in declined:
                declined.remove(value)
                if not declined:
                    del self.declined[key]
            return
        declined = self.declined.setdefault(key, [])
        if value not in declined:
            declined.append(value)
        asked = self.asked.get(key)
        if asked is not None and asked.value == value:
            del self.asked[key]

    def inferred_value(self, key: str) -> JSON | None:
        """The value the bookings point to for `key` now (as a preference value), whatever its confidence."""
        obs = self.observations.get(key)
        inference = infer(key, obs) if obs else None
        return None if inference is None else catalogue.preference_value(key, inference.value)

    # --- reading -----------------------------------------------------------------------------

    def inferences(self) -> dict[str, Inference]:
        """Current inference per dimension, whatever its confidence."""
        out = {}
        # Every dimension's list is kept in the window's order (see `_trim`), so its window is its tail.
        for dimension, obs in sorted(self.observations.items()):
            inference = infer_window(dimension, obs[-WINDOW:])
            if inference is not None:
                out[dimension] = inference
        return out

    def preferences(self, inferences: Mapping[str, Inference] | None = None) -> dict[str, Preference]:
        """The traveller's own preferences, before company policy: explicit beats inferred."""
        out: dict[str, Preference] = {}
        for key, inference in (self.inferences() if inferences is None else inferences).items():
            value = catalogue.preference_value(key, inference.value)
            if inference.confidence < MIN_CONFIDENCE or value in self.declined.get(key, ()):
                continue
            out[key] = Preference(
                key=key,
                value=value,
                source="inferred",
                confidence=inference.confidence,
                evidence_count=inference.evidence_count,
                first_seen=inference.first_seen,
                last_seen=inference.last_seen,
            )
        for key, e in self.explicit.items():
            out[key] = Preference(key, e.value, e.source, 1.0, 0, e.first_set, e.set_at)
        return dict(sorted(out.items()))

    def confirmations_to_ask(
        self, *, new_request_id: Iterable[str], at: datetime, inferences: Mapping[str, Inference] | None = None
    ) -> list[ConfirmationRequest]:
        """Low-confidence inferences not asked about before, the most important first (`catalogue.RANK`);
        records them as asked."""
        wanted = []
        for key, inference in (self.inferences() if inferences is None else inferences).items():
            if (
                not (CONFIRM_MIN <= inference.confidence < CONFIRM_MAX)
                or inference.evidence_count < CONFIRM_MIN_EVIDENCE
            ):
                continue
            if key in self.explicit or catalogue.is_sensitive(key):
                continue
            value = catalogue.preference_value(key, inference.value)
            if value in self.declined.get(key, ()):
                continue
            if key in self.asked and self.asked[key].value == value:
                continue
            wanted.append((key, value, inference))
        if len(wanted) > 1:
            rank = catalogue.RANK
            wanted.sort(key=lambda w: rank.get(w[0], len(rank)))
        ids = iter(new_request_id)
        out = []
        for key, value, inference in wanted:
            request = ConfirmationRequest(next(ids), key, value, inference.confidence, inference.evidence_count, at)
            self.asked[key] = request
            out.append(request)
        return out

    def absorb(self, other: CustomerPreferences) -> None:
        """Merge another customer's preferences into this one (the other was found to be the same person).

        Observations are pooled; this customer's explicit preferences win on a clash,
        the newer one otherwise.
        """
        for dimension, obs in other.observations.items():
            mine = {(o.booking, o.at, str(o.value)) for o in self.observations.get(dimension, [])}
            self.observations.setdefault(dimension, []).extend(
                o for o in obs if (o.booking, o.at, str(o.value)) not in mine
            )
            self._trim(dimension)
        for key, e in other.explicit.items():
            if key not in self.explicit:
                self.explicit[key] = e
        for key, values in other.declined.items():
            merged = self.declined.setdefault(key, [])
            merged.extend(v for v in values if v not in merged)
        if other.last_event_at and (self.last_event_at is None or other.last_event_at > self.last_event_at):
            self.last_event_at = other.last_event_at
        if self.company_id is None:
            self.company_id = other.company_id

    # --- persistence form (plain JSON, so the adapter stays dumb) ------------------------------

    def to_json(self) -> dict[str, Any]:
        loaded = self._loaded
        observations: dict[str, list[Any]] = {}
        times: dict[int, str] = {}  # by identity (all alive meanwhile): a segment's observations share a time

        def iso(at: datetime) -> str:
            text = times.get(id(at))
            if text is None:
                text = times[id(at)] = at.isoformat()
            return text

        for d, obs in self.observations.items():
            stored = loaded.get(d)
            if stored is None:
                observations[d] = [[booking, value, iso(at), detail] for _, value, booking, at, detail in obs]
            elif stored[0] is obs and len(obs) == len(stored[1]):
                entries_as_stored = stored[1]  # None for an observation added since (`record_booking`)
                observations[d] = (
                    entries_as_stored
                    if None not in entries_as_stored
                    else [
                        [o.booking, o.value, iso(o.at), o.detail] if e is None else e
                        for o, e in zip(obs, entries_as_stored, strict=True)
                    ]
                )
            else:  # changed: the observations that were loaded keep the JSON they were loaded from
                # (the loaded list may have had observations appended in place: its head is what was loaded)
                entries = {id(o): e for o, e in zip(stored[0], stored[1], strict=False)}
                observations[d] = [entries.get(id(o)) or [o.booking, o.value, iso(o.at), o.detail] for o in obs]
        return {
            "observations": observations,
            "explicit": {
                k: {"value": e.value, "source": e.source, "set_by": e.set_by, "first_set": e.first_set.isoformat(),
                    "set_at": e.set_at.isoformat()}
                for k, e in self.explicit.items()
            },
            "declined": self.declined,
            "asked": {
                k: {"request_id": r.request_id, "value": r.value, "confidence": r.confidence,
                    "evidence_count": r.evidence_count, "asked_at": r.asked_at.isoformat()}
                for k, r in self.asked.items()
            },
        }  # fmt: skip

    @classmethod
    def from_json(
        cls, customer_id: str, data: Mapping[str, Any], *, company_id: str | None, last_event_at: datetime | None
    ) -> CustomerPreferences:
        # The segments of a booking share their times across dimensions: each distinct time is parsed
        # once (the stored texts are collected first). Observations are built as the tuples they are.
        stored = data.get("observations") or {}
        parsed = {at: datetime.fromisoformat(at) for at in {at for obs in stored.values() for _, _, at, _ in obs}}
        new = tuple.__new__
        observations: dict[str, list[Observation]] = {
            d: [new(Observation, (d, v, b, parsed[at], detail)) for b, v, at, detail in obs]
            for d, obs in stored.items()
        }
        prefs = cls(
            customer_id=customer_id,
            company_id=company_id,
            observations=observations,
            explicit={
                k: Explicit(k, e["value"], e["source"], e["set_by"], datetime.fromisoformat(e["first_set"]),
                            datetime.fromisoformat(e["set_at"]))
                for k, e in (data.get("explicit") or {}).items()
            },
            declined={k: list(v) for k, v in (data.get("declined") or {}).items()},
            asked={
                k: ConfirmationRequest(r["request_id"], k, r["value"], r["confidence"], r["evidence_count"],
                                       datetime.fromisoformat(r["asked_at"]))
                for k, r in (data.get("asked") or {}).items()
            },
            last_event_at=last_event_at,
        )  # fmt: skip
        prefs._loaded = {d: (obs, stored[d]) for d, obs in observations.items()}
        return prefs

    def copy(self) -> CustomerPreferences:
        return replace(
            self,
            observations={d: list(o) for d, o in self.observations.items()},
            explicit=dict(self.explicit),
            declined={k: list(v) for k, v in self.declined.items()},
            asked=dict(self.asked),
        )
