"""The one envelope every Itinera event travels in.

Wire form (JSON, UTF-8)::

    {"event_id": "...", "event_type": "booking.created", "schema_version": 1,
     "occurred_at": "2026-11-22T10:00:00+00:00", "producer": "acme-gds",
     "subject_id": "acme-gds:BK-1", "correlation_id": "...", "causation_id": null,
     "traceparent": null, "payload": {...}}

`subject_id` is also the Kafka key. The payload model's class name carries its
version (`BookingCreatedV1`); its `event_type`/`schema_version` class variables say
how it is announced in the envelope and in the Kafka headers.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import from_json, to_json


class Payload(BaseModel):
    """Base of every event payload: frozen, and tolerant of fields added by newer minors."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    schema_version: ClassVar[int]


P = TypeVar("P", bound=Payload)

_VERSION_4 = ~(0xC000 << 48) & ~(0xF000 << 64)  # clears variant and version bits
_RFC_4122_V4 = (0x8000 << 48) | (4 << 76)
_set = object.__setattr__


_random = bytearray()


def _forget_random() -> None:
    _random.clear()  # a forked child must not reuse its parent's bytes


os.register_at_fork(after_in_child=_forget_random)


def new_uuid() -> uuid.UUID:
    """A random (version 4) UUID, as `uuid.uuid4()` makes it: from `os.urandom` (read 4 KiB at a
    time, not 16 bytes per id) and built without `UUID.__init__`'s argument checks."""
    if not _random:
        _random.extend(os.urandom(4096))
    value = (int.from_bytes(_random[-16:]) & _VERSION_4) | _RFC_4122_V4
    del _random[-16:]
    result = object.__new__(uuid.UUID)
    _set(result, "int", value)
    _set(result, "is_safe", uuid.SafeUUID.unknown)
    return result


class EnvelopeError(ValueError):
    """Raised when bytes on the wire are not a valid Itinera event."""


class _RawEnvelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: uuid.UUID
    event_type: str = Field(min_length=1, max_length=200)
    schema_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    producer: str = Field(min_length=1, max_length=200)
    subject_id: str = Field(min_length=1, max_length=500)
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    traceparent: str | None = Field(default=None, max_length=200)
    payload: dict[str, Any]


class Envelope(BaseModel, Generic[P]):
    """An event: metadata for routing, tracing and idempotency around a typed payload."""

    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID
    event_type: str
    schema_version: int
    occurred_at: AwareDatetime
    producer: str
    subject_id: str
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    traceparent: str | None = None
    payload: P

    @classmethod
    def new(
        cls,
        payload: P,
        *,
        producer: str,
        subject_id: str,
        caused_by: Envelope[Any] | None = None,
        correlation_id: uuid.UUID | None = None,
        occurred_at: datetime | None = None,
        event_id: uuid.UUID | None = None,
    ) -> Envelope[P]:
        """Wrap a payload; an event caused by another inherits its correlation and trace."""
        correlation, causation, traceparent = _lineage(caused_by, correlation_id)
        # Parametrised at run time by the payload's class, so the envelope validates as that type.
        result: Envelope[P] = envelope_class(type(payload))(
            event_id=event_id or new_uuid(),
            event_type=payload.event_type,
            schema_version=payload.schema_version,
            occurred_at=occurred_at or datetime.now(UTC),
            producer=producer,
            subject_id=subject_id,
            correlation_id=correlation,
            causation_id=causation,
            traceparent=traceparent,
            payload=payload,
        )
        return result

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers: routing metadata readable without parsing the value."""
        return _headers(self.event_id, self.event_type, self.schema_version, self.correlation_id, self.traceparent)


def _lineage(
    caused_by: Envelope[Any] | None, correlation_id: uuid.UUID | None
) -> tuple[uuid.UUID, uuid.UUID | None, str | None]:
    """A new event's correlation id, causation id and trace: inherited from the event that caused it."""
    if caused_by is not None:
        return caused_by.correlation_id, caused_by.event_id, caused_by.traceparent
    return correlation_id or new_uuid(), None, None


