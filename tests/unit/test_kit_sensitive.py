"""The one decision on sensitive fields (`services.kit.sensitive`) and the API keys' source authority."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr, ValidationError

from services.kit.auth import IMPLIED_ROLES, KeyRing, Principal
from services.kit.sensitive import BIRTH_DATE, SECRET, SPECIAL, redact, redact_body, visible_to
from services.kit.settings import DEV_API_KEYS, DEV_SOURCE_SYSTEMS, ApiKey, Role

VIEW = {
    "customer": {
        "fields": {"date_of_birth": {"value": "1971-03-17", "source_system": "crm"}, "email": {"value": "a@b"}}
    },
    "bookings": [
        {"summary": {"segments": [{"kind": "flight", "meal": "KSML", "seat": "2A"}], "ssr": ["WCHR", "FQTV"]}}
    ],
    "preferences": [
        {"key": "air.meal", "value": "KSML", "source": "stated", "confidence": 1.0},
        {"key": "needs.accessibility", "value": ["wheelchair_ramp"], "source": "agent"},
        {"key": "air.seat.short_haul", "value": "aisle", "source": "inferred"},
    ],
    "explanations": [
        {"key": "needs.dietary", "inferred_value": ["kosher"], "note": "kosher twice", "evidence_count": 2}
    ],
    "policy": {"needs.dietary": ["kosher"], "air.cabin.long_haul": "economy"},
    "traveller": {"passport_number": "X1234567", "nationality": "DE"},
}


def _visible(role: Role) -> frozenset[str]:
    return visible_to(role, IMPLIED_ROLES[role])


def test_an_agent_sees_no_special_category_data_and_no_secret_identifier() -> None:
    out, changed = redact(VIEW, visible_to("agent", IMPLIED_ROLES["agent"]))
    text = json.dumps(out)
    assert changed
    for hidden in ("KSML", "WCHR", "wheelchair_ramp", "kosher", "X1234567"):
        assert hidden not in text, hidden
    assert out["bookings"][0]["summary"]["segments"][0] == {
        "kind": "flight",
        "meal": {"redacted": SPECIAL},
        "seat": "2A",
    }
    assert out["bookings"][0]["summary"]["ssr"] == [{"redacted": SPECIAL}, "FQTV"]
    assert out["preferences"][0] == {
        "key": "air.meal", "value": {"redacted": SPECIAL}, "source": "stated", "confidence": 1.0
    }  # fmt: skip
    assert out["preferences"][2]["value"] == "aisle"
    assert out["explanations"][0]["evidence_count"] == 2
    assert out["policy"] == {"needs.dietary": {"redacted": SPECIAL}, "air.cabin.long_haul": "economy"}
    assert out["traveller"]["passport_number"] == {"redacted": SECRET}
    assert out["customer"]["fields"]["date_of_birth"]["value"] == "1971-03-17"  # agents ticket trips
    assert VIEW["traveller"]["passport_number"] == "X1234567", "the input is left as it was"


def test_a_supervisor_sees_special_category_data_an_admin_everything_and_a_caller_without_a_role_nothing() -> None:
    supervisor = json.dumps(redact(VIEW, _visible("supervisor"))[0])
    assert "KSML" in supervisor
    assert "wheelchair_ramp" in supervisor
    assert "X1234567" not in supervisor
    assert redact(VIEW, _visible("admin")) == (VIEW, False)
    anonymous = redact(VIEW, visible_to(None, ()))[0]
    assert anonymous["customer"]["fields"]["date_of_birth"] == {"redacted": BIRTH_DATE}
    withheld = visible_to("supervisor", IMPLIED_ROLES["supervisor"], withheld=[SPECIAL])
    assert "KSML" not in json.dumps(redact(VIEW, withheld)[0])


def test_a_body_without_any_sensitive_name_is_passed_as_it_is() -> None:
    body = b'{"items": [{"customer_id": "c1", "note": "KSML"}]}'
    assert redact_body(body, _visible("agent")) is body
    redacted = redact_body(json.dumps(VIEW).encode(), _visible("agent"))
    assert b"KSML" not in redacted


def test_booking_system_keys_name_the_systems_they_are_registered_for() -> None:
    booking = next(k for k in DEV_API_KEYS if k.role == "booking-system")
    assert tuple(booking.source_systems) == DEV_SOURCE_SYSTEMS
    with pytest.raises(ValidationError, match="must name the source_systems"):
        ApiKey(name="gds", role="booking-system", key=SecretStr("k" * 40))
    with pytest.raises(ValidationError, match="only booking-system keys"):
        ApiKey(name="ann", role="agent", key=SecretStr("k" * 40), source_systems=["crm"])
    with pytest.raises(ValidationError, match="reserved"):
        ApiKey(name="gds", role="booking-system", key=SecretStr("k" * 40), source_systems=["agent"])
    principal = KeyRing([booking]).lookup("dev-booking-system-key")
    assert principal is not None
    assert principal.may_write_as("crm")
    assert not principal.may_write_as("legacy-desk")
    assert Principal("root", "admin").may_write_as("legacy-desk")
    assert not Principal("root", "admin").may_write_as("agent")
    assert not Principal("ann", "supervisor").may_write_as("crm")
