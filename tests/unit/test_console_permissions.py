"""The console's table of who may do what says what the services' routes demand."""

from __future__ import annotations

import inspect
from types import ModuleType

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from services.console.permissions import ACTIONS, roles_by_action
from services.feedback.domain.cases import SUPERVISOR_ONLY, CaseStatus
from services.feedback.entrypoints import api as feedback_api
from services.feedback.entrypoints import queues as feedback_queues
from services.notifications.entrypoints import api as notifications_api
from services.preferences.entrypoints import queues as preferences_queues
from services.preferences.entrypoints.routers import catalogue, confirmations, policies, preferences
from services.profile.entrypoints import queues as profile_queues
from services.profile.entrypoints.routers import companies, customers, ingest, matching, merges, reviews
from services.value.entrypoints import api as value_api
from services.value.entrypoints import queues as value_queues

# Each service's route modules (the work-queue routes live in modules of their own; profile and preferences
# have one per area).
APIS: list[tuple[str, ModuleType]] = [
    *[("profile", area) for area in (ingest, customers, matching, reviews, merges, companies)],
    ("profile", profile_queues),
    *[("preferences", area) for area in (preferences, confirmations, catalogue, policies)],
    ("preferences", preferences_queues),
    ("feedback", feedback_api),
    ("feedback", feedback_queues),
    ("notifications", notifications_api),
    ("value", value_api),
    ("value", value_queues),
]


def _roles(dependant: Dependant) -> set[tuple[str, ...]]:
    """The role tuples of every `require_roles` check among a route's dependencies."""
    found: set[tuple[str, ...]] = set()
    for dep in dependant.dependencies:
        call = dep.call
        if call is not None and getattr(call, "__qualname__", "").startswith("require_roles."):
            found.add(tuple(inspect.getclosurevars(call).nonlocals["roles"]))
        found |= _roles(dep)
    return found


def _routes() -> dict[tuple[str, str, str], set[tuple[str, ...]]]:
    out: dict[tuple[str, str, str], set[tuple[str, ...]]] = {}
    for service, module in APIS:
        for route in module.router.routes:
            if isinstance(route, APIRoute):
                for method in route.methods:
                    out[(service, method, route.path)] = _roles(route.dependant)
    return out


def test_every_route_beyond_the_agent_role_is_in_the_table_with_its_roles() -> None:
    routes = _routes()
    # A route is open to agents when every check on it admits the agent role.
    beyond_agent = {key: roles for key, roles in routes.items() if any("agent" not in r for r in roles)}
    listed = {(a.service, a.method, a.path): {a.roles} for a in ACTIONS if a.whole_route}
    assert listed == beyond_agent


def test_the_partial_rules_name_routes_open_to_agents() -> None:
    routes = _routes()
    for action in (a for a in ACTIONS if not a.whole_route):
        assert routes[(action.service, action.method, action.path)] == {("agent",)}, action.name


def test_closing_is_the_only_case_status_reserved_to_supervisors() -> None:
    assert frozenset({CaseStatus.CLOSED}) == SUPERVISOR_ONLY
    assert roles_by_action()["close-case"] == ["supervisor"]


def test_action_names_are_unique() -> None:
    assert len({a.name for a in ACTIONS}) == len(ACTIONS)
