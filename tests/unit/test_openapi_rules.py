"""Business rules a JSON Schema can say are in the published schemas, and the code agrees with them.

Each case pairs a value with what the service decides and checks the documented schema decides the
same (schemathesis finds the disagreements at random; these pin the ones it found).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

import pytest
from fastapi import Query
from jsonschema_rs import validator_for
from pydantic import TypeAdapter, ValidationError

from services.kit.contracts.bookings import TravellerV1
from services.preferences.domain import catalogue
from services.preferences.domain.catalogue import InvalidPreferenceError
from services.preferences.domain.policy import TravelPolicy
from services.preferences.domain.value_schemas import preference_values_schema


def _valid(schema: dict[str, Any], value: Any) -> bool:
    # schemathesis' own validator (ECMA-262 patterns: `$` is the end of the text, as OpenAPI means it).
    return bool(validator_for(schema).is_valid(value))


@pytest.mark.parametrize(
    ("traveller", "accepted"),
    [
        ({"family_name": "Lee"}, True),
        ({"full_name": " "}, True),
        ({"given_name": "", "full_name": "Ann Lee"}, True),
        ({"email": "ann@example.com"}, False),
        ({"given_name": "", "family_name": None}, False),
    ],
)
def test_a_traveller_needs_a_name_in_the_schema_as_in_the_validator(traveller: dict[str, Any], accepted: bool) -> None:
    try:
        TravellerV1.model_validate(traveller)
        decided = True
    except ValidationError:
        decided = False
    assert decided is accepted
    assert _valid(TravellerV1.model_json_schema(), traveller) is accepted


@pytest.mark.parametrize("value", ["1700000000", "0.5", "2026-12-01"])
def test_breakdown_and_breach_periods_take_only_iso_instants(value: str) -> None:
    # `GET /v1/scores/breakdown` and `/v1/sla/breaches` read a number as epoch seconds (ST201).
    from services.feedback.entrypoints.queues import Since, Until

    for kind in (Since, Until):
        with pytest.raises(ValidationError):
            TypeAdapter(kind).validate_python(value)


@pytest.mark.parametrize("code", ["é1", "M\u0663", "MC\n"])
def test_a_policy_gds_code_is_two_ascii_letters_or_digits(code: str) -> None:
    # `isalnum` let any Unicode letter or digit pass for a GDS code; the schema says ASCII.
    schema = TravelPolicy.model_json_schema()["properties"]["preferred_hotel_chains"]["items"]
    assert not _valid(schema, code)
    with pytest.raises(ValidationError):
        TravelPolicy.from_json("co_1", {"preferred_hotel_chains": [code]})
    assert TravelPolicy.from_json("co_1", {"preferred_car_vendors": ["ze"]}).preferred_car_vendors == ("ZE",)


def test_policy_enums_and_airline_codes_are_in_the_schema() -> None:
    schema = TravelPolicy.model_json_schema()
    airline = schema["properties"]["blocked_airlines"]["items"]
    assert _valid(airline, "lh")
    assert _valid(airline, "LH")
    assert not _valid(airline, "QQ9")
    assert "business" in schema["$defs"]["CabinRule"]["properties"]["max_cabin"]["enum"]
    assert None in schema["properties"]["max_rail_class"]["enum"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("comms.quiet_hours", {"start": "22:00\n", "end": "07:00"}),
        ("hotel.chains.preferred", ["MC\n"]),
        ("air.seat.long_haul", "Window"),
        ("air.airlines.preferred", ["lh", "BA"]),
        ("needs.dietary", []),
        ("air.stops.max", 4),
        ("air.stops.max", True),
        ("comms.language", "en-gb"),
        ("comms.language", "xx"),
        ("loyalty.memberships", [{"programme": " LH ", "number": "992-001"}]),
        ("loyalty.memberships", [{"programme": "L", "number": "992"}]),
        ("rail.operators.preferred", ["  DB  "]),
        ("rail.operators.preferred", ["   "]),
        ("comms.consent.marketing", "yes"),
    ],
)
def test_preference_values_schema_decides_as_the_catalogue(key: str, value: Any) -> None:
    try:
        catalogue.validate(key, value)
        decided = True
    except InvalidPreferenceError:
        decided = False
    assert _valid(preference_values_schema(), {key: value}) is decided, (key, value, decided)


def test_preference_values_schema_knows_every_key_and_no_other() -> None:
    schema = preference_values_schema()
    assert set(schema["properties"]) == set(catalogue.SPECS)
    assert not _valid(schema, {"air.unknown": 1})
    assert not _valid(schema, {})


def test_value_rates_never_name_the_reporting_currency_in_the_document() -> None:
    from services.kit.runtime import ServiceRuntime
    from services.value.bootstrap import build_definition
    from services.value.entrypoints.api import create_value_app
    from services.value.settings import ValueSettings

    app = create_value_app(ServiceRuntime(build_definition(ValueSettings(reporting_currency="CHF"))), False)
    schemas = app.openapi()["components"]["schemas"]
    currency = next(s for name, s in schemas.items() if name.startswith("RateIn"))["properties"]["currency"]
    assert currency["not"] == {"const": "CHF"}
    assert _valid(currency, "EUR")
    assert not _valid(currency, "CHF")


def test_the_booking_event_body_is_an_envelope_of_a_booking_payload_by_event_type() -> None:
    from services.kit.contracts.bookings import BOOKING_PAYLOADS
    from services.kit.runtime import ServiceRuntime
    from services.profile.bootstrap import build_definition
    from services.profile.entrypoints.api import create_profile_app
    from services.profile.settings import ProfileSettings

    document = create_profile_app(ServiceRuntime(build_definition(ProfileSettings())), False).openapi()
    body = document["paths"]["/v1/booking-events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    mapping = body["discriminator"]["mapping"]
    assert set(mapping) == {p.event_type for p in BOOKING_PAYLOADS}
    schemas = document["components"]["schemas"]
    for event_type, ref in mapping.items():
        envelope = schemas[ref.rsplit("/", 1)[1]]
        assert envelope["properties"]["event_type"] == {"const": event_type}
        assert envelope["properties"]["payload"]["$ref"].rsplit("/", 1)[1] in schemas


@pytest.mark.parametrize(
    "policy",
    [
        {"advance_booking_days": False},
        {"hotel_max_star": True},
        {"cabin_rules": [{"min_hours": True, "max_cabin": "business"}]},
    ],
)
def test_a_policy_number_is_not_a_boolean(policy: dict[str, Any]) -> None:
    # JSON's `false` was read as 0 days (ST201): the schema says integer, and so does the policy now.
    with pytest.raises(ValidationError):
        TravelPolicy.from_json("co_1", policy)
    assert TravelPolicy.from_json("co_1", {"advance_booking_days": 0}).advance_booking_days == 0


@pytest.mark.parametrize("value", [0, 1700000000, 0.5, "0.5", "2026-12-01x"])
def test_request_times_and_dates_are_iso_text_only(value: object) -> None:
    # A number was read as epoch seconds (days) where the document says date-time (date): ST201 on
    # source records' seen_at, rates' valid_from and the tier movements' period.
    from services.kit.isotime import IsoDate, IsoDateTime
    from services.profile.entrypoints.schemas import SourceRecordIn
    from services.value.entrypoints.schemas import RateIn

    for kind in (IsoDate, IsoDateTime):
        with pytest.raises(ValidationError):
            TypeAdapter(kind).validate_python(value)
    with pytest.raises(ValidationError):
        RateIn.model_validate({"currency": "USD", "valid_from": value, "rate": "1.1"})
    with pytest.raises(ValidationError):
        SourceRecordIn.model_validate(
            {"source_system": "crm", "source_id": "1", "traveller": {"family_name": "Lee"}, "seen_at": value}
        )
    assert RateIn.model_validate({"currency": "USD", "valid_from": "2026-12-01", "rate": "1.1"}).valid_from.day == 1


@pytest.mark.parametrize("path", ["effective", "explain", "confirmations"])
def test_delete_on_a_sibling_of_a_preference_key_is_not_allowed_rather_than_an_unknown_key(path: str) -> None:
    # `DELETE .../preferences/effective` reached the key route and answered 422 "unknown key" (ST204).
    from starlette.testclient import TestClient

    from services.kit.runtime import ServiceRuntime
    from services.preferences.bootstrap import build_definition
    from services.preferences.entrypoints.api import create_preferences_app
    from services.preferences.settings import PreferencesSettings

    app = create_preferences_app(ServiceRuntime(build_definition(PreferencesSettings())), False)
    client = TestClient(app)  # not started: routing answers before any dependency or lifespan
    r = client.delete(f"/v1/customers/c1/preferences/{path}", headers={"X-API-Key": "dev-admin-key"})
    assert r.status_code == 405
    assert "GET" in r.headers["allow"]
    assert "DELETE" not in r.headers["allow"]


def test_a_query_parameter_of_one_value_sent_twice_is_refused() -> None:
    # FastAPI took the last of `?company=a&company=b` where the document declares one string (ST201).
    from starlette.testclient import TestClient

    from services.kit.http import create_app
    from services.kit.settings import ServiceSettings

    @contextlib.asynccontextmanager
    async def lifespan(_: object) -> AsyncIterator[None]:
        yield

    app = create_app(title="t", settings=ServiceSettings(service_name="t", environment="test"), lifespan=lifespan)

    @app.get("/search")
    async def search(q: str | None = None, tags: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
        return {"q": q, "tags": tags}

    client = TestClient(app)
    twice = client.get("/search?q=a&q=b")
    assert twice.status_code == 422
    assert twice.json()["errors"][0]["field"].endswith("q")
    assert client.get("/search?q=a&tags=x&tags=y").json() == {"q": "a", "tags": ["x", "y"]}


def _apps() -> list[Any]:
    from services.feedback.bootstrap import build_definition as feedback
    from services.feedback.entrypoints.api import create_feedback_app
    from services.feedback.settings import FeedbackSettings
    from services.kit.runtime import ServiceRuntime
    from services.notifications.bootstrap import build_definition as notifications
    from services.notifications.entrypoints.api import create_notifications_app
    from services.notifications.settings import NotificationsSettings
    from services.preferences.bootstrap import build_definition as preferences
    from services.preferences.entrypoints.api import create_preferences_app
    from services.preferences.settings import PreferencesSettings
    from services.privacy.bootstrap import build_definition as privacy
    from services.privacy.entrypoints.api import create_privacy_app
    from services.privacy.settings import PrivacySettings
    from services.profile.bootstrap import build_definition as profile
    from services.profile.entrypoints.api import create_profile_app
    from services.profile.settings import ProfileSettings
    from services.value.bootstrap import build_definition as value
    from services.value.entrypoints.api import create_value_app
    from services.value.settings import ValueSettings

    made = [
        (create_profile_app, profile(ProfileSettings())),
        (create_preferences_app, preferences(PreferencesSettings())),
        (create_feedback_app, feedback(FeedbackSettings())),
        (create_notifications_app, notifications(NotificationsSettings())),
        (create_value_app, value(ValueSettings())),
        (create_privacy_app, privacy(PrivacySettings())),
    ]
    return [create(ServiceRuntime(definition), False) for create, definition in made]


def test_every_time_or_date_in_a_query_or_path_is_read_as_iso_text_only() -> None:
    # A new route's `from`/`to` typed as a plain datetime read a number as epoch seconds (ST201 on the
    # topic trends' `to=0.5`): every such parameter of every service must use the kit's ISO types.
    from fastapi.routing import APIRoute

    loose = []
    for app in _apps():
        for route in (r for r in app.routes if isinstance(r, APIRoute)):
            for param in [*route.dependant.query_params, *route.dependant.path_params]:
                shape = repr(param.field_info.annotation)  # e.g. Optional[Annotated[AwareDatetime, BeforeValidator(…)]]
                iso = "_date_time_text" in shape or "_date_text" in shape
                if re.search(r"(?i)date", shape) and not iso:
                    loose.append(f"{app.title} {route.path} {param.name}")
    assert loose == []
