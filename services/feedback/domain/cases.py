"""Cases: complaints and requests an agent works until they are resolved, under an SLA.

A case moves through a small state machine::

    open ──► in_progress ◄──► waiting_customer
      │           │                  │
      └───────────┴──► resolved ◄────┘
                          │  ▲
                          │  └── (reopen) in_progress
                          ▼
    any state but closed ──► closed   (supervisors only; terminal)

Two SLA targets run from the moment a case opens: the *first response* (due after a
time that depends on the priority) and the *resolution*. Leaving `open` is the first
response; entering `resolved` or `closed` is the resolution (a reopen clears it). A
case past a target that is not met gets escalated once per target: its priority goes
up one step, it is flagged, and the history says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

SlaTarget = Literal["first_response", "resolution"]
SYSTEM_ACTOR = "sla-monitor"


class CaseStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING_CUSTOMER = "waiting_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        return _PRIORITY_ORDER.index(self)

    def raised(self) -> Priority:
        """One step more urgent (urgent stays urgent)."""
        return _PRIORITY_ORDER[min(self.rank + 1, len(_PRIORITY_ORDER) - 1)]


_PRIORITY_ORDER = (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT)


class CaseKind(StrEnum):
    COMPLAINT = "complaint"
    REQUEST = "request"


class CaseSource(StrEnum):
    SURVEY = "survey"
    AGENT = "agent"
    JOURNEY = "journey"  # asked for by a journey of the trips service


TRANSITIONS: Mapping[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.OPEN: frozenset(
        {CaseStatus.IN_PROGRESS, CaseStatus.WAITING_CUSTOMER, CaseStatus.RESOLVED, CaseStatus.CLOSED}
    ),
    CaseStatus.IN_PROGRESS: frozenset({CaseStatus.WAITING_CUSTOMER, CaseStatus.RESOLVED, CaseStatus.CLOSED}),
    CaseStatus.WAITING_CUSTOMER: frozenset({CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED, CaseStatus.CLOSED}),
    CaseStatus.RESOLVED: frozenset({CaseStatus.IN_PROGRESS, CaseStatus.CLOSED}),
    CaseStatus.CLOSED: frozenset(),
}
DONE = frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED})
SUPERVISOR_ONLY = frozenset({CaseStatus.CLOSED})


class CaseError(Exception):
    """A change the case rules refuse."""


class IllegalTransitionError(CaseError):
    """The case cannot move from its status to the one asked for."""


class NotPermittedError(CaseError):
    """The actor may not make this change (closing needs a supervisor)."""


@dataclass(frozen=True)
class SlaPolicy:
    """How long the first response and the resolution may take."""

    first_response: Mapping[Priority, timedelta]
    resolution: timedelta
    # Gold-tier travellers' cases get this fraction of every deadline (1: the same as everyone's).
    gold_factor: float = 1.0

    def for_tier(self, tier: str | None) -> SlaPolicy:
        """The policy for a customer of `tier` (from the value service's snapshot): tighter for gold."""
        if tier != "gold" or self.gold_factor == 1.0:
            return self
        return SlaPolicy(
            first_response={p: d * self.gold_factor for p, d in self.first_response.items()},
            resolution=self.resolution * self.gold_factor,
            gold_factor=self.gold_factor,
        )

    def first_response_due(self, priority: Priority, opened_at: datetime) -> datetime:
        return opened_at + self.first_response[priority]

    def resolution_due(self, opened_at: datetime) -> datetime:
        return opened_at + self.resolution


DEFAULT_SLA = SlaPolicy(
    first_response={
        Priority.LOW: timedelta(hours=48),
        Priority.NORMAL: timedelta(hours=24),
        Priority.HIGH: timedelta(hours=4),
        Priority.URGENT: timedelta(hours=1),
    },
    resolution=timedelta(days=5),
)


@dataclass(frozen=True)
class HistoryEntry:
    """One change to a case: who, when, what, with the details that matter."""

    at: datetime
    actor: str
    action: str
    detail: Mapping[str, str | int | float | bool | None]


@dataclass
class Case:
    """A case aggregate; changes go through its methods, which record history entries."""

    case_id: str
    customer_id: str
    kind: CaseKind
    source: CaseSource
    subject: str
    description: str
    status: CaseStatus
    priority: Priority
    opened_by: str
    opened_at: datetime
    first_response_due: datetime
    resolution_due: datetime
    assignee: str | None = None
    survey_id: str | None = None
    source_system: str | None = None
    booking_id: str | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    escalated: bool = False
    escalations: tuple[SlaTarget, ...] = ()
    updated_at: datetime | None = None
    version: int = 0  # 0: not stored yet
    new_history: list[HistoryEntry] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        *,
        case_id: str,
        customer_id: str,
        kind: CaseKind,
        source: CaseSource,
        subject: str,
        description: str,
        priority: Priority,
        opened_by: str,
        now: datetime,
        policy: SlaPolicy,
        assignee: str | None = None,
        survey_id: str | None = None,
        source_system: str | None = None,
        booking_id: str | None = None,
    ) -> Case:
        """A new open case with its SLA deadlines computed from the priority."""
        case = cls(
            case_id=case_id,
            customer_id=customer_id,
            kind=kind,
            source=source,
            subject=subject,
            description=description,
            status=CaseStatus.OPEN,
            priority=priority,
            opened_by=opened_by,
            opened_at=now,
            first_response_due=policy.first_response_due(priority, now),
            resolution_due=policy.resolution_due(now),
            assignee=assignee,
            survey_id=survey_id,
            source_system=source_system,
            booking_id=booking_id,
            updated_at=now,
        )
        case._record(
            now, opened_by, "opened", kind=kind.value, source=source.value, priority=priority.value, assignee=assignee
        )
        return case

    def _record(self, at: datetime, actor: str, action: str, **detail: str | int | float | bool | None) -> None:
        self.new_history.append(HistoryEntry(at=at, actor=actor, action=action, detail=detail))
        self.updated_at = at

    def can_move_to(self, target: CaseStatus) -> bool:
        return target in TRANSITIONS[self.status]

    def change_status(self, target: CaseStatus, *, actor: str, may_close: bool, now: datetime) -> bool:
        """Move to `target`; returns False when the case already is there (nothing recorded)."""
        if target is self.status:
            return False
        if not self.can_move_to(target):
            raise IllegalTransitionError(f"a {self.status.value} case cannot become {target.value}")
        if target in SUPERVISOR_ONLY and not may_close:
            raise NotPermittedError(f"only a supervisor may make a case {target.value}")
        previous = self.status
        self.status = target
        if previous is CaseStatus.OPEN and self.first_response_at is None:
            self.first_response_at = now
        if target in DONE and self.resolved_at is None:
            self.resolved_at = now
        if target is CaseStatus.CLOSED:
            self.closed_at = now
        if previous is CaseStatus.RESOLVED and target not in DONE:
            self.resolved_at = None  # reopened: the resolution clock counts again
        self._record(now, actor, "status_changed", **{"from": previous.value, "to": target.value})
        return True

    def assign(self, assignee: str | None, *, actor: str, now: datetime) -> bool:
        """Give the case to someone (None: back to the queue)."""
        self._refuse_if_closed("reassign")
        if assignee == self.assignee:
            return False
        previous = self.assignee
        self.assignee = assignee
        self._record(now, actor, "assigned", **{"from": previous, "to": assignee})
        return True

    def reprioritise(self, priority: Priority, *, actor: str, now: datetime, policy: SlaPolicy) -> bool:
        """Change the priority; an unanswered case's first-response deadline follows it."""
        self._refuse_if_closed("reprioritise")
        if priority is self.priority:
            return False
        previous = self.priority
        self.priority = priority
        if self.first_response_at is None and "first_response" not in self.escalations:
            self.first_response_due = policy.first_response_due(priority, self.opened_at)
        self._record(now, actor, "priority_changed", **{"from": previous.value, "to": priority.value})
        return True

    def add_note(self, text: str, *, actor: str, now: datetime) -> None:
        """An internal note; kept in the history."""
        self._refuse_if_closed("annotate")
        if not text.strip():
            raise CaseError("a note needs text")
        self._record(now, actor, "note", text=text.strip())

    def note_comment(
        self, *, survey_id: str, sentiment: str, score: float, topics: tuple[str, ...], actor: str, now: datetime
    ) -> None:
        """A traveller's survey comment about this case's booking was read: the history says what it said."""
        self._refuse_if_closed("annotate")
        self._record(
            now, actor, "comment_read", survey_id=survey_id, sentiment=sentiment, score=score, topics=",".join(topics)
        )

    def _refuse_if_closed(self, what: str) -> None:
        if self.status is CaseStatus.CLOSED:
            raise IllegalTransitionError(f"cannot {what} a closed case")

    def overdue(self, now: datetime) -> tuple[SlaTarget, ...]:
        """SLA targets past their due time and still not met."""
        out: list[SlaTarget] = []
        if self.first_response_at is None and now > self.first_response_due:
            out.append("first_response")
        if self.resolved_at is None and now > self.resolution_due:
            out.append("resolution")
        return tuple(out)

    def breaches(self, now: datetime) -> tuple[SlaTarget, ...]:
        """SLA targets missed: overdue now, or met after their due time."""
        out: list[SlaTarget] = []
        if (self.first_response_at or now) > self.first_response_due:
            out.append("first_response")
        if (self.resolved_at or now) > self.resolution_due:
            out.append("resolution")
        return tuple(out)

    def escalate(self, now: datetime, *, actor: str = SYSTEM_ACTOR) -> tuple[SlaTarget, ...]:
        """Escalate for each overdue target not escalated yet; returns those targets (empty: nothing to do)."""
        fresh = tuple(t for t in self.overdue(now) if t not in self.escalations)
        if not fresh:
            return ()
        previous = self.priority
        self.priority = self.priority.raised()
        self.escalated = True
        self.escalations = (*self.escalations, *fresh)
        self._record(
            now,
            actor,
            "escalated",
            targets=",".join(fresh),
            priority_from=previous.value,
            priority_to=self.priority.value,
        )
        return fresh
