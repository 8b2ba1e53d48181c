"""Next best actions: one HTTP shape for the suggestions every service makes from its own data.

Each service decides its actions where its data lives (a small rules module in its domain) and
answers `GET /v1/customers/{id}/next-actions` (and, where it knows companies, the company's);
the console shows them side by side. An action is explainable: `reason` says in words why it is
suggested and `facts` holds what the rule looked at, so an agent can check it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

ActionPriority = Literal["high", "normal", "low"]
PRIORITY_RANK: dict[ActionPriority, int] = {"high": 0, "normal": 1, "low": 2}


class NextActionPublic(BaseModel):
    """One suggestion for an agent, with the reason and the facts behind it."""

    kind: str = Field(description="What to do, e.g. follow_up_low_score, confirm_inferred_preference")
    title: str = Field(description="The action in a few words")
    reason: str = Field(description="Why it is suggested, in words")
    facts: dict[str, Any] = Field(default_factory=dict, description="What the rule looked at")
    priority: ActionPriority = "normal"
    service: str = Field(description="The service whose data suggests it")
    customer_id: str | None = Field(default=None, description="The traveller it concerns (on a company's list)")
    target: dict[str, str] | None = Field(
        default=None, description="What to open to act on it, e.g. {'kind': 'survey', 'id': 'sur_…'}"
    )


@dataclass(frozen=True)
class Action:
    """An action as a service's rules decide it (the domains build these; no I/O here)."""

    kind: str
    title: str
    reason: str
    priority: ActionPriority
    facts: dict[str, Any] = field(default_factory=dict)
    customer_id: str | None = None  # the traveller it concerns, where the subject is a company
    target: tuple[str, str] | None = None  # (kind, id) of what to open to act on it


def public(action: Action, *, service: str, customer_id: str | None = None) -> NextActionPublic:
    """The HTTP shape of an action; `customer_id` where the action does not name its traveller."""
    return NextActionPublic(
        kind=action.kind,
        title=action.title,
        reason=action.reason,
        facts=action.facts,
        priority=action.priority,
        service=service,
        customer_id=action.customer_id or customer_id,
        target=None if action.target is None else {"kind": action.target[0], "id": action.target[1]},
    )


class NextActionsPublic(BaseModel):
    subject: Literal["customer", "company"]
    subject_id: str
    items: list[NextActionPublic]


def ordered(actions: Sequence[NextActionPublic]) -> list[NextActionPublic]:
    """Most pressing first; the rules' own order within a priority."""
    return sorted(actions, key=lambda a: PRIORITY_RANK[a.priority])


__all__: Sequence[str] = ("Action", "ActionPriority", "NextActionPublic", "NextActionsPublic", "ordered", "public")
