"""Prometheus metrics of the feedback service (exposed on the kit's /metrics).

Counted in the answer's transaction: an answer whose transaction fails after reading is counted
too (rare; the dashboard shows trends, the topic-trends API the exact counts per company).
"""

from __future__ import annotations

from prometheus_client import Counter

COMMENTS_READ = Counter(
    "itinera_feedback_comments_read_total",
    "Survey comments read, by language (en, de, zh, none) and sentiment.",
    ["language", "sentiment"],
)
COMMENT_TOPICS = Counter(
    "itinera_feedback_comment_topics_total",
    "Topics mentioned in survey comments, by topic and the comment's sentiment.",
    ["topic", "sentiment"],
)
