"""Versions of the match model's parameters on the real database: learned, stored, activated, explained."""

from __future__ import annotations

import random
import string
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from services.kit.runtime import ServiceRuntime
from services.profile.adapters import parameters as store
from services.profile.bootstrap import build_definition
from services.profile.domain.model_params import DEFAULT_PARAMETERS, Level, ModelParameters, ParametersCache
from services.profile.entrypoints.api import create_profile_app
from services.profile.entrypoints.cli import _estimate
from services.profile.service_layer import bulk
from services.profile.service_layer.parameters import current_parameters, estimate_weights
from services.profile.service_layer.resolver import ProfileConfig, resolve_batch
from services.profile.settings import ProfileSettings
from tests.harness import TestEnv

pytestmark = pytest.mark.integration

AGENT = {"X-API-Key": "dev-agent-key"}
BOOKING_SYSTEM = {"X-API-Key": "dev-booking-system-key"}


def surname() -> str:
    return "".join(random.choices(string.ascii_lowercase, k=10)).capitalize()


@pytest.fixture
async def restore_default(profile_pool: asyncpg.Pool) -> AsyncIterator[None]:
    """The session's other tests decide with the built-in version: leave none active."""
    yield
    async with profile_pool.acquire() as conn:
        await store.deactivate_all(conn)


async def test_an_empty_store_keeps_the_built_in_version(profile_pool: asyncpg.Pool) -> None:
    async with profile_pool.acquire() as conn:
        done = await estimate_weights(conn, sample=1000, min_records=10**9)
        assert done.parameters is DEFAULT_PARAMETERS
        assert not done.stored
        assert await current_parameters(conn, ParametersCache()) is DEFAULT_PARAMETERS


async def _store_travellers(profile_pool: asyncpg.Pool, config: ProfileConfig, count: int) -> None:
    """`count` travellers, most with a second record from another desk (a typo here and there)."""
    rng = random.Random(4)
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        family, given = surname(), rng.choice(["Anna", "Li", "John", "Marta", "Pierre", "Eva"])
        dob = f"19{rng.randint(50, 99)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        email = f"{given}.{family}@example.com".lower()
        rows.append({"source_system": "crm", "source_id": f"p-{family}", "given_name": given,
                     "family_name": family, "date_of_birth": dob, "email": email})  # fmt: skip
        if i % 4:
            typo = family[:3] + family[4] + family[3] + family[5:] if i % 3 == 0 else family
            rows.append({"source_system": "web", "source_id": f"p-{family}", "given_name": given,
                         "family_name": typo, "date_of_birth": dob, "email": email if i % 2 else None})  # fmt: skip
    items = [bulk.row_to_incoming(r, config=config, default_source=None, now=now) for r in rows]
    async with profile_pool.acquire() as conn, conn.transaction():
        await resolve_batch(conn, items, config=config, now=now)


async def test_the_command_stores_a_learned_version_and_activates_it(
    env: TestEnv, profile_pool: asyncpg.Pool, profile_config: ProfileConfig, restore_default: None
) -> None:
    await _store_travellers(profile_pool, profile_config, 300)
    settings = env.settings(ProfileSettings, weights_min_records=100)
    async with profile_pool.acquire() as conn:
        await store.deactivate_all(conn)
    out = await _estimate(settings, sample=5000, seed=1, activate=True)
    assert out["stored"]
    async with profile_pool.acquire() as conn:
        listed = {v["version"]: v for v in await store.versions(conn)}
        assert out["version"] in listed
        stored = await store.load(conn, out["version"])
        assert stored is not None
        params = ModelParameters.from_json(stored)
        assert params.problems() == out["problems"]
        # Activated exactly when fit; then resolution decides with it.
        assert listed[out["version"]]["active"] == (not out["problems"])
        cache = ParametersCache()
        current = await current_parameters(conn, cache)
        assert current.version == (out["version"] if not out["problems"] else DEFAULT_PARAMETERS.version)


async def test_activating_a_version_switches_resolution_and_explain_names_it(
    env: TestEnv, profile_pool: asyncpg.Pool, restore_default: None
) -> None:
    version = f"learned-test-{surname().lower()}"
    # A fit version in which the same year and month of birth counts for a little (it weighs 0 built in):
    # two records agreeing on names, nationality and the month of birth now link.
    levels = {c: dict(lvs) for c, lvs in DEFAULT_PARAMETERS.levels.items()}
    levels["date_of_birth"]["same-year-month"] = Level("same-year-month", 0.01, 0.001)
    learned = ModelParameters(version=version, levels=levels)
    assert learned.problems() == []
    async with profile_pool.acquire() as conn:
        await store.store(
            conn,
            version=version,
            parameters=learned.to_json(),
            estimated_at=datetime.now(UTC),
            record_count=0,
            problems=learned.problems(),
        )
    async with env.running(build_definition(env.settings(ProfileSettings))) as runtime:
        app = create_profile_app(runtime, workers=False)
        app.state.runtime = runtime
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://profile") as client:
            await _pair_and_explain(client, runtime, expect_version="default-1", expect_rule="new:review")
            async with profile_pool.acquire() as conn:
                assert await store.activate(conn, version, now=datetime.now(UTC))
            await _pair_and_explain(client, runtime, expect_version=version, expect_rule="probabilistic")


async def _pair_and_explain(
    client: httpx.AsyncClient, runtime: ServiceRuntime, *, expect_version: str, expect_rule: str
) -> None:
    family = surname()
    for system, born in (("crm", "1980-05-03"), ("web", "1980-05-20")):
        r = await client.post(
            "/v1/source-records",
            json={
                "source_system": system,
                "source_id": f"{system}-{family}",
                "traveller": {
                    "given_name": "Ingrid",
                    "family_name": family,
                    "nationality": "AT",
                    "date_of_birth": born,
                },
            },
            headers=BOOKING_SYSTEM,
        )
        assert r.status_code in (200, 201), r.text
    assert r.json()["rule"] == expect_rule
    r = await client.get(f"/v1/source-records/web/web-{family}/explain", headers=AGENT)
    assert r.status_code == 200, r.text
    explained = r.json()
    assert explained["parameters_version"] == expect_version
    assert explained["evidence"]["parameters_version"] == expect_version
    assert all("weight" in e for e in explained["evidence"]["evidence"])
