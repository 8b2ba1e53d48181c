"""The HTTP shell's privacy and abuse guards: audit of reads and refusals, rate limits, brakes on
wrong keys, input hygiene, response headers and the API documentation in production."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, SecretStr

from services.feedback.settings import FeedbackSettings
from services.kit.auditing import NOT_PERSONAL, AuditTrail, PersonalRead
from services.kit.auth import AbuseLimits, Principal, require_roles
from services.kit.http import create_app
from services.kit.keyring import new_master_key
from services.kit.limits import RateLimit, TokenBuckets
from services.kit.sealing import Sealer, SealError, new_key
from services.kit.settings import ApiKey, ServiceSettings

AGENT = {"X-API-Key": "dev-agent-key"}
OPS = {"X-API-Key": "dev-ops-key"}


Agent = Annotated[Principal, Depends(require_roles("agent"))]
Supervisor = Annotated[Principal, Depends(require_roles("supervisor"))]
CustomerRead = Annotated[AuditTrail, Depends(PersonalRead("customer.read"))]


class Note(BaseModel):
    text: str


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield


def _app(rows: list[dict[str, Any]], **overrides: Any) -> FastAPI:
    values: dict[str, Any] = {"service_name": "test", "environment": "test", "max_body_bytes": 2048}
    values.update(overrides)
    settings = ServiceSettings(**values)
    app = create_app(title="t", settings=settings, lifespan=_lifespan)
    # Time stands still here: buckets refill only when a test moves the clock.
    app.state.clock = [0.0]
    app.state.limits = AbuseLimits.from_settings(settings, clock=lambda: app.state.clock[0])

    async def writer(request: Request, row: dict[str, Any]) -> None:
        if row.get("subject_id") == "unwritable":
            raise ConnectionError("database gone")
        rows.append(row)

    app.state.audit_writer = writer

    @app.get("/v1/customers/{customer_id}")
    async def get_customer(customer_id: str, principal: Agent, trail: CustomerRead) -> dict[str, str]:
        trail.subject = customer_id.upper()  # the id the route resolved
        trail.detail["fields"] = 2
        return {"customer_id": customer_id}

    @app.get("/v1/customers/{customer_id}/secrets")
    async def get_secrets(customer_id: str, principal: Supervisor, trail: CustomerRead) -> dict[str, str]:
        return {"secret": "x"}

    @app.get("/v1/catalogue", dependencies=[NOT_PERSONAL])
    async def catalogue(principal: Agent) -> list[str]:
        return ["a"]

    @app.post("/v1/notes")
    async def post_note(note: Note, principal: Agent) -> dict[str, int]:
        return {"length": len(note.text)}

    return app


@pytest.fixture
def rows() -> list[dict[str, Any]]:
    return []


@asynccontextmanager
async def _client(app: FastAPI, address: str = "10.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


# --- audit -------------------------------------------------------------------------------------


async def test_a_personal_read_is_audited_by_the_shell_with_the_resolved_subject(rows: list[dict[str, Any]]) -> None:
    async with _client(_app(rows)) as client:
        r = await client.get("/v1/customers/cus_1", headers=AGENT)
    assert r.status_code == 200
    assert rows == [
        {"principal": "dev-agent", "role": "agent", "action": "customer.read", "subject_id": "CUS_1",
         "detail": {"fields": 2}}
    ]  # fmt: skip


async def test_a_refusal_is_audited_with_route_and_subject(rows: list[dict[str, Any]]) -> None:
    async with _client(_app(rows)) as client:
        r = await client.get("/v1/customers/cus_2/secrets", headers=AGENT)
    assert r.status_code == 403
    assert rows == [
        {"principal": "dev-agent", "role": "agent", "action": "access.denied", "subject_id": "cus_2",
         "detail": {"method": "GET", "route": "/v1/customers/{customer_id}/secrets", "action": "customer.read"}}
    ]  # fmt: skip


async def test_unaudited_reads_are_not_answered(rows: list[dict[str, Any]]) -> None:
    async with _client(_app(rows)) as client:
        r = await client.get("/v1/customers/unwritable", headers=AGENT)
        assert r.status_code == 200  # the route named another subject: written
        app = _app(rows)

        async def failing(request: Request, row: dict[str, Any]) -> None:
            raise ConnectionError("database gone")

        app.state.audit_writer = failing
    async with _client(app) as client:
        r = await client.get("/v1/customers/cus_3", headers=AGENT)
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert "cus_3" not in r.text
        # A refusal stays a refusal even when its audit row cannot be written.
        assert (await client.get("/v1/customers/cus_3/secrets", headers=AGENT)).status_code == 403


async def test_routes_without_personal_data_write_no_row(rows: list[dict[str, Any]]) -> None:
    async with _client(_app(rows)) as client:
        assert (await client.get("/v1/catalogue", headers=AGENT)).status_code == 200
        assert (await client.get("/v1/whoami", headers=AGENT)).status_code == 200
    assert rows == []


# --- abuse limits ------------------------------------------------------------------------------


async def test_a_key_over_its_rate_gets_429_with_retry_after(rows: list[dict[str, Any]]) -> None:
    app = _app(rows, rate_limits={"agent": RateLimit(per_second=0.5, burst=3)})
    async with _client(app) as client:
        codes = [(await client.get("/v1/catalogue", headers=AGENT)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = await client.get("/v1/catalogue", headers=AGENT)
        assert r.status_code == 429
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["retry-after"] == "2"  # one token every two seconds
        app.state.clock[0] += 2.0
        assert (await client.get("/v1/catalogue", headers=AGENT)).status_code == 200
        # Another key has its own bucket.
        assert (await client.get("/v1/catalogue", headers={"X-API-Key": "dev-supervisor-key"})).status_code == 200


async def test_wrong_keys_from_one_address_are_refused_after_a_few(rows: list[dict[str, Any]]) -> None:
    app = _app(rows)
    async with _client(app, "10.9.9.9") as client:
        codes = [
            (await client.get("/v1/catalogue", headers={"X-API-Key": f"guess-{i}"})).status_code for i in range(300)
        ]
        assert codes[:10] == [401] * 10
        assert set(codes[10:]) == {429}
        refused = await client.get("/v1/catalogue", headers=AGENT)  # even the right key: guessing learns nothing
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "5"
        app.state.clock[0] += 5.0  # one more try earned
        assert (await client.get("/v1/catalogue", headers=AGENT)).status_code == 200
    async with _client(app, "10.9.9.10") as client:
        assert (await client.get("/v1/catalogue", headers=AGENT)).status_code == 200


async def test_limits_can_be_switched_off(rows: list[dict[str, Any]]) -> None:
    app = _app(rows, rate_limiting=False, rate_limits={"agent": RateLimit(per_second=0.5, burst=1)})
    async with _client(app) as client:
        codes = {(await client.get("/v1/catalogue", headers=AGENT)).status_code for _ in range(5)}
        codes |= {(await client.get("/v1/catalogue", headers={"X-API-Key": f"g{i}"})).status_code for i in range(20)}
    assert codes == {200, 401}


def test_token_buckets_refill_and_forget_the_least_recently_used() -> None:
    now = [0.0]
    buckets = TokenBuckets(clock=lambda: now[0], max_names=2)
    limit = RateLimit(per_second=2, burst=2)
    assert [buckets.take("a", limit) for _ in range(3)] == [0.0, 0.0, 0.5]
    now[0] = 0.5
    assert buckets.take("a", limit) == 0.0
    buckets.take("b", limit)
    buckets.take("c", limit)  # "a" is forgotten: a new bucket is a full one
    assert buckets.wait("a", limit) == 0.0


# --- input hygiene -----------------------------------------------------------------------------


async def test_nul_in_path_or_query_is_422_problem(rows: list[dict[str, Any]]) -> None:
    async with _client(_app(rows)) as client:
        r = await client.get("/v1/customers/cus%00x", headers=AGENT)
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["errors"] == [{"field": "path", "message": "must not contain NUL characters"}]
        r = await client.get("/v1/catalogue", params={"q": "a\x00b"}, headers=AGENT)
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "q"
    assert rows == []  # refused before any route: nothing was read


async def test_an_oversized_chunked_body_is_413(rows: list[dict[str, Any]]) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    async with _client(_app(rows)) as client:
        r = await client.post("/v1/notes", content=chunks(), headers={**AGENT, "Content-Type": "application/json"})
        assert "content-length" not in r.request.headers
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        small = await client.post("/v1/notes", json={"text": "hello"}, headers=AGENT)
        assert small.status_code == 200


# --- response headers and docs -----------------------------------------------------------------


async def test_every_response_is_no_store_and_nosniff(rows: list[dict[str, Any]]) -> None:
    async with _client(_app(rows)) as client:
        responses = [
            await client.get("/v1/customers/cus_1", headers=AGENT),
            await client.get("/v1/customers/cus_1"),
            await client.get("/nowhere"),
            await client.get("/v1/customers/%00", headers=AGENT),
            await client.post("/v1/notes", content=b"x" * 5000, headers=AGENT),
            await client.get("/healthz"),
            await client.get("/metrics", headers=OPS),
        ]
    for r in responses:
        assert r.headers["cache-control"] == "no-store", r.request.url
        assert r.headers["x-content-type-options"] == "nosniff", r.request.url


@pytest.fixture
def production_env() -> dict[str, Any]:
    return {
        "environment": "production",
        "pg_password": SecretStr("strong"),
        "api_keys": [ApiKey(name="ops-bot", role="ops", key=SecretStr("k" * 40))],
        "keyring_keys": [SecretStr(new_master_key())],
        "erasure_key": SecretStr("e" * 40),
    }


async def test_production_serves_no_docs_and_the_openapi_document_only_behind_a_key(
    rows: list[dict[str, Any]], production_env: dict[str, Any]
) -> None:
    async with _client(_app(rows, **production_env)) as client:
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/redoc")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 401
        r = await client.get("/openapi.json", headers={"X-API-Key": "k" * 40})
        assert r.status_code == 200
        assert "/v1/catalogue" in r.json()["paths"]
    async with _client(_app(rows, **production_env, api_docs="off")) as client:
        assert (await client.get("/openapi.json", headers={"X-API-Key": "k" * 40})).status_code == 404
    with pytest.raises(ValueError, match="api_docs=public"):
        ServiceSettings(service_name="x", api_docs="public", **production_env)
    async with _client(_app(rows)) as client:  # development: open
        assert (await client.get("/docs")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200


# --- sealed link credentials -------------------------------------------------------------------


def test_a_sealed_value_opens_only_for_its_purpose_and_subject() -> None:
    sealer = Sealer([SecretStr(new_key())])
    sealed = sealer.seal("https://feedback.example/surveys/tok", purpose="survey-link", subject="srv_1")
    assert "tok" not in sealed
    assert sealer.open(sealed, purpose="survey-link", subject="srv_1") == "https://feedback.example/surveys/tok"
    with pytest.raises(SealError):
        sealer.open(sealed, purpose="survey-link", subject="srv_2")
    with pytest.raises(SealError):
        sealer.open(sealed, purpose="answer-token", subject="srv_1")
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SealError):
        sealer.open(tampered, purpose="survey-link", subject="srv_1")
    assert sealer.seal("x", purpose="p", subject="s") != sealer.seal("x", purpose="p", subject="s")


def test_keys_rotate_and_unknown_or_malformed_keys_are_refused() -> None:
    old, new = SecretStr(new_key()), SecretStr(new_key())
    sealed_before = Sealer([old]).seal("t", purpose="p", subject="s")
    rotated = Sealer([new, old])
    assert rotated.open(sealed_before, purpose="p", subject="s") == "t"
    with pytest.raises(SealError, match="not among the link keys"):
        Sealer([new]).open(sealed_before, purpose="p", subject="s")
    with pytest.raises(ValueError, match="32 bytes"):
        Sealer([SecretStr("c2hvcnQ")])
    production = {
        "environment": "production",
        "pg_password": SecretStr("strong"),
        "api_keys": [ApiKey(name="ops-bot", role="ops", key=SecretStr("k" * 40))],
        "erasure_key": SecretStr("e" * 40),
        "public_base_url": "https://feedback.example",
        "keyring_keys": [SecretStr(new_master_key())],
    }
    with pytest.raises(ValueError, match="development link key"):
        FeedbackSettings(**production)
    assert FeedbackSettings(**production, link_keys=[new]).link_keys == [new]
