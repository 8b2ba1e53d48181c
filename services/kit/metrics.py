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
