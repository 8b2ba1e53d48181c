"""Next best actions from the profile: complete missing data, settle conflicts, decide duplicates.

Each action says why and carries the facts the rule looked at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.kit.actions import Action
from services.profile.domain.quality import COMPLETENESS_FIELDS

# What an agent can reach the traveller by or needs to book for them: missing ones come first.
CONTACT_FIRST = ("email", "phone")
LABELS = {
    "given_name": "given name",
    "family_name": "family name",
    "email": "email address",
    "phone": "phone number",
    "date_of_birth": "date of birth",
    "nationality": "nationality",
    "company_name": "company",
}


def missing_fields(golden: Mapping[str, Any]) -> list[str]:
    """The completeness fields the golden record lacks, contact fields first."""
    missing = [f for f in COMPLETENESS_FIELDS if golden.get(f) in (None, "", {})]
    return sorted(missing, key=lambda f: (f not in CONTACT_FIRST, COMPLETENESS_FIELDS.index(f)))


def customer_actions(
    golden: Mapping[str, Any],
    completeness: float | None,
    tasks: Sequence[tuple[str, Mapping[str, Any]]],
    reviews: Sequence[tuple[str, str, float]],
    customer_id: str,
) -> list[Action]:
    """Actions for one traveller from their golden record, open quality tasks and open reviews."""
    out: list[Action] = []
    missing = missing_fields(golden)
    if missing:
        names = ", ".join(LABELS.get(f, f) for f in missing)
        contact = [f for f in missing if f in CONTACT_FIRST]
        out.append(
            Action(
                kind="complete_profile",
                title="Complete the missing profile data",
                reason=f"The profile has no {names}"
                + (" — the traveller cannot be reached by it" if contact else "")
                + (f" (completeness {completeness:.0%})" if completeness is not None else ""),
                priority="high" if "email" in contact else "normal",
                facts={"missing": missing, "completeness": completeness},
            )
        )
    for kind, detail in tasks:
        if kind == "email-undeliverable":
            out.append(
                Action(
                    "fix_email",
                    "Ask for a working email address",
                    "Mail to the traveller's address bounced; no email reaches them until it is fixed",
                    "high",
                    {"task": kind},
                )
            )
        elif kind.startswith("conflict:"):
            f = str(detail.get("field", kind.split(":", 1)[1]))
            values = detail.get("values") or []
            out.append(
                Action(
                    "settle_conflict",
                    f"Settle the {LABELS.get(f, f)}",
                    f"Source systems disagree on the {LABELS.get(f, f)}: " + ", ".join(str(v) for v in values),
                    "normal",
                    {"task": kind, "values": values},
                )
            )
        elif kind.startswith("stale:"):
            f = str(detail.get("field", kind.split(":", 1)[1]))
            out.append(
                Action(
                    "confirm_stale",
                    f"Confirm the {LABELS.get(f, f)}",
                    f"No source has stated the {LABELS.get(f, f)} for over two years",
                    "low",
                    {"task": kind},
                )
            )
        elif kind == "invalid-values":
            out.append(
                Action(
                    "fix_invalid",
                    "Correct invalid values",
                    f"{detail.get('count', 'Some')} values from source systems could not be used",
                    "low",
                    {"task": kind, "count": detail.get("count")},
                )
            )
    for review_id, other, score in reviews:
        out.append(
            Action(
                kind="decide_duplicate",
                title="Decide a suspected duplicate",
                reason=f"Another traveller ({other}) may be the same person (match score {score:.2f})",
                priority="normal",
                facts={
                    "review_id": review_id,
                    "other_customer_id": other,
                    "score": round(score, 3),
                    "customer_id": customer_id,
                },
                target=("review", review_id),
            )
        )
    return out


def company_actions(name: str, travellers: int, with_tasks: int, reviews: int, without_email: int) -> list[Action]:
    """Actions for a company from its travellers' profiles."""
    out: list[Action] = []
    if without_email:
        out.append(
            Action(
                "complete_profiles",
                "Collect missing email addresses",
                f"{without_email} of {name}'s {travellers} travellers have no email address: they get no"
                " confirmations, surveys or questions",
                "high",
                {"travellers": travellers, "without_email": without_email},
            )
        )
    if with_tasks:
        out.append(
            Action(
                "work_quality_tasks",
                "Work the company's data-quality tasks",
                f"{with_tasks} of {name}'s travellers have open data-quality tasks (Queues, data quality,"
                " filtered by this company)",
                "normal",
                {"travellers_with_tasks": with_tasks},
            )
        )
    if reviews:
        out.append(
            Action(
                "decide_duplicates",
                "Decide suspected duplicates",
                f"{reviews} suspected duplicates involve {name}'s travellers",
                "normal",
                {"open_reviews": reviews},
            )
        )
    return out
