"""Next best actions from feedback's own data: follow up a low score, answer a case that is late.

Rules are small and explainable: each action says why, and carries the facts it looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.kit.actions import Action


@dataclass(frozen=True)
class LowScore:
    survey_id: str
    customer_id: str
    answered_at: datetime
    csat: int | None
    nps: int | None
    comment: str | None
    case_id: str | None
    customer_name: str | None = None


@dataclass(frozen=True)
class LateCase:
    case_id: str
    customer_id: str
    subject: str
    overdue: tuple[str, ...]
    escalated: bool
    assignee: str | None


def _scores(s: LowScore) -> str:
    parts = []
    if s.csat is not None:
        parts.append(f"satisfaction {s.csat}/5")
    if s.nps is not None:
        parts.append(f"recommendation {s.nps}/10")
    return " and ".join(parts)


def follow_up_low_score(s: LowScore) -> Action:
    """A low score nobody followed up: call or write to the traveller."""
    very_low = s.csat == 1 or (s.nps is not None and s.nps <= 2)
    why = f"answered a survey on {s.answered_at:%d %b %Y} with {_scores(s)}"
    why += ", with a comment" if s.comment else ", without a comment"
    why += "; nobody has followed it up yet" if s.case_id is None else "; its case has had no first response yet"
    who = s.customer_name or "the traveller"
    return Action(
        kind="follow_up_low_score",
        title=f"Follow up {who}'s low score",
        reason=why[0].upper() + why[1:] if s.customer_name is None else f"{s.customer_name} {why}",
        priority="high" if very_low else "normal",
        facts={
            "survey_id": s.survey_id,
            "answered_at": s.answered_at.isoformat(),
            "csat": s.csat,
            "nps": s.nps,
            "comment": s.comment,
            "case_id": s.case_id,
        },
        customer_id=s.customer_id,
        target=("survey", s.survey_id),
    )


def answer_late_case(c: LateCase) -> Action:
    """A case past an SLA deadline, or escalated: work it first."""
    late = " and ".join(t.replace("_", " ") for t in c.overdue)
    reason = f"The case “{c.subject}” is past its {late} deadline" if late else f"The case “{c.subject}” was escalated"
    reason += f" (assigned to {c.assignee})" if c.assignee else " and has no assignee"
    return Action(
        kind="answer_late_case",
        title="Answer the late case" if late else "Work the escalated case",
        reason=reason,
        priority="high",
        facts={"case_id": c.case_id, "overdue": list(c.overdue), "escalated": c.escalated, "assignee": c.assignee},
        customer_id=c.customer_id,
        target=("case", c.case_id),
    )


def customer_actions(low: list[LowScore], late: list[LateCase]) -> list[Action]:
    """A traveller's actions: late cases first, then low scores to follow up (a low score whose case
    is already on the late list is not suggested twice)."""
    late_ids = {c.case_id for c in late}
    return [answer_late_case(c) for c in late] + [
        follow_up_low_score(s) for s in low if s.case_id is None or s.case_id not in late_ids
    ]


def company_actions(company_name: str | None, low: list[LowScore], low_total: int, late_total: int) -> list[Action]:
    """A company's actions: its travellers' low scores (each one) and a summary of late cases."""
    out = [follow_up_low_score(s) for s in low]
    if low_total > len(low):
        out.append(
            Action(
                kind="review_low_scores",
                title="Review the company's other low scores",
                reason=f"{low_total - len(low)} more low scores of {company_name or 'this company'}'s travellers"
                " wait for a follow-up (Queues, low scores, filtered by this company)",
                priority="normal",
                facts={"low_scores": low_total},
            )
        )
    if late_total:
        out.append(
            Action(
                kind="answer_late_cases",
                title="Answer the company's late cases",
                reason=f"{late_total} active cases of {company_name or 'this company'}'s travellers are past an SLA"
                " deadline",
                priority="high",
                facts={"overdue_cases": late_total},
            )
        )
    return out
