"""Sealed record values: personal data on topics, readable only while its subject's key exists.

A value written to a topic whose spec is `personal` (and to every dead-letter topic) is sealed on
its way to the broker, whatever path produced it (outbox relay, direct publish, dead letters,
re-drive): the whole value, AES-256-GCM under the data key of the record's subject (its key; see
`services.kit.keyring`), with a random 96-bit nonce. The associated data binds it to its logical
topic and record key, so a sealed value copied under another key or onto another topic does not
open. The header `itinera.sealed` says it is sealed and names the data key (`v1:<key id>`).
A topic whose records are keyed by another entity than the person (a trip) names the payload field
holding the subject (`TopicSpec.subject_field`): its values are sealed under that subject's key, and
the header `itinera.subject` names it, so that readers (and dead letters of the record) find the key.
Record keys (pseudonymous ids) and headers stay readable — but for a dead letter's `dlq.error`, which
may quote the record, sealed the same way; tombstones stay null.

Consumers open values before decoding (`RecordSealer.open_records`, one key query per batch):
- a record of a shredded subject is *erased*: skipped, counted, not dead-lettered;
- a sealed record that cannot be opened for any other reason (no key for the subject, a master key
  missing from the settings, altered bytes) is a fault: dead-lettered, still sealed, as unsealable;
- a value without the header is read as it is (records from before sealing).

Form of a sealed value: nonce (12 bytes) || ciphertext and tag.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.kit.contracts.topics import TOPICS, TopicSpec
from services.kit.keyring import KEY_BYTES, NONCE_BYTES, SubjectKey, subject_of

log = logging.getLogger(__name__)

SEALED_HEADER = "itinera.sealed"
# The data subject of a value sealed under another key than its record key's (see `TopicSpec.subject_field`).
SUBJECT_HEADER = "itinera.subject"
# Header values sealed with the value: a dead letter's error may quote what the record said (a parser's
# message shows the input). Sealed form: `sealed:` + base64url(nonce || ciphertext and tag).
SEALED_HEADERS = frozenset({"dlq.error"})
SEALED_TEXT = b"sealed:"
VERSION = "v1"

Headers = list[tuple[str, bytes]]
Row = tuple[str, bytes, bytes | None, Headers]  # physical topic, key, value, headers


class KeySource(Protocol):
    """Where keys come from: `services.kit.keyring.Keyring` (or a fake in unit tests)."""

    async def keys(self, subjects: Iterable[str], *, create: bool) -> dict[str, SubjectKey]: ...


class UnsealableError(ValueError):
    """A sealed value that cannot be opened here (not erased: a fault)."""


def sealed_topics(specs: Sequence[TopicSpec] = TOPICS) -> frozenset[str]:
    """Logical names of the topics whose values are sealed: personal ones and every dead-letter topic."""
    return frozenset(s.name for s in specs if s.personal or s.name.endswith(".deadletters.v1"))


def associated_data(topic: str, key: bytes) -> bytes:
    """What a sealed value is bound to: its logical topic and record key."""
    return b"itinera/record/v1\x00" + topic.encode() + b"\x00" + key


def seal_value(aead: AESGCM, *, topic: str, key: bytes, value: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + aead.encrypt(nonce, value, associated_data(topic, key))


def open_value(aead: AESGCM, *, topic: str, key: bytes, value: bytes) -> bytes:
    try:
        return aead.decrypt(value[:NONCE_BYTES], value[NONCE_BYTES:], associated_data(topic, key))
    except (InvalidTag, ValueError) as exc:
        raise UnsealableError("the sealed value does not open (altered, or moved to another topic or key)") from exc


def seal_header(headers: Sequence[tuple[str, bytes]]) -> bytes | None:
    return _header(headers, SEALED_HEADER)


def _header(headers: Sequence[tuple[str, bytes]], wanted: str) -> bytes | None:
    for name, value in headers:
        if name == wanted:
            return value
    return None


def record_subject(key: bytes | None, headers: Sequence[tuple[str, bytes]]) -> str:
    """The keyring subject of a record: the one its `itinera.subject` header names, else its key's."""
    named = _header(headers, SUBJECT_HEADER)
    return subject_of(named) if named else subject_of(key)


