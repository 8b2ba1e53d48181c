"""Watching a scenario: readiness of every process, and whether each service makes progress.

Every `interval` seconds the monitor reads each live process's `/readyz`, each service's
committed offsets against the ends of the topics it consumes, its outbox backlog, and (for
notifications) the deliveries due and the emails sent. A service is *stuck* when it has work
(records behind, outbox rows, deliveries due) and none of its progress markers moved for
`stall_seconds` (the scale's `stuck_after`); `/readyz` *lied* for every sample in which a stuck service had a process
answering 200. Samples taken while the broker or the database cannot be read judge nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
import httpx

from bench.faults.broker import Broker, consumed_topics, service_names
from bench.faults.processes import ServiceProcess

log = logging.getLogger(__name__)

# Work some services do besides consuming, as (due now, still waiting, done so far): a service with
# work due and none of its markers moving is stuck; a run is quiet once nothing is waiting.
_JOBS_SQL = {
    # Messages to send: due (a lease ran out, or the next attempt is due), waiting, sent.
    "notifications": """
        SELECT count(*) FILTER (WHERE (status = 'pending' AND next_attempt_at <= now())
                                   OR (status = 'sending' AND lease_expires_at <= now())),
               count(*) FILTER (WHERE status IN ('pending', 'sending')),
               count(*) FILTER (WHERE status = 'sent')
        FROM notifications.deliveries""",
    # Value reviews: due now, due within two minutes (a company waits a moment after its travellers'
    # bookings), and evaluations published so far (versions only grow).
    "value": """
        SELECT (SELECT count(*) FROM value.reviews WHERE due_at <= now()),
               (SELECT count(*) FROM value.reviews WHERE due_at <= now() + interval '2 minutes'),
               (SELECT coalesce(sum(version), 0) FROM value.customer_value)
               + (SELECT coalesce(sum(version), 0) FROM value.company_value)""",
}


@dataclass
class Sample:
    at: float  # seconds since the scenario started
    ready: dict[str, bool | None]  # process -> /readyz 200, 503, or no answer
    behind: dict[str, int] | None = None  # service -> records behind the topics' ends
    committed: dict[str, int] | None = None  # service -> sum of committed offsets
    outbox: dict[str, int] | None = None
    jobs: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # service -> (due, waiting, done)


@dataclass
class ServiceWatch:
    """One service's progress markers and how long they have stood still while it had work."""

    marker: tuple[int, int, int, int] | None = None
    still_since: float | None = None
    stuck_seconds: float = 0.0
    lie_seconds: float = 0.0
    stuck_now: bool = False
    judged_at: float | None = None


@dataclass
class Monitor:
    broker: Broker
    dsn: str
    processes: Callable[[], list[ServiceProcess]]  # the scenario's processes right now
    started: float
    interval: float = 1.0
    stall_seconds: float = 30.0
    samples: list[Sample] = field(default_factory=list)
    services: tuple[str, ...] = field(default_factory=service_names)
    watch: dict[str, ServiceWatch] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.watch = self.watch or {s: ServiceWatch() for s in self.services}

    def now(self) -> float:
        return time.monotonic() - self.started

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        async with httpx.AsyncClient() as client:
            while True:
                begun = time.monotonic()
                try:
                    sample = await self.sample(client)
                    self.samples.append(sample)
                    self._judge(sample)
                except Exception:  # the monitor must outlive anything the faults do
                    log.debug("sample failed", exc_info=True)
                await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - begun)))

    async def sample(self, client: httpx.AsyncClient) -> Sample:
        procs = self.processes()
        states = await asyncio.gather(*(p.readiness(client) for p in procs))
        sample = Sample(at=self.now(), ready={p.name: s for p, s in zip(procs, states, strict=True)})
        with contextlib.suppress(Exception):
            topics = sorted({t for ts in consumed_topics().values() for t in ts})
            ends, progress = await asyncio.wait_for(
                asyncio.gather(self.broker.end_offsets(topics), self.broker.progress()), timeout=8
            )
            sample.behind, sample.committed = {}, {}
            for service, served in consumed_topics().items():
                mine = progress.get(service, {})
                sample.behind[service] = sum(
                    max(0, end - mine.get(tp, 0)) for tp, end in ends.items() if tp[0] in served
                )
                sample.committed[service] = sum(mine.values())
        with contextlib.suppress(Exception):
            conn = await asyncio.wait_for(asyncpg.connect(self.dsn, timeout=3), timeout=4)
            try:
                outboxes = " UNION ALL ".join(f"SELECT '{s}', count(*) FROM {s}.outbox" for s in self.services)
                sample.outbox = {r[0]: r[1] for r in await conn.fetch(outboxes, timeout=3)}
                for service, sql in _JOBS_SQL.items():
                    if service in self.services:
                        row = await conn.fetchrow(sql, timeout=3)
                        assert row is not None
                        sample.jobs[service] = (row[0], row[1], row[2])
            finally:
                await conn.close()
        return sample

    def _judge(self, sample: Sample) -> None:
        """Update each service's stuck time, and the time its /readyz said 200 while stuck."""
        if sample.behind is None or sample.committed is None or sample.outbox is None:
            return  # the broker or the database is away: nothing to judge by
        for service, w in self.watch.items():
            due, waiting, done = sample.jobs.get(service, (0, 0, 0))
            work = sample.behind[service] + sample.outbox.get(service, 0) + due
            marker = (sample.committed[service], sample.outbox.get(service, 0), done, waiting)
            step = sample.at - (w.judged_at if w.judged_at is not None else sample.at)
            w.judged_at = sample.at
            if work == 0 or marker != w.marker:
                w.marker, w.still_since = marker, sample.at
                w.stuck_now = False
                continue
            assert w.still_since is not None
            w.stuck_now = sample.at - w.still_since >= self.stall_seconds
            if w.stuck_now:  # counted from the threshold on: the services' own limit may be as long
                step = min(step, sample.at - w.still_since - self.stall_seconds)
                w.stuck_seconds += step
                if any(ok for name, ok in sample.ready.items() if name.startswith(service + "-")):
                    w.lie_seconds += step

    def stuck(self) -> list[str]:
        return [s for s, w in self.watch.items() if w.stuck_now]

    def last(self) -> Sample | None:
        return self.samples[-1] if self.samples else None


def quiet(sample: Sample | None) -> bool:
    """Nothing left to do anywhere: every topic consumed, every outbox empty, no message waiting."""
    return bool(
        sample is not None
        and sample.behind is not None
        and sample.outbox is not None
        and not any(sample.behind.values())
        and not any(sample.outbox.values())
        and not any(waiting for _, waiting, _ in sample.jobs.values())
    )
