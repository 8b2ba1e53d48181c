"""Fixtures shared by the profile service's integration tests: the database, as the service migrates it,
and the running service with an HTTP client on its API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from services.kit.db import apply_migrations, create_pool
from services.kit.runtime import ServiceRuntime
from services.profile.bootstrap import build_definition
from services.profile.bootstrap import profile_config as build_profile_config
from services.profile.domain.resolution import ProfileConfig
from services.profile.entrypoints.api import create_profile_app
from services.profile.settings import ProfileSettings
from tests.harness import TestEnv


@pytest.fixture(scope="module")
async def profile_pool(env: TestEnv) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the profile schema of the test environment's database, migrated."""
    settings = env.settings(ProfileSettings)
    p = await create_pool(settings)
    await apply_migrations(
        p, schema=settings.service_name, packages=["services.kit.migrations", "services.profile.migrations"]
    )
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture(scope="module")
def profile_config(env: TestEnv) -> ProfileConfig:
    return build_profile_config(env.settings(ProfileSettings))


@pytest.fixture(scope="module")
async def service(env: TestEnv) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    """The profile service running (no workers), and a client on its API (a module's own `service`
    fixture, as the notifications tests have, takes its place there)."""
    async with env.running(build_definition(env.settings(ProfileSettings))) as runtime:
        app = create_profile_app(runtime, workers=False)
        app.state.runtime = runtime  # ASGITransport runs no lifespan; the runtime is already started
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://profile") as client:
            yield runtime, client
