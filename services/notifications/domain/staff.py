"""Alerts to staff: an escalated case told to the agent (or team) who owns it, by email.

Travellers' messages follow consent, quiet hours and the traveller's channel; an alert to staff
follows none of them: it goes to the assignee's work address at once. Which address belongs to
which agent or team is the operator's staff directory (`NOTIFICATIONS_STAFF_DIRECTORY`);
an assignee missing from it, or a case with none, goes to the supervisors' address
(`NOTIFICATIONS_STAFF_FALLBACK_EMAIL`), so that no escalation goes unheard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

# How each SLA target reads in an alert.
TARGET_NAMES = {"first_response": "first response", "resolution": "resolution"}


@dataclass(frozen=True)
class Escalation:
    """What an alert says about an escalated case (the facts of `CaseEscalatedV1`)."""

    case_id: str
    customer_id: str
    kind: str
    priority: str
    assignee: str | None
    missed_targets: Sequence[str]
    first_response_due: datetime
    resolution_due: datetime
    escalated_at: datetime
    booking_id: str | None = None


@dataclass(frozen=True)
class StaffMessage:
    recipient: str  # the assignee (an agent's name, or `team:<name>`), or `supervisors`
    email: str
    subject: str
    text: str


def address_for(assignee: str | None, directory: Mapping[str, str], fallback: str | None) -> tuple[str, str] | None:
    """(recipient, address) of whoever must hear of the case; None when nobody has an address."""
    if assignee is not None and assignee in directory:
        return assignee, directory[assignee]
    if fallback:
        return "supervisors", fallback
    return None


def escalation_message(
    e: Escalation,
    *,
    recipient: str,
    email: str,
    customer_name: str | None,
    console_url: str,
) -> StaffMessage:
    """The alert's subject and text: what was missed, since when, and one link to act on it."""
    missed = ", ".join(TARGET_NAMES.get(t, t) for t in e.missed_targets) or "an SLA target"
    who = customer_name or e.customer_id
    subject = f"Escalated {e.priority} {e.kind}: {missed} overdue ({who})"
    owner = (
        "You are its assignee."
        if recipient == e.assignee
        else f"Its assignee ({e.assignee}) has no address in the staff directory."
        if e.assignee
        else "It has no assignee and the traveller no account manager."
    )
    lines = [
        f"Case {e.case_id} ({e.kind}, priority {e.priority}) for {who} was escalated at "
        f"{e.escalated_at.isoformat(timespec='minutes')}: {missed} overdue.",
        owner,
        "",
        f"First response due: {e.first_response_due.isoformat(timespec='minutes')}",
        f"Resolution due:     {e.resolution_due.isoformat(timespec='minutes')}",
    ]
    if e.booking_id:
        lines.append(f"Booking:            {e.booking_id}")
    lines += ["", f"Open the traveller's cases: {console_url.rstrip('/')}/#/customers/{e.customer_id}"]
    return StaffMessage(recipient=recipient, email=email, subject=subject, text="\n".join(lines) + "\n")