def _headers(
    event_id: uuid.UUID, event_type: str, schema_version: int, correlation_id: uuid.UUID, traceparent: str | None
) -> list[tuple[str, bytes]]:
    """An event's Kafka headers (the same for an `Envelope` and its `EncodedEnvelope`)."""
    headers = [
        ("event_id", str(event_id).encode()),
        ("event_type", event_type.encode()),
        ("schema_version", str(schema_version).encode()),
        ("correlation_id", str(correlation_id).encode()),
    ]
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
    return headers


class EncodedEnvelope(NamedTuple):
    """An event already in its wire form, with what the outbox needs of an `Envelope` (key, id,
    headers). Made by `encode_new` from a payload's JSON, without building the payload model or
    the envelope: for a producer that has its payload in pydantic's JSON form already. Immutable
    (a named tuple: several times cheaper to build than a frozen dataclass)."""

    event_id: uuid.UUID
    event_type: str
    schema_version: int
    subject_id: str
    correlation_id: uuid.UUID
    traceparent: str | None
    wire: bytes

    def headers(self) -> list[tuple[str, bytes]]:
        """The same headers `Envelope.headers()` gives for the same event."""
        return _headers(self.event_id, self.event_type, self.schema_version, self.correlation_id, self.traceparent)


def encode_new(
    model: type[Payload],
    payload_json: bytes,
    *,
    producer: str,
    subject_id: str,
    caused_by: Envelope[Any] | None = None,
    correlation_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> EncodedEnvelope:
    """`encode_envelope(Envelope.new(payload, ...))` for a payload of `model` whose JSON is
    `payload_json`, spelt as `payload.model_dump_json()` spells it: the same bytes, headers and
    ids, without validating or serialising models (several times cheaper).

    The caller vouches for `payload_json`: it is not validated here. `occurred_at` must be aware.
    """
    correlation, causation, traceparent = _lineage(caused_by, correlation_id)
    event_id = event_id or new_uuid()
    # pydantic-core spells UUIDs and datetimes in a plain dict as it spells the envelope's fields.
    head = to_json(
        {
            "event_id": event_id,
            "event_type": model.event_type,
            "schema_version": model.schema_version,
            "occurred_at": occurred_at or datetime.now(UTC),
            "producer": producer,
            "subject_id": subject_id,
            "correlation_id": correlation,
            "causation_id": causation,
            "traceparent": traceparent,
            "payload": None,
        }
    )
    wire = head[: -len(_NULL_PAYLOAD_END)] + payload_json + b"}"
    return EncodedEnvelope(event_id, model.event_type, model.schema_version, subject_id, correlation, traceparent, wire)


_NULL_PAYLOAD_END = b"null}"


def encode_envelope(envelope: Envelope[Any] | EncodedEnvelope) -> bytes:
    """Serialise an envelope to its wire form."""
    if isinstance(envelope, EncodedEnvelope):
        return envelope.wire
    return envelope.model_dump_json().encode()


_ENVELOPE_CLASSES: dict[type[Payload], Any] = {}


def envelope_class(model: type[Payload]) -> Any:
    """`Envelope[model]`, cached (pydantic's own parametrisation lookup costs microseconds per call)."""
    cls = _ENVELOPE_CLASSES.get(model)
    if cls is None:
        cls = _ENVELOPE_CLASSES[model] = Envelope[model]  # type: ignore[valid-type]  # a runtime class
    return cls


def decode_envelope(raw: bytes | str, headers: Sequence[tuple[str, bytes]] | None = None) -> Envelope[Any]:
    """Parse wire bytes into an envelope with its payload validated against the registry.

    Raises EnvelopeError naming what is wrong: not JSON, a bad envelope field, an
    unknown event type/version, or a payload field that fails validation.

    A valid event is parsed once and validated in one call (pydantic-core JSON, then the
    cached `Envelope[payload model]`, with the envelope's field limits checked here); anything
    that does not pass takes the step-by-step path below, which says what is wrong. With the
    record's Kafka `headers`, whose `event_type` and `schema_version` name the payload model
    before the value is read, the value is validated straight from JSON (no intermediate
    dict: about a third cheaper); the value's own type and version must match the headers',
    otherwise the value decides, as without headers.
    """
    from services.kit.contracts.registry import payload_type

    if _holds_nul(raw):
        # PostgreSQL stores no NUL in text or jsonb: such a record could only fail in its handler.
        raise EnvelopeError("a string holds a NUL character (\\u0000)")
    if headers:
        announced = _decode_as_announced(raw, headers)
        if announced is not None:
            return announced
    try:
        data: Any = from_json(raw)
    except ValueError:
        data = None
    if type(data) is dict:
        event_type: Any = data.get("event_type")
        version: Any = data.get("schema_version")
        model = payload_type(event_type, version) if type(event_type) is str and type(version) is int else None
        if model is not None:
            try:
                env: Envelope[Any] = envelope_class(model).model_validate(data)
            except ValidationError:
                pass
            else:
                if env.event_type == event_type and env.schema_version == version and _within_limits(env):
                    return env
    return _decode_step_by_step(raw)


def _within_limits(env: Envelope[Any]) -> bool:
    """The envelope's field limits (`_RawEnvelope`) that the typed `Envelope` does not check itself."""
    return (
        0 < len(env.event_type) <= 200
        and env.schema_version >= 1
        and 0 < len(env.producer) <= 200
        and 0 < len(env.subject_id) <= 500
        and (env.traceparent is None or len(env.traceparent) <= 200)
    )


def _decode_as_announced(raw: bytes | str, headers: Sequence[tuple[str, bytes]]) -> Envelope[Any] | None:
    """The envelope validated straight from JSON as the model its headers announce; None if that fails."""
    from services.kit.contracts.registry import payload_type

    event_type = version = None
    for name, value in headers:
        if name == "event_type":
            event_type = value
        elif name == "schema_version":
            version = value
    if event_type is None or version is None or not version.isdigit():
        return None
    announced_type, announced_version = event_type.decode(errors="replace"), int(version)
    model = payload_type(announced_type, announced_version)
    if model is None:
        return None
    try:
        env: Envelope[Any] = envelope_class(model).model_validate_json(raw)
    except ValidationError:
        return None
    if env.event_type != announced_type or env.schema_version != announced_version or not _within_limits(env):
        return None
    return env


_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def _holds_nul(raw: bytes | str) -> bool:
    """Whether a JSON string in `raw` holds U+0000 (spelt `\\u0000`; a raw NUL byte is not JSON at all)."""
    data = raw.encode(errors="surrogatepass") if isinstance(raw, str) else raw
    return b"\\u0000" in data and _NUL_ESCAPE.search(data) is not None


def _decode_step_by_step(raw: bytes | str) -> Envelope[Any]:
    from services.kit.contracts.registry import payload_type

    try:
        # pydantic-core's parser, as on the fast path: it refuses invalid UTF-8 and lone surrogates, and
        # nesting deeper than 200 levels with a ValueError (`json.loads` would raise RecursionError).
        data = from_json(raw)
    except ValueError as exc:
        raise EnvelopeError(f"not JSON: {exc}") from exc
    try:
        env = _RawEnvelope.model_validate(data)
    except ValidationError as exc:
        raise EnvelopeError(f"invalid envelope: {_describe(exc)}") from exc
    model = payload_type(env.event_type, env.schema_version)
    if model is None:
        raise EnvelopeError(f"unknown event type {env.event_type!r} version {env.schema_version}")
    try:
        payload = model.model_validate(env.payload)
    except ValidationError as exc:
        raise EnvelopeError(f"invalid {model.__name__} payload: {_describe(exc)}") from exc
    fields = env.model_dump(exclude={"payload"})
    result: Envelope[Any] = envelope_class(model)(payload=payload, **fields)
    return result


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - 5
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)
