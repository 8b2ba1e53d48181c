"""Payload lookup by (event_type, schema_version), built from the topic catalogue."""

from __future__ import annotations

from functools import cache

from services.kit.contracts.envelope import Payload


@cache
def _registry() -> dict[tuple[str, int], type[Payload]]:
    from services.kit.contracts.topics import TOPICS

    registry: dict[tuple[str, int], type[Payload]] = {}
    for spec in TOPICS:
        for model in spec.payloads:
            registry[(model.event_type, model.schema_version)] = model
    return registry


def payload_type(event_type: str, schema_version: int) -> type[Payload] | None:
    """The payload model announced by an envelope, or None if unknown."""
    return _registry().get((event_type, schema_version))


def registered_payloads() -> list[type[Payload]]:
    return sorted(set(_registry().values()), key=lambda m: m.__name__)
