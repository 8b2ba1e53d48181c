"""Dead letters that can always be published, and that keep no secrets.

A record goes to `<service>.deadletters.v1` with the reason, the error and where it came from
in `dlq.*` headers. Two things could make that fail or do harm, and both are handled here:

- **Size.** The broker accepted the original compressed; uncompressed, with headers, it may not
  fit a message (1 MB by default). A dead-letter value over `MAX_VALUE_BYTES` keeps only its
  first `KEPT_PREFIX_BYTES` (enough to see what it was), with `dlq.original_size`,
  `dlq.original_sha256` and `dlq.truncated: true`; a truncated dead letter is not re-driven.
  Should the broker refuse a dead letter anyway, it goes again with an empty value and the
  same headers: a dead letter is never what stops a partition.
- **Personal data.** Dead-letter topics keep records for weeks and are read by operators.
  Values in fields named in `services.kit.sensitive.REDACTED_IN_DEAD_LETTERS` (passport,
  known-traveller and redress numbers, national ids, meal, dietary and accessibility codes)
  become `null` before the record is written, wherever they stand in the JSON, and even when
  the record is not valid JSON. `dlq.redacted` lists the fields. Everything a re-drive needs
  (envelope, ids, the rest of the payload) stays: a re-driven record is handled as one that
  did not state those fields.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError

from services.kit.contracts.topics import dead_letter_topic
from services.kit.kafka import EventProducer, Headers, OutgoingRecord
from services.kit.metrics import DEAD_LETTERS, DEAD_LETTERS_SHRUNK, EVENTS_CONSUMED
from services.kit.sensitive import REDACTED_IN_DEAD_LETTERS

log = logging.getLogger(__name__)

MAX_VALUE_BYTES = 512 * 1024
KEPT_PREFIX_BYTES = 16 * 1024
MAX_KEY_BYTES = 1024
MAX_HEADER_BYTES = 64 * 1024  # the original record's own headers, all together

# "field": "string value" (escapes included), or a number, true/false, for every redacted field name.
_REDACTABLE = re.compile(
    rb'"(' + b"|".join(re.escape(name.encode()) for name in sorted(REDACTED_IN_DEAD_LETTERS)) + rb')"(\s*:\s*)'
    rb'(?:"(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|true|false)'
)


@dataclass(frozen=True)
class IncomingRecord:
    topic: str  # physical name
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int = 0


@dataclass
class Failure:
    record: IncomingRecord
    reason: str  # unparseable, rejected, handler_failed, conflict
    error: str
    attempts: int


def redact(value: bytes) -> tuple[bytes, list[str]]:
    """`value` with every redacted field's value replaced by null, and the names of the fields redacted."""
    found: list[str] = []

    def blank(match: re.Match[bytes]) -> bytes:
        found.append(match.group(1).decode())
        return b'"' + match.group(1) + b'"' + match.group(2) + b"null"

    redacted = _REDACTABLE.sub(blank, value)
    return redacted, sorted(set(found))


def shrink(value: bytes) -> tuple[bytes, Headers]:
    """`value` cut to a prefix when it is too large to publish, with headers saying what it was."""
    if len(value) <= MAX_VALUE_BYTES:
        return value, []
    return value[:KEPT_PREFIX_BYTES], [
        ("dlq.truncated", b"true"),
        ("dlq.original_size", str(len(value)).encode()),
        ("dlq.original_sha256", hashlib.sha256(value).hexdigest().encode()),
    ]


def dead_letter(failure: Failure, *, service: str, consumer: str, topic: str, logical_source: str) -> OutgoingRecord:
    """The dead letter for one failed record: redacted, small enough, with its reason and origin."""
    r = failure.record
    extra: Headers = []
    value = r.value
    if value is not None:
        value, redacted = redact(value)
        if redacted:
            extra.append(("dlq.redacted", ",".join(redacted).encode()))
        value, size_headers = shrink(value)
        extra += size_headers
    original = [h for h in r.headers if not h[0].startswith("dlq.")]
    if sum(len(k) + len(v) for k, v in original) > MAX_HEADER_BYTES:
        original = []
        extra.append(("dlq.headers_dropped", b"true"))
    key = r.key or b""
    if len(key) > MAX_KEY_BYTES:
        extra.append(("dlq.original_key_sha256", hashlib.sha256(key).hexdigest().encode()))
        key = key[:MAX_KEY_BYTES]
    headers = (
        original
        + extra
        + [
            ("dlq.reason", failure.reason.encode()),
            ("dlq.error", failure.error[:2000].encode(errors="replace")),
            ("dlq.source_topic", logical_source.encode()),
            ("dlq.source_partition", str(r.partition).encode()),
            ("dlq.source_offset", str(r.offset).encode()),
            ("dlq.service", service.encode()),
            ("dlq.consumer", consumer.encode()),
            ("dlq.attempts", str(failure.attempts).encode()),
            ("dlq.failed_at", datetime.now(UTC).isoformat().encode()),
        ]
    )
    return OutgoingRecord(topic=topic, key=key, value=value, headers=headers)


class DeadLetterWriter:
    """Publishes one consumer's failed records to its service's dead-letter topic."""

    def __init__(self, *, producer: EventProducer, service: str, consumer: str, topic_prefix: str) -> None:
        self._producer = producer
        self._service = service
        self._consumer = consumer
        self._prefix = topic_prefix
        self._topic = f"{topic_prefix}{dead_letter_topic(service)}"

    def _logical(self, physical: str) -> str:
        prefix = self._prefix
        return physical[len(prefix) :] if prefix and physical.startswith(prefix) else physical

    async def send(self, failures: Sequence[Failure]) -> None:
        """Publish the dead letters and wait for the broker. Raises only on transient broker faults."""
        out = []
        for f in failures:
            logical = self._logical(f.record.topic)
            record = dead_letter(f, service=self._service, consumer=self._consumer, topic=self._topic,
                                 logical_source=logical)  # fmt: skip
            if any(k == "dlq.truncated" for k, _ in record.headers):
                DEAD_LETTERS_SHRUNK.labels(self._service, self._consumer).inc()
            out.append(record)
            DEAD_LETTERS.labels(self._service, self._consumer, logical, f.reason).inc()
            EVENTS_CONSUMED.labels(self._service, self._consumer, logical, "dead_lettered").inc()
            log.warning("dead-lettered %s[%d]@%d: %s: %s", logical, f.record.partition, f.record.offset, f.reason,
                        f.error[:300])  # fmt: skip
        try:
            await self._producer.send_many(out)
        except (MessageSizeTooLargeError, RecordTooLargeError, ValueError) as exc:
            # Some record still did not fit (a broker with a smaller limit): each goes again, and one
            # that is refused goes without its value. The headers say what and why.
            log.warning("a dead letter was refused (%s): sending them one by one", exc)
            for record in out:
                try:
                    await self._producer.send_many([record])
                except (MessageSizeTooLargeError, RecordTooLargeError, ValueError):
                    bare = [*record.headers, ("dlq.value_dropped", b"true")]
                    await self._producer.send_many([OutgoingRecord(record.topic, record.key[:200], b"", bare)])
