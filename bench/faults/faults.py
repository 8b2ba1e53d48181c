"""The faults, and what a scenario run holds while they happen.

A fault does something to the running system and returns when it is over (the process is
restarted, the broker or the database is back, the records are on the broker). Restarting a
killed process at once is part of the fault: a supervisor (systemd, Kubernetes) does that
without anyone's help. Nothing else is ever done for the system: no dead letter is re-driven
and no process is restarted because it is stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.faults.broker import Broker, Sent
from bench.faults.infra import Infra
from bench.faults.poison import Poison
from bench.faults.processes import ServiceProcess, SmtpSink
from bench.faults.stream import StreamEvent

log = logging.getLogger(__name__)


STALL_MARGIN = 15.0


@dataclass(frozen=True)
class Scale:
    """How big a run is and how long each phase may take before it is reported as stalled."""

    name: str
    travellers: int
    feed_seconds: float  # the stream is spread over at least this long
    seconds_per_fault: float  # ... and over this long per fault that happens while it flows
    kills_per_service: int
    kill_all_at_once: bool  # one fault kills every service (bounded) rather than one fault per service
    broker_down: tuple[float, ...]  # one restart per entry, down for that many seconds
    postgres_down: tuple[float, ...]
    fault_timeout: float  # a fault not recovered from within this is a stall
    settle_timeout: float  # after the last fault, for everything to be done
    fault_budget: float = 1200.0  # all faults of a scenario; the ones left after it are skipped
    start_timeout: float = 180.0
    # The services' own limit (ITINERA_STALL_AFTER): a loop holding work this long without finishing
    # it makes /readyz answer 503. The harness calls a service stuck when none of its progress
    # markers moved for this long plus STALL_MARGIN (its samples are a second or two apart).
    stall_after: float = 30.0
    # The notifications dispatcher's lease (ITINERA_NOTIFICATIONS_DISPATCH_LEASE_SECONDS, 300 s by
    # default): messages a killed process had claimed are taken over by another once it runs out.
    # Shorter here, so that they go out within the run rather than five minutes later, but longer
    # than the longest database outage: a send whose outcome cannot be recorded is retried within
    # the lease, and a lease that ran out during the outage would send the message again.
    dispatch_lease: float = 90.0
    gap_seconds: float = 2.0

    @property
    def stuck_after(self) -> float:
        """No progress while there is work for this long: the harness calls the service stuck."""
        return self.stall_after + STALL_MARGIN


SCALES = {
    "full": Scale(
        name="full",
        travellers=800,
        feed_seconds=90,
        seconds_per_fault=20,
        kills_per_service=3,
        kill_all_at_once=False,
        broker_down=(5, 30),
        postgres_down=(5, 30),
        fault_timeout=150,
        settle_timeout=240,
    ),
    "bounded": Scale(
        name="bounded",
        travellers=60,
        feed_seconds=30,
        seconds_per_fault=8,
        kills_per_service=1,
        kill_all_at_once=True,
        broker_down=(3,),
        postgres_down=(3,),
        fault_timeout=45,
        fault_budget=300,
        settle_timeout=90,
        start_timeout=120,
        stall_after=15,
        dispatch_lease=30,
    ),
}


@dataclass
class Run:
    """One scenario's system: its database, topics, processes, mail server and the harness's clients."""

    name: str
    infra: Infra
    scale: Scale
    stream: list[StreamEvent]
    database: str
    prefix: str
    logs: Path
    smtp: SmtpSink
    broker: Broker
    processes: list[ServiceProcess] = field(default_factory=list)
    killed_for_good: set[str] = field(default_factory=set)
    poison_sent: list[tuple[Poison, Sent]] = field(default_factory=list)
    background: list[asyncio.Task[None]] = field(default_factory=list)  # what faults left running
    started: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        return time.monotonic() - self.started

    def expected_alive(self) -> list[ServiceProcess]:
        return [p for p in self.processes if p.name not in self.killed_for_good]

    def process(self, service: str, instance: int = 1) -> ServiceProcess:
        return next(p for p in self.processes if p.service == service and p.instance == instance)


@dataclass
class Fault:
    """Something that happens to the system; `apply` returns when it is over."""

    kind: str
    target: str
    after_feed: bool = False  # happens once the whole stream is on the broker (a re-send)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.target}".strip()

    async def apply(self, run: Run) -> None:
        raise NotImplementedError


@dataclass
class Sigkill(Fault):
    """SIGKILL a process of each of `services` mid-load (at the same moment); their supervisor
    starts them again at once."""

    services: tuple[str, ...] = ()
    instance: int = 1

    async def apply(self, run: Run) -> None:
        procs = [run.process(s, self.instance) for s in self.services]
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.start()


@dataclass
class KillOneOfTwo(Fault):
    """SIGKILL one of the two processes of each of `services` for good: the other must take over."""

    services: tuple[str, ...] = ()
    instance: int = 2

    async def apply(self, run: Run) -> None:
        for service in self.services:
            proc = run.process(service, self.instance)
            proc.kill()
            run.killed_for_good.add(proc.name)


async def _start_again(start: Callable[[], None], attempts: int = 3) -> None:
    """An engine's start script, again if it gave up waiting (a busy machine can be slow to start a JVM)."""
    for attempt in range(1, attempts + 1):
        try:
            await asyncio.to_thread(start)
            return
        except Exception:
            if attempt == attempts:
                raise
            log.warning("start failed (attempt %d), trying again", attempt)


