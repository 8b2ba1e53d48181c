"""Each catalogue key's value as JSON Schema, for the OpenAPI document of `PUT .../preferences`.

The catalogue's validators decide; this says the same rules where JSON Schema can say them. What it
cannot (a window's start before its end, or the two differing) the route documents as its 422.
Letter case is free where the validators fold it (enums, codes), so the patterns accept any case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from services.preferences.domain import codes
from services.preferences.domain.catalogue import SPECS, KeySpec

_HHMM = {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "minLength": 5, "maxLength": 5}
_WINDOW_NAMES = {"air.departure_window": ("earliest", "latest"), "comms.quiet_hours": ("start", "end")}


def _any_case(words: Iterable[str]) -> dict[str, Any]:
    classes = ("".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in w) for w in words)
    return {"type": "string", "pattern": "^(?:" + "|".join(sorted(classes)) + ")$"}


def _list(items: dict[str, Any], max_items: int) -> dict[str, Any]:
    return {"type": "array", "items": items, "maxItems": max_items}


def _code_list(spec: KeySpec) -> dict[str, Any]:
    if spec.code_table == "airlines":
        return _list(_any_case(codes.AIRLINES), 20)
    return _list({"type": "string", "pattern": "^[A-Za-z0-9]{2}$", "minLength": 2, "maxLength": 2}, 20)


def _value_schema(spec: KeySpec) -> dict[str, Any]:
    kind = spec.kind
    if kind == "enum" and spec.key == "air.meal":
        schema = _any_case(codes.MEAL_CODES)
    elif kind == "enum":
        schema = _any_case(spec.allowed)
    elif kind == "enum_list":
        schema = _list(_any_case(spec.allowed), 13 if spec.key.startswith("needs.") else 10)
    elif kind == "code_list":
        schema = _code_list(spec)
    elif kind == "int":
        schema = {"type": "integer", "minimum": spec.minimum, "maximum": spec.maximum}
    elif kind == "bool":
        schema = {"type": "boolean"}
    elif kind == "window":
        start, end = _WINDOW_NAMES[spec.key]
        schema = {
            "type": "object",
            "required": [start, end],
            "properties": {start: _HHMM, end: _HHMM},
            "additionalProperties": False,
        }
    elif kind == "text_list":
        schema = _list({"type": "string", "pattern": r"^\s*\S(?:[\s\S]{0,48}\S)?\s*$"}, 10)
    elif kind == "object_list":
        entry = {
            "type": "object",
            "required": ["programme", "number"],
            "properties": {
                "programme": {"type": "string", "pattern": r"^\s*\S[\s\S]{0,48}\S\s*$"},
                "number": {"type": "string", "pattern": r"^\s*[A-Za-z0-9-]{3,30}\s*$"},
            },
            "additionalProperties": False,
        }
        schema = _list(entry, 30)
    elif kind == "language":
        base = "|".join(sorted(_any_case(codes.LANGUAGES)["pattern"][4:-2].split("|")))
        schema = {"type": "string", "pattern": f"^(?:{base})(?:-[A-Za-z]{{2}})?$"}
    else:  # time_zone: an IANA name this machine's zone database knows
        schema = {"type": "string", "minLength": 1, "maxLength": 64}
    return {**schema, "description": spec.description}


def preference_values_schema() -> dict[str, Any]:
    """The `values` object of a preferences write: known keys only, each with its value's schema."""
    return {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 50,
        "properties": {key: _value_schema(spec) for key, spec in SPECS.items()},
        "additionalProperties": False,
        "description": "Preference key -> value (GET /v1/preferences/catalogue describes each key)",
    }