def subject_fields(specs: Sequence[TopicSpec] = TOPICS) -> dict[str, str]:
    """Logical names of the topics sealed under a payload field's subject, with that field."""
    return {s.name: s.subject_field for s in specs if s.subject_field}


def _payload_subject(value: bytes, field: str) -> str | None:
    """The subject a value's payload names in `field` (None when it names none)."""
    try:
        envelope = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    payload = envelope.get("payload") if isinstance(envelope, dict) else None
    subject = payload.get(field) if isinstance(payload, dict) else None
    return subject if isinstance(subject, str) and subject else None


class RecordSealer:
    """Seals outgoing and opens incoming record values of the sealed topics, for one topic prefix."""

    def __init__(
        self,
        keyring: KeySource,
        *,
        topic_prefix: str,
        topics: frozenset[str] | None = None,
        subjects: Mapping[str, str] | None = None,
    ) -> None:
        self.keyring = keyring
        self._prefix = topic_prefix
        logical = sealed_topics() if topics is None else topics
        self._physical = {f"{topic_prefix}{t}": t for t in logical}
        # Logical topic -> payload field naming the subject, for topics not keyed by their subject.
        self._subject_fields = dict(subject_fields() if subjects is None else subjects)

    def logical(self, physical: str) -> str | None:
        """The logical name of a sealed topic, or None for a topic whose values travel in clear."""
        return self._physical.get(physical)

    async def seal_rows(self, rows: Sequence[Row]) -> list[Row]:
        """The rows with the values of sealed topics sealed (already sealed ones and tombstones as they are)."""
        named = [self._named(topic, key, value, headers) for topic, key, value, headers in rows]
        subjects = {
            subject
            for (topic, _key, value, _headers), (subject, headers) in zip(rows, named, strict=True)
            if value is not None and topic in self._physical and seal_header(headers) is None
        }
        if not subjects:
            return list(rows)
        keys = await self.keyring.keys(subjects, create=True)
        out: list[Row] = []
        for (topic, key, value, _), (subject, headers) in zip(rows, named, strict=True):
            logical = self._physical.get(topic)
            if value is None or logical is None or seal_header(headers) is not None:
                out.append((topic, key, value, headers))
                continue
            subject_key = keys[subject]
            aead = subject_key.aead
            if aead is None:
                # Shredded (or unusable here): sealed under a key nobody keeps, so what an erased
                # subject's late event says never reaches the topic readable.
                aead = AESGCM(os.urandom(KEY_BYTES))
            sealed = seal_value(aead, topic=logical, key=key, value=value)
            kept = [(n, _seal_text(aead, logical, key, n, v) if n in SEALED_HEADERS else v) for n, v in headers]
            out.append((topic, key, sealed, [*kept, (SEALED_HEADER, f"{VERSION}:{subject_key.key_id}".encode())]))
        return out

    def _named(self, topic: str, key: bytes, value: bytes | None, headers: Headers) -> tuple[str, Headers]:
        """A row's subject, and its headers naming it when it is not the record key's."""
        if _header(headers, SUBJECT_HEADER) is not None:
            return record_subject(key, headers), headers
        logical = self._physical.get(topic)
        field = self._subject_fields.get(logical) if logical is not None else None
        if field is None or value is None or seal_header(headers) is not None:
            return subject_of(key), headers
        subject = _payload_subject(value, field)
        if subject is None:
            log.warning("a record on %s names no %s: sealed under its record key", logical, field)
            return subject_of(key), headers
        return subject, [*headers, (SUBJECT_HEADER, subject.encode())]

    async def open_values(
        self, items: Sequence[tuple[str, bytes | None, bytes | None, Sequence[tuple[str, bytes]]]]
    ) -> list[tuple[bytes | None, str | None]]:
        """For (physical topic, key, value, headers): (value in clear, None), (None, "erased"), or
        (None, the fault). Unsealed values come back as they are."""
        keys = await self._keys_of(items)
        out: list[tuple[bytes | None, str | None]] = []
        for topic, key, value, headers in items:
            header = seal_header(headers) if value is not None else None
            if value is None or header is None:
                out.append((value, None))
                continue
            out.append(self._open_one(topic, key, value, header, keys.get(record_subject(key, headers))))
        return out

    async def open_records(
        self, items: Sequence[tuple[str, bytes | None, bytes | None, Sequence[tuple[str, bytes]]]]
    ) -> list[tuple[bytes | None, Headers, str | None]]:
        """`open_values`, and the headers too: sealed header values (a dead letter's error) opened, the
        seal header dropped once the value opened (for tools and tests that show whole records)."""
        keys = await self._keys_of(items)
        out: list[tuple[bytes | None, Headers, str | None]] = []
        for topic, key, value, headers in items:
            header = seal_header(headers) if value is not None else None
            if value is None or header is None:
                out.append((value, list(headers), None))
                continue
            subject_key = keys.get(record_subject(key, headers))
            clear, problem = self._open_one(topic, key, value, header, subject_key)
            if clear is None or subject_key is None or subject_key.aead is None:
                out.append((None, list(headers), problem))
                continue
            logical = self._logical_of(topic)
            opened = [
                (n, _open_text(subject_key.aead, logical, key or b"", n, v) if n in SEALED_HEADERS else v)
                for n, v in headers
                if n != SEALED_HEADER
            ]
            out.append((clear, opened, None))
        return out

    async def _keys_of(
        self, items: Sequence[tuple[str, bytes | None, bytes | None, Sequence[tuple[str, bytes]]]]
    ) -> dict[str, SubjectKey]:
        """The keys of the sealed values' subjects, in one query (opening never creates keys)."""
        subjects = {
            record_subject(key, headers)
            for _, key, value, headers in items
            if value is not None and seal_header(headers)
        }
        return await self.keyring.keys(subjects, create=False) if subjects else {}

    def _logical_of(self, topic: str) -> str:
        return self._physical.get(topic) or (topic[len(self._prefix) :] if topic.startswith(self._prefix) else topic)

    def _open_one(
        self, topic: str, key: bytes | None, value: bytes, header: bytes, subject_key: SubjectKey | None
    ) -> tuple[bytes | None, str | None]:
        version, _, key_id = header.decode(errors="replace").partition(":")
        if version != VERSION:
            return None, f"sealed in an unknown form {version!r}"
        if subject_key is None:
            return None, "sealed, but the keyring has no key for its subject"
        if subject_key.shredded:
            return None, "erased"
        if subject_key.aead is None:
            return None, f"sealed, but its key is unusable here: {subject_key.error}"
        if subject_key.key_id != key_id:
            return None, f"sealed under key {key_id!r}, but its subject's key is {subject_key.key_id!r}"
        logical = self._logical_of(topic)
        try:
            return open_value(subject_key.aead, topic=logical, key=key or b"", value=value), None
        except UnsealableError as exc:
            return None, str(exc)


