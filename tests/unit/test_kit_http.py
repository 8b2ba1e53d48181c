"""The HTTP shell: authentication, roles, problem details, body limits, health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field, SecretStr

from services.kit.auth import KeyRing, Principal, require_roles
from services.kit.http import ProblemError, create_app
from services.kit.keyring import new_master_key
from services.kit.settings import ApiKey, ServiceSettings


class Thing(BaseModel):
    name: str = Field(min_length=1)
    stars: int = Field(ge=1, le=5)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield


def _app() -> FastAPI:
    settings = ServiceSettings(service_name="test", environment="test", max_body_bytes=2048)
    app = create_app(title="t", settings=settings, lifespan=_lifespan)

    @app.post("/things")
    async def make(thing: Thing, who: Annotated[Principal, Depends(require_roles("agent"))]) -> dict[str, str]:
        return {"by": who.name, "name": thing.name}

    @app.get("/things/{name}")
    async def get(name: str, who: Annotated[Principal, Depends(require_roles("agent"))]) -> dict[str, str]:
        raise ProblemError(404, f"no thing {name!r}", type_="/problems/unknown-thing")

    @app.get("/boom")
    async def boom(who: Annotated[Principal, Depends(require_roles("ops"))]) -> None:
        raise RuntimeError("kaput")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def test_health_is_open(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200


async def test_missing_key_is_401_problem(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", json={"name": "x", "stars": 3})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Unauthorized"


async def test_unknown_key_is_401(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", json={"name": "x", "stars": 3}, headers={"X-API-Key": "nope"})
    assert r.status_code == 401


async def test_wrong_role_is_403(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", json={"name": "x", "stars": 3}, headers={"X-API-Key": "dev-booking-system-key"})
    assert r.status_code == 403
    assert "booking-system" in r.json()["detail"]


async def test_supervisor_may_act_as_agent_and_bearer_works(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/things", json={"name": "x", "stars": 3}, headers={"Authorization": "Bearer dev-supervisor-key"}
    )
    assert r.status_code == 200
    assert r.json()["by"] == "dev-supervisor"


async def test_invalid_body_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", json={"name": "x", "stars": 9}, headers={"X-API-Key": "dev-agent-key"})
    assert r.status_code == 422
    body = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert body["errors"][0]["field"] == "stars"
    assert "stars" in body["detail"]


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/things", content=b'{"name": "' + b"x" * 5000 + b'"}', headers={"X-API-Key": "dev-agent-key"}
    )
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"


async def test_domain_problem_and_unknown_route(client: httpx.AsyncClient) -> None:
    r = await client.get("/things/ghost", headers={"X-API-Key": "dev-agent-key"})
    assert r.status_code == 404
    assert r.json()["type"] == "/problems/unknown-thing"
    assert (await client.get("/nowhere")).headers["content-type"] == "application/problem+json"


async def test_crash_is_500_problem_with_correlation_id(client: httpx.AsyncClient) -> None:
    r = await client.get("/boom", headers={"X-API-Key": "dev-ops-key", "X-Correlation-ID": "abc-123"})
    assert r.status_code == 500
    assert r.json()["correlation_id"] == "abc-123"
    assert "kaput" not in r.text


async def test_metrics_need_ops_role(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics", headers={"X-API-Key": "dev-agent-key"})).status_code == 403
    r = await client.get("/metrics", headers={"X-API-Key": "dev-ops-key"})
    assert r.status_code == 200
    assert "itinera_http_requests_total" in r.text


def test_production_refuses_development_secrets() -> None:
    with pytest.raises(ValueError, match="development API keys"):
        ServiceSettings(service_name="x", environment="production", pg_password=SecretStr("strong"))
    keys = [ApiKey(name="ops-bot", role="ops", key=SecretStr("k" * 40))]
    with pytest.raises(ValueError, match="development erasure key"):
        ServiceSettings(service_name="x", environment="production", pg_password=SecretStr("strong"), api_keys=keys)
    ok = ServiceSettings(
        service_name="x",
        environment="production",
        pg_password=SecretStr("strong"),
        api_keys=keys,
        keyring_keys=[SecretStr(new_master_key())],
        erasure_key=SecretStr("e" * 40),
    )
    assert ok.pg_user == "itinera_x"


def test_service_prefix_wins_over_shared_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic_settings import SettingsConfigDict

    class DemoSettings(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix="ITINERA_DEMO_", extra="ignore")
        service_name: str = "demo"

    monkeypatch.setenv("ITINERA_KAFKA_BOOTSTRAP_SERVERS", "shared:9092")
    assert DemoSettings().kafka_bootstrap_servers == "shared:9092"
    monkeypatch.setenv("ITINERA_DEMO_KAFKA_BOOTSTRAP_SERVERS", "own:9092")
    assert DemoSettings().kafka_bootstrap_servers == "own:9092"


def test_keyring_roles() -> None:
    ring = KeyRing([ApiKey(name="a", role="admin", key=SecretStr("k1"))])
    admin = ring.lookup("k1")
    assert admin is not None
    assert admin.can_act_as("supervisor")
    assert ring.lookup("k2") is None


async def test_whoami_names_the_caller_and_role(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/whoami", headers={"X-API-Key": "dev-supervisor-key"})
    assert r.status_code == 200
    assert r.json() == {"name": "dev-supervisor", "role": "supervisor", "acts_as": ["agent", "supervisor"]}
    assert (await client.get("/v1/whoami")).status_code == 401
