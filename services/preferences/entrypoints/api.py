"""Preferences HTTP API for agents and travellers' tools, and company policy for admins.

One router per area (`routers/`), HTTP shapes in `schemas.py`, dependencies in `deps.py`.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.kit.entry import runtime_lifespan
from services.kit.exporting import export_router
from services.kit.http import create_app
from services.kit.runtime import ServiceRuntime
from services.preferences.adapters import exporting
from services.preferences.entrypoints import answer_pages, queues
from services.preferences.entrypoints.routers import catalogue, confirmations, policies, preferences


def create_preferences_app(runtime: ServiceRuntime, workers: bool) -> FastAPI:
    app = create_app(
        title="Itinera preferences",
        description="Stated and inferred travel preferences, company travel policy, effective preferences.",
        settings=runtime.settings,
        lifespan=runtime_lifespan(runtime, workers=workers),
        readiness=lambda app: runtime.readiness,
    )
    for area in (preferences, confirmations, catalogue, policies):  # in the order of the document
        app.include_router(area.router)
    app.include_router(queues.router)
    app.state.answer_templates = answer_pages.templates()
    app.include_router(answer_pages.router)
    app.include_router(export_router("preferences", exporting.collect))
    return app
