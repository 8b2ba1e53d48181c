"""Next best actions from customer value: re-engage a traveller or a company that is drifting away.

The rule reads the churn assessment the value service already explains (stage, risk, the
customer's own cadence) and says who should act (the account manager, when there is one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from services.kit.actions import Action

DRIFTING = ("at_risk", "lapsed")


def _manager(snapshot: Mapping[str, Any]) -> str | None:
    m = snapshot.get("account_manager")
    if isinstance(m, Mapping) and m.get("id"):
        return f"{m['id']}" if m.get("kind") == "agent" else f"team {m['id']}"
    return None


def re_engage(snapshot: Mapping[str, Any], *, subject: Literal["customer", "company"]) -> list[Action]:
    """Re-engage an at-risk or lapsed account; gold and silver accounts, and lapsed ones, first."""
    churn = snapshot.get("churn") or {}
    stage = churn.get("stage")
    if stage not in DRIFTING:
        return []
    tier = str(snapshot.get("tier_label") or snapshot.get("tier") or "")
    valuable = snapshot.get("tier") in ("gold", "silver")
    who = "traveller" if subject == "customer" else "account"
    manager = _manager(snapshot)
    reason = f"{tier} {who} {'has lapsed' if stage == 'lapsed' else 'is at risk'}: {churn.get('reason', '')}".strip()
    reason += f". Account manager: {manager}" if manager else ". No account manager is assigned"
    return [
        Action(
            kind="re_engage",
            title=f"Re-engage this {'lapsed' if stage == 'lapsed' else 'at-risk'} {who}",
            reason=reason,
            priority="high" if valuable or stage == "lapsed" else "normal",
            facts={
                "tier": snapshot.get("tier"),
                "stage": stage,
                "risk": churn.get("risk"),
                "usual_interval_days": churn.get("usual_interval_days"),
                "days_since_last_trip": churn.get("days_since_last_trip"),
                "account_manager": manager,
            },
        )
    ]
