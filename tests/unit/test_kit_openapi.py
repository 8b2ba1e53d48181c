"""The OpenAPI document of the HTTP shell: every error a route can answer, as problem details."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field, ValidationError

from services.kit.auditing import PersonalRead
from services.kit.auth import Principal, authenticate, require_roles
from services.kit.http import ProblemError, create_app
from services.kit.problems import PROBLEM_JSON
from services.kit.settings import ServiceSettings
from services.notifications.entrypoints.api import QuietHoursPublic, QuietHoursUpdate

PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}


class Thing(BaseModel):
    name: str = Field(min_length=1)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield


def _app() -> FastAPI:
    app = create_app(title="t", settings=ServiceSettings(service_name="t", environment="test"), lifespan=_lifespan)

    @app.put("/things/{name}", responses={409: {"description": "a thing of that name exists"}})
    async def put(name: str, thing: Thing, who: Annotated[Principal, Depends(require_roles("agent"))]) -> Thing:
        raise ProblemError(409, "exists")

    @app.get("/things/{name}")
    async def read(name: str, trail: Annotated[object, Depends(PersonalRead("thing.read"))]) -> Thing:
        return Thing(name=name)

    @app.delete("/things/{name}")
    async def delete(name: str, who: Annotated[Principal, Depends(authenticate)]) -> None:
        return None

    @app.get("/things/special")
    async def special() -> list[Thing]:
        return []

    return app


def _responses(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    responses: dict[str, Any] = doc["paths"][path][method]["responses"]
    return responses


def test_each_route_documents_what_its_dependencies_and_its_own_words_can_answer() -> None:
    doc = _app().openapi()
    put = _responses(doc, "/things/{name}", "put")
    assert set(put) == {"200", "400", "401", "403", "404", "409", "413", "415", "422", "429", "500"}
    read = _responses(doc, "/things/{name}", "get")
    assert set(read) == {"200", "401", "404", "422", "429", "500", "503"}, "no role check: no 403"
    assert set(_responses(doc, "/healthz", "get")) == {"200", "500"}, "an open route refuses no key"
    for code, response in put.items():
        if code != "200":
            assert response["content"] == PROBLEM, code
    assert put["409"]["description"] == "a thing of that name exists", "the route's words are kept"
    assert "WWW-Authenticate" in put["401"]["headers"]
    assert "Retry-After" in put["429"]["headers"]
    assert "HTTPValidationError" not in doc["components"]["schemas"], "FastAPI's own 422 shape is never sent"
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance"} <= set(problem["properties"])


def test_readiness_documents_its_own_body_on_503_and_keyed_routes_their_security() -> None:
    doc = _app().openapi()
    ready = _responses(doc, "/readyz", "get")
    assert "application/json" in ready["503"]["content"]
    assert PROBLEM_JSON not in ready["503"]["content"]
    assert doc["paths"]["/things/{name}"]["delete"]["security"] == [{"ApiKey": []}, {"Bearer": []}]
    assert "security" not in doc["paths"]["/healthz"]["get"]
    assert set(doc["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def test_a_405_names_every_method_of_the_path_as_a_problem(client: httpx.AsyncClient) -> None:
    r = await client.post("/things/x", headers={"X-API-Key": "dev-agent-key"})
    assert r.status_code == 405
    assert r.headers["content-type"] == PROBLEM_JSON
    assert {m.strip() for m in r.headers["allow"].split(",")} == {"GET", "PUT", "DELETE"}


async def test_a_405_names_the_methods_of_the_most_literal_path_that_matches(client: httpx.AsyncClient) -> None:
    r = await client.options("/things/special")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET"


@pytest.mark.parametrize("value", ["23:30+02:00", "23:30:00Z", "23:30:00-05:00", "2330", "24:00", "7:00", ""])
def test_quiet_hours_refuse_an_offset_or_anything_but_a_local_time(value: str) -> None:
    with pytest.raises(ValidationError):
        QuietHoursUpdate.model_validate({"start": value, "end": "06:00"})


@pytest.mark.parametrize(
    ("value", "kept"), [("23:30", "23:30:00"), ("23:30:15", "23:30:15"), ("00:00:00.5", "00:00:00.500000")]
)
def test_quiet_hours_keep_a_local_time_as_given(value: str, kept: str) -> None:
    update = QuietHoursUpdate.model_validate({"start": value, "end": "06:00"})
    assert update.model_dump(mode="json")["start"] == kept


def test_quiet_hours_schema_says_what_the_route_accepts() -> None:
    for model in (QuietHoursUpdate, QuietHoursPublic):
        start = model.model_json_schema()["properties"]["start"]
        assert "format" not in start, "JSON Schema's `time` format demands an offset; these times have none"
        assert start["pattern"].startswith("^")


@pytest.mark.parametrize("value", ["0.5", "1700000000", "2026-12-01"])
def test_score_periods_take_only_the_iso_instants_the_schema_promises(value: str) -> None:
    from pydantic import TypeAdapter

    from services.feedback.entrypoints.api import IsoInstant

    with pytest.raises(ValidationError):
        TypeAdapter(IsoInstant).validate_python(value)
    assert TypeAdapter(IsoInstant).validate_python("2026-12-01T00:00:00Z").year == 2026


def test_business_rules_the_schema_can_say_are_in_it() -> None:
    from services.feedback.entrypoints.schemas import AnswerIn, CaseUpdate
    from services.value.entrypoints.schemas import RateIn

    assert CaseUpdate.model_json_schema()["minProperties"] == 1, "an empty change is refused"
    assert {tuple(a["required"]) for a in AnswerIn.model_json_schema()["anyOf"]} == {("csat",), ("nps",)}
    with pytest.raises(ValidationError):
        RateIn.model_validate({"currency": "USD", "valid_from": "2026-01-01", "rate": 5e-324})
    assert "minimum" in str(RateIn.model_json_schema()["properties"]["rate"]), "the smallest rate is documented"
