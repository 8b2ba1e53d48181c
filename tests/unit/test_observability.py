"""Dashboards and alerts refer only to metrics the services actually export."""

from __future__ import annotations

import importlib
import re

import pytest
from prometheus_client import REGISTRY

from tests.harness import ROOT

OBSERVABILITY = ROOT / "deploy" / "observability"
METRIC_MODULES = (
    "services.kit.metrics",
    "services.kit.view",
    "services.notifications.adapters.metrics",
    "services.feedback.adapters.metrics",
)


def _exported() -> set[str]:
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names: set[str] = set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
    for metric in REGISTRY.collect():
        names.add(metric.name)
        names.update(metric.name + suffix for suffix in suffixes.get(metric.type, ()))
    return names


@pytest.mark.parametrize(
    "path",
    [
        "grafana/dashboards/itinera-operations.json",
        "alerts.yml",
    ],
)
def test_referenced_metrics_exist(path: str) -> None:
    text = (OBSERVABILITY / path).read_text()
    referenced = set(re.findall(r"\b(itinera_[a-z_]+)\b", text))
    assert referenced, f"{path} references no metric"
    exported = _exported()
    # histograms are exported as <name>_bucket/_sum/_count; counters as <name>_total
    missing = sorted(name for name in referenced if name not in exported)
    assert missing == [], f"{path} refers to metrics nobody exports: {missing}"
