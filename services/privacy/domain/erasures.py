"""Erasure progress: which services have done their step, and when the erasure is complete."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

ErasureStatus = Literal["in_progress", "completed"]


@dataclass(frozen=True)
class Step:
    service: str
    customer_ids: int
    rows: Mapping[str, int]
    completed_at: datetime


@dataclass(frozen=True)
class StepProgress:
    service: str
    status: Literal["pending", "done"]
    step: Step | None


def progress(expected: Sequence[str], steps: Sequence[Step]) -> list[StepProgress]:
    """Every expected service in order, done or pending (reports of unknown services are listed after)."""
    by_service = {s.service: s for s in steps}
    out = [StepProgress(svc, "done" if svc in by_service else "pending", by_service.get(svc)) for svc in expected]
    out += [StepProgress(s.service, "done", s) for s in steps if s.service not in expected]
    return out


def completed_at(expected: Sequence[str], steps: Sequence[Step]) -> datetime | None:
    """When the last expected step was done, once every one is; None before."""
    by_service = {s.service: s for s in steps}
    if any(svc not in by_service for svc in expected):
        return None
    return max((by_service[svc].completed_at for svc in expected), default=None)


def status(completed: datetime | None) -> ErasureStatus:
    return "in_progress" if completed is None else "completed"
