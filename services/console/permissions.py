"""Who may do what, as the services decide it: the console offers an action only to a role that may take it.

The services check every call; this table only lets the page leave out what would be refused
(an agent is not shown "Accept: merge"). Every action that needs more than the agent role is
listed, with the roles its route demands (`require_roles` on the route) or, for the two rules a
route applies to part of its input, the roles the service checks there. A test compares the
route entries with the services' routes, so the table cannot drift from them.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.console.settings import ApiName
from services.kit.settings import Role


@dataclass(frozen=True)
class Action:
    """One action the console names, the roles that may take it and where the service decides."""

    name: str
    roles: tuple[Role, ...]
    service: ApiName
    method: str
    path: str
    # True: the route itself demands `roles`; False: the route admits agents and checks `roles`
    # only for part of its input (closing a case, sensitive preference keys).
    whole_route: bool = True


ACTIONS: tuple[Action, ...] = (
    Action("decide-review", ("supervisor",), "profile", "POST", "/v1/reviews/{review_id}/decision"),
    Action("merge", ("supervisor",), "profile", "POST", "/v1/merges"),
    Action("undo-merge", ("supervisor",), "profile", "POST", "/v1/merges/{merge_id}/undo"),
    Action("split", ("supervisor",), "profile", "POST", "/v1/customers/{customer_id}/split"),
    Action("ingest-bookings", ("booking-system",), "profile", "POST", "/v1/booking-events"),
    # Records in a source system's name (only as the systems the key is registered for).
    Action("write-source-records", ("booking-system",), "profile", "POST", "/v1/source-records"),
    Action("import-source-records", ("booking-system",), "profile", "POST", "/v1/source-records/import"),
    Action("read-scores", ("ops", "supervisor"), "feedback", "GET", "/v1/scores"),
    Action("view-dashboard", ("ops", "supervisor"), "value", "GET", "/v1/tier-movements"),
    Action("read-score-breakdown", ("ops", "supervisor"), "feedback", "GET", "/v1/scores/breakdown"),
    Action("read-sla-breaches", ("ops", "supervisor"), "feedback", "GET", "/v1/sla/breaches"),
    Action("assign-customer-manager", ("supervisor",), "value", "PUT", "/v1/customers/{customer_id}/account-manager"),
    Action(
        "remove-customer-manager", ("supervisor",), "value", "DELETE", "/v1/customers/{customer_id}/account-manager"
    ),
    Action("assign-company-manager", ("supervisor",), "value", "PUT", "/v1/companies/{company_id}/account-manager"),
    Action("remove-company-manager", ("supervisor",), "value", "DELETE", "/v1/companies/{company_id}/account-manager"),
    Action("load-rates", ("supervisor",), "value", "PUT", "/v1/rates"),
    Action("list-policies", ("admin",), "preferences", "GET", "/v1/policies"),
    Action("set-policy", ("admin",), "preferences", "PUT", "/v1/companies/{company_id}/policy"),
    Action("delete-policy", ("admin",), "preferences", "DELETE", "/v1/companies/{company_id}/policy"),
    Action("close-case", ("supervisor",), "feedback", "PATCH", "/v1/cases/{case_id}", whole_route=False),
    Action(
        "sensitive-preferences",
        ("supervisor",),
        "preferences",
        "PUT",
        "/v1/customers/{customer_id}/preferences",
        whole_route=False,
    ),
)


def roles_by_action() -> dict[str, list[str]]:
    """What the page needs: action name -> the roles that may take it."""
    return {a.name: list(a.roles) for a in ACTIONS}
