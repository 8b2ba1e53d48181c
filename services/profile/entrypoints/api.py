"""Profile HTTP API for agents and for source systems that cannot speak Kafka.

Agents read (search, customer with provenance, source records, explain, history,
reviews, quality tasks) and correct fields; supervisors merge, unmerge, split and
decide reviews. Every read of personal data and every change writes an audit row.
One router per area (`routers/`), HTTP shapes in `schemas.py`, dependencies in `deps.py`.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.kit.entry import runtime_lifespan
from services.kit.exporting import export_router
from services.kit.http import create_app
from services.kit.runtime import ServiceRuntime
from services.profile.adapters import exporting
from services.profile.bootstrap import profile_config
from services.profile.entrypoints import queues
from services.profile.entrypoints.routers import companies, customers, ingest, matching, merges, reviews
from services.profile.settings import ProfileSettings


def create_profile_app(runtime: ServiceRuntime, workers: bool) -> FastAPI:
    app = create_app(
        title="Itinera profile",
        description="One traveller from many source systems: resolution, golden record, provenance, merges.",
        settings=runtime.settings,
        lifespan=runtime_lifespan(runtime, workers=workers),
        readiness=lambda app: runtime.readiness,
    )
    settings = runtime.settings
    config = runtime.definition.extras.get("config")
    if config is None:
        config = profile_config(settings if isinstance(settings, ProfileSettings) else ProfileSettings())
    app.state.profile_config = config
    for area in (ingest, customers, matching, reviews, merges, companies):  # in the order of the document
        app.include_router(area.router)
    app.include_router(queues.router)
    app.include_router(export_router("profile", exporting.collect, resolve=exporting.traveller_ids))
    return app