@dataclass
class RestartBroker(Fault):
    down_seconds: float = 5.0

    async def apply(self, run: Run) -> None:
        """Over when the broker serves metadata again: its start script's own readiness probe (a JVM
        per try) can take minutes longer on a busy machine; it finishes in the background."""
        for earlier in run.background:  # a start still probing would start the broker stopped below again
            with contextlib.suppress(Exception):
                await earlier
        await asyncio.to_thread(run.infra.stop_kafka)
        await asyncio.sleep(self.down_seconds)
        script = asyncio.create_task(_start_again(run.infra.start_kafka))
        run.background.append(script)
        while not script.done():
            if await run.broker.answers():
                return
            await asyncio.sleep(0.5)
        script.result()  # raises if the broker could not be started


@dataclass
class RestartPostgres(Fault):
    down_seconds: float = 5.0

    async def apply(self, run: Run) -> None:
        await asyncio.to_thread(run.infra.stop_postgres)
        await asyncio.sleep(self.down_seconds)
        await _start_again(run.infra.start_postgres)


@dataclass
class InjectPoison(Fault):
    records: tuple[Poison, ...] = ()

    async def apply(self, run: Run) -> None:
        for poison in self.records:
            sent = await run.broker.send(
                poison.topic, poison.key, poison.value, poison.headers, compress=poison.compress
            )
            run.poison_sent.append((poison, sent))


@dataclass
class Resend(Fault):
    """Every event of the stream once more (a booking system replaying its log)."""

    async def apply(self, run: Run) -> None:
        for chunk in chunks(run.stream):
            await run.broker.send_events(chunk)


def chunks(events: list[StreamEvent], size: int = 50) -> list[list[StreamEvent]]:
    """Consecutive events, at most `size` a chunk and no key twice in one (so a booking's events keep their order)."""
    out: list[list[StreamEvent]] = [[]]
    keys: set[bytes] = set()
    for e in events:
        if e.key in keys or len(out[-1]) >= size:
            out.append([])
            keys = set()
        out[-1].append(e)
        keys.add(e.key)
    return [c for c in out if c]


def _names(services: tuple[str, ...]) -> str:
    return services[0] if len(services) == 1 else "every service"


FAULT_KINDS = ("sigkill", "broker-restart", "postgres-restart", "two-processes", "poison", "resend")


def faults_of(kind: str, scale: Scale, services: tuple[str, ...], poison: list[Poison]) -> list[Fault]:
    """The faults a kind stands for at a scale, in the order they happen."""
    groups = [services] if scale.kill_all_at_once else [(s,) for s in services]
    if kind == "sigkill":
        return [Sigkill("sigkill", _names(g), services=g) for _ in range(scale.kills_per_service) for g in groups]
    if kind == "broker-restart":
        return [RestartBroker("broker-restart", f"down {d:g}s", down_seconds=d) for d in scale.broker_down]
    if kind == "postgres-restart":
        return [RestartPostgres("postgres-restart", f"down {d:g}s", down_seconds=d) for d in scale.postgres_down]
    if kind == "two-processes":
        return [KillOneOfTwo("kill one of two", _names(g), services=g) for g in groups]
    if kind == "poison":
        return [InjectPoison("poison", f"{len(poison)} records", records=tuple(poison))]
    if kind == "resend":
        return [Resend("resend", "whole stream", after_feed=True)]
    raise ValueError(f"unknown fault {kind!r} (known: {', '.join(FAULT_KINDS)})")
