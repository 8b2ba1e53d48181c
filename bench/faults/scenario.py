"""One scenario: a fresh system, the stream fed at a steady rate, faults while it flows, the final state.

Time to recover, per fault: from the moment the fault is over (the killed process restarted,
the broker or the database answering again, the poison records or the re-sent stream on the
broker) until every process that should be running answers `/readyz` with 200 *and* every
service's consumers have committed everything that was on their topics at that moment. A fault
not recovered from within the scale's `fault_timeout` is reported as a stall, and the next
fault follows anyway.

After the last fault and the end of the stream the scenario settles: it waits until every topic
is consumed, every outbox is empty and no message waits to be sent (or `settle_timeout`
passes: a stall), then reads every store and every dead-letter topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from bench.faults.broker import Broker, TopicOffsets, code_root, consumed_topics, service_names
from bench.faults.faults import Fault, Run, Scale, chunks
from bench.faults.infra import Infra, create_database, create_topics, drop_database
from bench.faults.observe import Monitor, quiet
from bench.faults.processes import ServiceProcess, SmtpSink, service_env, wait_ready
from bench.faults.state import Stores, snapshot
from bench.faults.stream import StreamEvent
from bench.shared import cpu_seconds, database_cpu_seconds
from services.kit.dlq import DeadLetter

log = logging.getLogger(__name__)


@dataclass
class Recovery:
    fault: str
    at: float  # seconds into the scenario when the fault was over
    took: float  # how long the fault itself took (down time included)
    ready_after: float | None = None
    caught_up_after: float | None = None
    recovered_after: float | None = None  # None: stalled
    not_ready: list[str] = field(default_factory=list)  # at the time limit, for a stall
    failing_checks: dict[str, list[str]] = field(default_factory=dict)  # ditto: what their /readyz names
    partitions_waiting: dict[str, int] = field(default_factory=dict)  # ditto, per service
    skipped: bool = False  # not run: the scenario's time budget was spent
    error: str | None = None  # the fault itself went wrong (e.g. the broker did not come back in time)

    @property
    def stalled(self) -> bool:
        return self.recovered_after is None and not self.skipped


@dataclass
class ScenarioResult:
    name: str
    faults: list[str]
    recoveries: list[Recovery] = field(default_factory=list)
    settled_after: float | None = None  # None: never quiet within settle_timeout
    stuck_at_end: list[str] = field(default_factory=list)
    died: list[str] = field(default_factory=list)  # processes that exited without being killed
    not_ready_at_end: list[str] = field(default_factory=list)  # alive, but /readyz not 200 once all is done
    stores: Stores = field(default_factory=dict)
    emails: dict[str, Any] = field(default_factory=dict)
    dead_letters: dict[str, list[DeadLetter]] = field(default_factory=dict)
    poison: list[tuple[Any, Any]] = field(default_factory=list)
    stuck_seconds: dict[str, float] = field(default_factory=dict)
    lie_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # from ready to settled: services, postgres, broker
    unsettled: dict[str, Any] = field(default_factory=dict)  # what was left to do when settling timed out


async def _all_ready(run: Run, client: httpx.AsyncClient) -> bool:
    states = await asyncio.gather(*(p.readiness(client) for p in run.expected_alive()))
    return all(s is True for s in states)


async def _ends(run: Run, deadline: float) -> dict[tuple[str, int], int] | None:
    """The end offsets of every consumed topic, as soon as the broker answers (None at the deadline)."""
    topics = sorted({t for ts in consumed_topics().values() for t in ts})
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            return await asyncio.wait_for(run.broker.end_offsets(topics), timeout=8)
        await asyncio.sleep(0.5)
    return None


def _resumed(progress: dict[str, TopicOffsets], targets: TopicOffsets, ends: TopicOffsets) -> dict[str, int]:
    """Per service, the partitions not yet back to work: behind what was there when the fault ended,
    or not yet past the first record that arrived after it."""
    out = {}
    for service, served in consumed_topics().items():
        mine = progress.get(service, {})
        out[service] = sum(
            1
            for tp, target in targets.items()
            if tp[0] in served
            and (mine.get(tp, 0) < target or (ends.get(tp, target) > target and mine.get(tp, 0) <= target))
        )
    return out


async def measure_recovery(run: Run, fault: Fault, over_at: float, took: float, timeout: float) -> Recovery:
    """Wait until every process is ready and every partition is back to work (see the module's docstring)."""
    result = Recovery(fault=fault.label, at=over_at, took=round(took, 1))
    deadline = time.monotonic() + timeout
    targets = await _ends(run, deadline)
    ready_since: float | None = None
    waiting: dict[str, int] = {}
    async with httpx.AsyncClient() as client:
        while targets is not None and time.monotonic() < deadline:
            now = run.now()
            states = await asyncio.gather(*(p.readiness(client) for p in run.expected_alive()))
            result.not_ready = [p.name for p, ok in zip(run.expected_alive(), states, strict=True) if ok is not True]
            ready_since = (ready_since if ready_since is not None else now) if not result.not_ready else None
            if result.caught_up_after is None:
                with contextlib.suppress(Exception):
                    ends, progress = await asyncio.wait_for(
                        asyncio.gather(_ends(run, deadline), run.broker.progress()), timeout=10
                    )
                    assert ends is not None
                    waiting = {s: n for s, n in _resumed(progress, targets, ends).items() if n}
                    if not waiting:
                        result.caught_up_after = round(run.now() - over_at, 1)
            if ready_since is not None and result.caught_up_after is not None:
                result.ready_after = round(ready_since - over_at, 1)
                result.recovered_after = max(result.ready_after, result.caught_up_after)
                result.not_ready = []
                return result
            await asyncio.sleep(0.5)
    result.partitions_waiting = waiting
    async with httpx.AsyncClient() as client:  # which of their checks the unready processes fail
        for proc in run.expected_alive():
            if proc.name in result.not_ready:
                result.failing_checks[proc.name] = await proc.failing_checks(client)
    log.warning("%s: not recovered within %.0fs (not ready: %s; partitions waiting: %s)",
                fault.label, timeout, result.failing_checks or result.not_ready, waiting)  # fmt: skip
    return result


async def _feed(run: Run, seconds: float, release: asyncio.Event, reserve: float = 0.25) -> None:
    """The stream at a steady rate over `seconds`. Its last `reserve` is kept for while faults remain
    (until `release`): it trickles in, an event a second, so that every fault happens while events
    flow however long the faults take; the rest follows at the steady rate once they are over."""
    events = run.stream
    per_event = seconds / max(1, len(events))
    kept = int(len(events) * (1 - reserve))
    n = 0
    while n < len(events):
        begun = time.monotonic()
        if n >= kept and not release.is_set():
            await run.broker.send_events(events[n : n + 1])
            n += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(release.wait(), timeout=1.0)
            continue
        chunk = chunks(events[n : n + 10], size=10)[0]  # up to ten, no booking twice
        await run.broker.send_events(chunk)
        n += len(chunk)
        await asyncio.sleep(max(0.0, per_event * len(chunk) - (time.monotonic() - begun)))


async def _settle(run: Run, monitor: Monitor) -> float | None:
    """Seconds until nothing is left to do (three quiet samples in a row); None after settle_timeout."""
    begun = time.monotonic()
    quiet_in_a_row = 0
    seen = len(monitor.samples)
    while time.monotonic() - begun < run.scale.settle_timeout:
        await asyncio.sleep(0.5)
        if len(monitor.samples) == seen:
            continue
        seen = len(monitor.samples)
        quiet_in_a_row = quiet_in_a_row + 1 if quiet(monitor.last()) else 0
        if quiet_in_a_row >= 3:
            return round(time.monotonic() - begun, 1)
    return None


async def run_scenario(
    infra: Infra,
    *,
    name: str,
    scale: Scale,
    stream: list[StreamEvent],
    faults: list[Fault],
    processes_per_service: int = 1,
    extra_env: dict[str, Any] | None = None,
    keep: bool = False,
    static_membership: bool = False,
) -> ScenarioResult:
    """Run the stream through a fresh system with `faults`, and read its final state."""
    database, prefix = f"faults_{name.replace('-', '_')}", f"{name}."
    await create_database(infra, database)
    await asyncio.to_thread(create_topics, infra, prefix, code_root())
    smtp = SmtpSink()
    smtp.start()
    run = Run(
        name,
        infra,
        scale,
        stream,
        database,
        prefix,
        infra.state_dir / "logs" / name,
        smtp,
        Broker(infra.bootstrap, prefix),
    )
    env = service_env(
        infra.env(),
        database=database,
        topic_prefix=prefix,
        smtp_port=smtp.port,
        extra={
            "ITINERA_STALL_AFTER": scale.stall_after,
            "ITINERA_NOTIFICATIONS_DISPATCH_LEASE_SECONDS": scale.dispatch_lease,
            **(extra_env or {}),
        },
    )
    for instance in range(1, processes_per_service + 1):
        for service in service_names():
            log_path = run.logs / f"{service}-{instance}.log"
            run.processes.append(
                ServiceProcess(service, instance, env, log_path, code=code_root(), static_membership=static_membership)
            )
    result = ScenarioResult(name=name, faults=[f.label for f in faults])
    monitor = Monitor(run.broker, infra.dsn(database), run.expected_alive, run.started, stall_seconds=scale.stuck_after)
    begun = time.monotonic()
    try:
        for proc in run.processes:
            proc.start()
        async with httpx.AsyncClient() as client:
            if not await wait_ready(run.processes, client, scale.start_timeout):
                raise RuntimeError(f"{name}: the services did not get ready within {scale.start_timeout:.0f}s")
        log.info("%s: %d processes ready after %.1fs", name, len(run.processes), time.monotonic() - begun)
        cpu_at_start = await _cpu(run)
        monitor.start()
        faults_until = time.monotonic() + scale.fault_budget
        during = [f for f in faults if not f.after_feed]
        release = asyncio.Event()
        feed_seconds = max(scale.feed_seconds, scale.seconds_per_fault * len(during))
        feeding = asyncio.create_task(_feed(run, feed_seconds, release))
        try:
            await asyncio.sleep(min(10.0, feed_seconds * 0.1) if during else 0)
            for fault in during:
                result.recoveries.append(await _one(run, fault, faults_until))
            release.set()
            await feeding
        finally:
            release.set()
            if not feeding.done():
                feeding.cancel()
        for fault in faults:
            if fault.after_feed:
                result.recoveries.append(await _one(run, fault, faults_until))
        result.settled_after = await _settle(run, monitor)
        if result.settled_after is None:
            result.unsettled = await _left_to_do(run, monitor)
        result.stuck_at_end = monitor.stuck() if result.settled_after is None else []
        result.died = [p.name for p in run.expected_alive() if not p.alive]
        if not faults:  # with processes killed and restarted, their CPU cannot be added up
            cpu_at_end = await _cpu(run)
            result.cpu_seconds = {k: round(cpu_at_end[k] - cpu_at_start[k], 2) for k in cpu_at_start}
        async with httpx.AsyncClient() as client:
            alive = [p for p in run.expected_alive() if p.alive]
            states = await asyncio.gather(*(p.readiness(client) for p in alive))
            result.not_ready_at_end = [p.name for p, ok in zip(alive, states, strict=True) if ok is not True]
        await monitor.stop()
        result.stores, result.emails = await snapshot(infra.dsn(database), smtp.emails)
        result.dead_letters = {s: await run.broker.dead_letters(s) for s in service_names()}
        result.poison = list(run.poison_sent)
        result.stuck_seconds = {s: round(w.stuck_seconds, 1) for s, w in monitor.watch.items()}
        result.lie_seconds = {s: round(w.lie_seconds, 1) for s, w in monitor.watch.items()}
    finally:
        await monitor.stop()
        for task in run.background:  # e.g. a broker start script still probing
            with contextlib.suppress(Exception):
                await task
        for proc in run.processes:
            await asyncio.to_thread(proc.stop)
        smtp.stop()
        if not keep:  # a broker restart in a later scenario should not have to load this one's topics
            with contextlib.suppress(Exception):
                await run.broker.delete_topics()
            with contextlib.suppress(Exception):
                await drop_database(infra, database)
        await run.broker.close()
        result.seconds = round(time.monotonic() - begun, 1)
    return result


async def _left_to_do(run: Run, monitor: Monitor) -> dict[str, Any]:
    """What kept the system from being quiet: the last sample, and the messages still waiting."""
    last = monitor.last()
    out: dict[str, Any] = {"last_sample": dataclasses.asdict(last) if last is not None else None}
    with contextlib.suppress(Exception):
        conn = await asyncpg.connect(run.infra.dsn(run.database))
        try:
            rows = await conn.fetch(
                "SELECT template, status, hold_reason, count(*) AS n FROM notifications.deliveries"
                " WHERE status IN ('pending', 'sending') GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 10"
            )
            out["deliveries_waiting"] = [dict(r) for r in rows]
            if await conn.fetchval("SELECT to_regclass('value.reviews')") is not None:
                out["value_reviews_due"] = await conn.fetchval(
                    "SELECT count(*) FROM value.reviews WHERE due_at <= now() + interval '2 minutes'"
                )
        finally:
            await conn.close()
    return out


async def _cpu(run: Run) -> dict[str, float]:
    """CPU seconds used so far by the service processes, the scenario
    database's backends and the broker (0 where unreadable)."""
    services = 0.0
    for proc in run.processes:
        if proc.pid is not None:
            services += cpu_seconds(proc.pid) or 0.0
    conn = await asyncpg.connect(run.infra.dsn(run.database))
    try:
        postgres = await database_cpu_seconds(conn, run.database) or 0.0
    finally:
        await conn.close()
    pid = run.infra.kafka_pid()
    broker = (cpu_seconds(pid) or 0.0) if pid is not None else 0.0
    return {"services": services, "postgres": postgres, "broker": broker}


async def _one(run: Run, fault: Fault, budget_ends: float) -> Recovery:
    """Apply a fault and measure the recovery from it; skipped when the scenario's budget is spent."""
    left = budget_ends - time.monotonic()
    if left <= 0:
        log.warning("%s: %s not run: the time budget is spent", run.name, fault.label)
        return Recovery(fault=fault.label, at=run.now(), took=0.0, skipped=True)
    log.info("%s: %s at %.1fs", run.name, fault.label, run.now())
    begun = time.monotonic()
    error = None
    try:
        await fault.apply(run)
    except Exception as exc:  # reported with the fault; the system is watched as it is
        log.warning("%s: %s went wrong: %s", run.name, fault.label, exc)
        error = f"{type(exc).__name__}: {exc}"
    timeout = min(run.scale.fault_timeout, max(10.0, left))
    recovery = await measure_recovery(run, fault, run.now(), time.monotonic() - begun, timeout)
    recovery.error = error
    log.info("%s: %s recovered after %s", run.name, fault.label, recovery.recovered_after)
    await asyncio.sleep(run.scale.gap_seconds)
    return recovery
