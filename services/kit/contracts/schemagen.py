"""Generate the published contracts: one JSON Schema per event and an AsyncAPI 3 document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from services.kit.contracts.envelope import Payload
from services.kit.contracts.topics import TOPICS, TopicSpec

REF = "#/components/schemas/{model}"

HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Kafka headers copied from the envelope, readable without parsing the value.",
    "properties": {
        "event_id": {"type": "string", "format": "uuid"},
        "event_type": {"type": "string"},
        "schema_version": {"type": "string"},
        "correlation_id": {"type": "string", "format": "uuid"},
        "traceparent": {"type": "string"},
    },
}


def _envelope_schema(model: type[Payload], payload_ref: str) -> dict[str, Any]:
    return {
        "type": "object",
        "title": f"{model.__name__} event",
        "description": (model.__doc__ or "").strip(),
        "required": [
            "event_id",
            "event_type",
            "schema_version",
            "occurred_at",
            "producer",
            "subject_id",
            "correlation_id",
            "payload",
        ],
        "properties": {
            "event_id": {"type": "string", "format": "uuid", "description": "Unique id; consumers deduplicate on it."},
            "event_type": {"const": model.event_type},
            "schema_version": {"const": model.schema_version},
            "occurred_at": {"type": "string", "format": "date-time", "description": "With a UTC offset."},
            "producer": {"type": "string", "minLength": 1},
            "subject_id": {"type": "string", "minLength": 1, "description": "Also the Kafka record key."},
            "correlation_id": {"type": "string", "format": "uuid"},
            "causation_id": {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]},
            "traceparent": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "W3C trace context"},
            "payload": {"$ref": payload_ref},
        },
    }


def _payload_schemas(ref_template: str) -> tuple[dict[type[Payload], dict[str, Any]], dict[str, Any]]:
    models = sorted({m for spec in TOPICS for m in spec.payloads}, key=lambda m: m.__name__)
    keyed, top = models_json_schema([(m, "validation") for m in models], ref_template=ref_template)
    return {m: keyed[(m, "validation")] for m in models}, top.get("$defs", {})


def envelope_union(models: tuple[type[Payload], ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An OpenAPI request body schema: an envelope whose payload is one of `models`, told apart by
    `event_type` (as `decode_envelope` tells them apart), and the component schemas it refers to."""
    keyed, top = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    components: dict[str, Any] = dict(top.get("$defs", {}))
    mapping: dict[str, str] = {}
    for model in models:
        name = f"{model.__name__}Event"
        components[model.__name__] = keyed[(model, "validation")]
        components[name] = _envelope_schema(model, REF.format(model=model.__name__))
        mapping[model.event_type] = REF.format(model=name)
    body = {
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "event_type", "mapping": mapping},
    }
    return body, components


def json_schemas() -> dict[str, dict[str, Any]]:
    """One self-contained JSON Schema (2020-12) per event, envelope included, by file name."""
    per_model, defs = _payload_schemas("#/$defs/{model}")
    out: dict[str, dict[str, Any]] = {}
    for model in per_model:
        schema = _envelope_schema(model, f"#/$defs/{model.__name__}")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://itinera.dev/contracts/{model.__name__}.json"
        schema["$defs"] = defs
        out[f"{model.__name__}.json"] = schema
    return out


def _channel_id(spec: TopicSpec) -> str:
    parts = spec.name.replace("-", ".").split(".")
    return parts[0] + "".join(p.capitalize() for p in parts[1:])


def asyncapi() -> dict[str, Any]:
    """An AsyncAPI 3.0 document describing every topic, its key and its messages."""
    _, defs = _payload_schemas(REF)
    schemas: dict[str, Any] = dict(defs)
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for spec in TOPICS:
        cid = _channel_id(spec)
        channel_messages: dict[str, Any] = {}
        for model in spec.payloads:
            schemas[f"{model.__name__}Event"] = _envelope_schema(model, REF.format(model=model.__name__))
            messages[model.__name__] = {
                "name": model.__name__,
                "title": f"{model.event_type} v{model.schema_version}",
                "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else model.__name__,
                "contentType": "application/json",
                "headers": HEADERS_SCHEMA,
                "payload": {"$ref": REF.format(model=f"{model.__name__}Event")},
                "bindings": {"kafka": {"key": {"type": "string", "description": spec.key}}},
            }
            channel_messages[model.__name__] = {"$ref": f"#/components/messages/{model.__name__}"}
        if not spec.payloads:
            messages[f"{cid}Record"] = {
                "name": f"{cid}Record",
                "summary": "The original record, unchanged, with dlq.* headers.",
                "payload": {"type": "string", "description": "original value bytes"},
            }
            channel_messages[f"{cid}Record"] = {"$ref": f"#/components/messages/{cid}Record"}
        topic_config: dict[str, Any] = {"cleanup.policy": ["compact"] if spec.compacted else ["delete"]}
        if spec.retention_ms:
            topic_config["retention.ms"] = spec.retention_ms
        channels[cid] = {
            "address": spec.name,
            "description": f"{spec.description} Owner: {spec.owner}. Key: {spec.key}.",
            "messages": channel_messages,
            "bindings": {"kafka": {"partitions": spec.partitions, "topicConfiguration": topic_config}},
        }
        operations[f"{cid}Publish"] = {
            "action": "send",
            "summary": f"Written by {spec.owner} only.",
            "channel": {"$ref": f"#/channels/{cid}"},
            "messages": [{"$ref": f"#/channels/{cid}/messages/{m}"} for m in channel_messages],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Itinera events",
            "version": "1.0.0",
            "description": (
                "Every Itinera event is a JSON envelope (event_id, event_type, schema_version, occurred_at, "
                "producer, subject_id = Kafka key, correlation_id, causation_id, traceparent) around a "
                "versioned payload. Topic names are `<owner>.<entity>.v<major>`; a deployment may prefix them."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "localhost:9092", "protocol": "kafka", "description": "make up"}},
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def render() -> dict[str, str]:
    """Every contract file by relative path, as the text that is checked in."""
    files = {f"jsonschema/{name}": _dump(schema) for name, schema in json_schemas().items()}
    files["asyncapi.json"] = _dump(asyncapi())
    return files


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def write(root: Path) -> list[str]:
    """Write the contracts under `root`, removing stale files; returns the paths written."""
    files = render()
    (root / "jsonschema").mkdir(parents=True, exist_ok=True)
    for stale in (root / "jsonschema").glob("*.json"):
        if f"jsonschema/{stale.name}" not in files:
            stale.unlink()
    for rel, text in files.items():
        (root / rel).write_text(text, encoding="utf-8")
    return sorted(files)


def stale(root: Path) -> list[str]:
    """Contract files missing or different from what the models generate."""
    files = render()
    out = [rel for rel, text in files.items() if not (root / rel).exists() or (root / rel).read_text("utf-8") != text]
    present = (
        {f"jsonschema/{p.name}" for p in (root / "jsonschema").glob("*.json")}
        if (root / "jsonschema").exists()
        else set()
    )
    out += sorted(present - set(files))
    return out
