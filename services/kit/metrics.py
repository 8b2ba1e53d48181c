"""Prometheus metrics shared by all services (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "itinera_events_consumed_total",
    "Records handled by a consumer, by outcome (processed, duplicate, dead_lettered, tombstone).",
    ["service", "consumer", "topic", "outcome"],
)
EVENT_HANDLING_SECONDS = Histogram(
    "itinera_event_batch_seconds",
    "Time to handle one batch of records in one database transaction.",
    ["service", "consumer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CONSUMER_LAG = Gauge(
    "itinera_consumer_lag",
    "Records between a consumer's position and the partition's high watermark.",
    ["service", "consumer", "topic", "partition"],
)
DEAD_LETTERS = Counter(
    "itinera_dead_letters_total",
    "Records sent to the dead-letter topic.",
    ["service", "consumer", "topic", "reason"],
)
OUTBOX_PUBLISHED = Counter("itinera_outbox_published_total", "Outbox rows published to Kafka.", ["service", "topic"])
OUTBOX_PENDING = Gauge("itinera_outbox_pending", "Outbox rows not yet published.", ["service"])
HTTP_REQUESTS = Counter(
    "itinera_http_requests_total", "HTTP requests by route and status.", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "itinera_http_request_seconds",
    "HTTP request latency.",
    ["service", "method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
WORKER_STALLED = Gauge(
    "itinera_worker_stalled",
    "1 while a loop of the process (consumer, relay, dispatcher, job) is not running or has had work in hand"
    " for longer than the stall limit without finishing it.",
    ["service", "worker"],
)
WORKER_RESTARTS = Counter(
    "itinera_worker_restarts_total", "Loops started again after they crashed or ended.", ["service", "worker"]
)
DEAD_LETTERS_SHRUNK = Counter(
    "itinera_dead_letters_truncated_total",
    "Dead letters whose original value was too large to publish and was cut (size and hash kept in headers).",
    ["service", "consumer"],
)
EVENT_ID_CONFLICTS = Counter(
    "itinera_event_id_conflicts_total",
    "Records whose event id was already processed with a different body (dead-lettered as conflicts).",
    ["service", "consumer", "topic"],
)