def _seal_text(aead: AESGCM, topic: str, key: bytes, name: str, text: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    sealed = aead.encrypt(nonce, text, associated_data(topic, key) + b"\x00" + name.encode())
    return SEALED_TEXT + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=")


def _open_text(aead: AESGCM, topic: str, key: bytes, name: str, text: bytes) -> bytes:
    """A sealed header value in clear (left as it is if it is not sealed, or does not open)."""
    if not text.startswith(SEALED_TEXT):
        return text
    body = text[len(SEALED_TEXT) :]
    try:
        raw = base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4))
        return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data(topic, key) + b"\x00" + name.encode())
    except (InvalidTag, ValueError, binascii.Error):
        return text


def without_seal(headers: Sequence[tuple[str, bytes]]) -> Headers:
    """Headers of a record once opened: it travels on in clear (and is sealed again if it goes out)."""
    if headers and headers[-1][0] == SEALED_HEADER:  # where the kit's producer puts it
        return list(headers[:-1])
    return [h for h in headers if h[0] != SEALED_HEADER]


__all__ = [
    "SEALED_HEADER",
    "SEALED_HEADERS",
    "SUBJECT_HEADER",
    "KeySource",
    "RecordSealer",
    "UnsealableError",
    "associated_data",
    "open_value",
    "record_subject",
    "seal_header",
    "seal_value",
    "sealed_topics",
    "without_seal",
]
