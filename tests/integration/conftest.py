"""Fixtures shared by the profile service's integration tests (the database, as the service migrates it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.kit.db import apply_migrations, create_pool
from services.profile.bootstrap import profile_config as build_profile_config
from services.profile.domain.resolution import ProfileConfig
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
