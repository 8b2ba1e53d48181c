"""Prometheus metrics of the notifications service (exposed on the kit's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# outcome: planned | sent | deferred | retried | failed | suppressed
DELIVERIES = Counter(
    "itinera_notification_deliveries_total",
    "Deliveries by channel, template and what happened to them.",
    ["channel", "template", "outcome"],
)
DELIVERY_LATENCY = Histogram(
    "itinera_notification_delivery_seconds",
    "Time from planning a delivery to the mail server accepting it (quiet hours included).",
    ["channel", "template"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600),
)
SEND_SECONDS = Histogram(
    "itinera_notification_send_seconds",
    "Duration of one attempt to hand a message to the channel's server.",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
