"""Freshness: from a resolved booking to the updated snapshot visible in a customer-view reader.

Resolved bookings are published at a fixed rate (default 2,000/s) for a fixed time onto
`profile.bookings.v1`, each stamped with its send time, by a load generator in its own process
(the bookings are built before it starts sending; only their times are filled in as they go).
The preferences worker runs as its own process; a customer-view reader (the kit's
`customer_view_consumer()`, the same code every service uses) runs in this process. A trigger
the benchmark puts on the reader's table (not part of the service) announces every snapshot
version the reader writes with a NOTIFY, which PostgreSQL delivers when the reader's transaction
commits, that is, when the version becomes visible to the reader's service; a listener notes the
time it arrives. Polling the table instead cost PostgreSQL a quarter of a core at 2,000/s,
taken from what is measured. For each snapshot version that became visible, freshness is
`time the notification arrived - send time of the newest booking it reflects` (the snapshot's
`last_event_at`). The first seconds (warm-up) are not counted.

The latency is also broken down by stage, from timestamps every snapshot carries or
leaves behind (one clock: everything runs on this machine):

- worker picks up: booking sent -> the worker's batch handler starts (`updated_at` of the snapshot);
- handler + commit + publish: -> the snapshot's Kafka record timestamp (set when it is handed to
  the producer: right after the commit, or by the outbox relay), read by a side consumer of the
  snapshot topic;
- view reader applies: -> `applied_at` in the reader's `customer_view` row;
- reader commit + notification: -> the commit's notification arrived.

    .venv/bin/python -m bench.preferences_freshness --rate 2000 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.preferences_common import (
    ROOT,
    booking,
    encoded,
    machine,
    percentile,
    start_workers,
    stop_workers,
)
from bench.shared import broker_cpu_seconds, cpu_seconds, database_cpu_seconds, ensure_partitions, load_average
from services.kit.contracts.topics import topic_spec
from services.kit.runtime import ServiceDefinition, ServiceRuntime
from services.kit.settings import ServiceSettings
from services.kit.view import customer_view_consumer
from tests.harness import KAFKA, TestEnv, create_env, drop_env

# When a booking is sent, this time (in every place the booking carries its time) becomes the
# send time: the bookings are built before the run, so building them costs the run nothing.
PLACEHOLDER = datetime(2000, 1, 1, 0, 0, 0, 123457, tzinfo=UTC)
PLACEHOLDER_JSON = b"2000-01-01T00:00:00.123457Z"


def _time_json(at: datetime) -> bytes:
    """`at` (UTC) spelt as pydantic spells it, always with microseconds (the placeholder's length)."""
    return at.replace(microsecond=at.microsecond or 1).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()


async def generate(topic: str, *, rate: int, seconds: float, customers_count: int, seed: int) -> None:
    """Publish `rate` bookings a second for `seconds` (run in its own process: `generate`).

    Prints `start <unix time>` when sending begins and `sent <count> <achieved rate>` at the end.
    """
    rng = random.Random(seed)
    ids = [f"cus_{rng.getrandbits(128):032x}" for _ in range(customers_count)]
    planned = []
    for _ in range(int(rate * seconds) + rate):
        key, value, headers = encoded(booking(rng.choice(ids), rng, occurred_at=PLACEHOLDER))
        assert PLACEHOLDER_JSON in value
        planned.append((key, value, headers))
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", linger_ms=2)
    await producer.start()
    sent = 0
    tick = 0.01
    start = time.perf_counter()
    print(f"start {time.time()}", flush=True)
    try:
        while (now := time.perf_counter() - start) < seconds:
            due = int(now * rate) - sent
            futures = []
            stamp = _time_json(datetime.now(UTC))
            for key, value, headers in planned[sent : sent + max(0, due)]:
                futures.append(await producer.send(topic, value=value.replace(PLACEHOLDER_JSON, stamp), key=key,
                                                   headers=headers))  # fmt: skip
            sent += len(futures)
            if futures:
                await asyncio.gather(*futures)
            await asyncio.sleep(tick)
    finally:
        await producer.stop()
    print(f"sent {sent} {sent / (time.perf_counter() - start)}", flush=True)


@dataclass(frozen=True)
class Seen:
    """One snapshot version as the poller saw it (unix seconds)."""

    at: float  # its commit's notification arrived
    sent: float  # the newest booking it reflects was sent
    handled: float  # the worker's batch handler started (snapshot updated_at)
    applied: float  # applied in the reader's view
    event_id: str


_ANNOUNCE = """
CREATE FUNCTION "{schema}".bench_announce() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    chunk text;
BEGIN
    -- One line per preferences snapshot written: customer, version, event id, the newest booking's
    -- time, the handler's time, the reader's applied_at; 40 lines a notification (8,000 bytes at most).
    FOR chunk IN
        SELECT string_agg(line, E'\\n') FROM (
            SELECT concat_ws(' ', customer_id, version, event_id, snapshot->>'last_event_at',
                             snapshot->>'updated_at', extract(epoch FROM applied_at)) AS line,
                   (row_number() OVER ()) / 40 AS part
              FROM written WHERE kind = 'preferences' AND snapshot IS NOT NULL) lines
         GROUP BY part
    LOOP
        PERFORM pg_notify('bench_view', chunk);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER bench_announce_insert AFTER INSERT ON "{schema}".customer_view
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".bench_announce();
CREATE TRIGGER bench_announce_update AFTER UPDATE ON "{schema}".customer_view
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".bench_announce();
"""


def listen(out: list[Seen]) -> Callable[..., None]:
    """The NOTIFY callback: every snapshot version the reader committed, with the time it arrived."""
    seen: set[tuple[str, int]] = set()

    def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        now = time.time()
        for line in payload.split("\n"):
            parts = line.split(" ")
            if len(parts) != 6:  # a snapshot without times (not the worker's)
                continue
            cid, version, event_id, src, handled, applied = parts
            if (cid, int(version)) in seen:
                continue
            seen.add((cid, int(version)))
            out.append(
                Seen(
                    at=now,
                    sent=datetime.fromisoformat(src).timestamp(),
                    handled=datetime.fromisoformat(handled).timestamp(),
                    applied=float(applied),
                    event_id=event_id,
                )
            )

    return on_notify


async def record_publication(topic: str, stop: asyncio.Event, out: dict[str, float]) -> None:
    """Kafka record timestamp of every snapshot, by event id, from its headers: no parsing."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=KAFKA, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            for messages in batch.values():
                for m in messages:
                    event_id = dict(m.headers or ()).get("event_id")
                    if event_id is not None:
                        out[event_id.decode()] = m.timestamp / 1000
    finally:
        await consumer.stop()


async def _other_cpu(env: TestEnv) -> tuple[float | None, float | None, float | None]:
    """CPU seconds so far of the database's backends, the local broker, and this process (the
    view reader, the notification listener, the publication recorder)."""
    conn = await env.admin_connect()
    try:
        backends = await database_cpu_seconds(conn, env.database)
    finally:
        await conn.close()
    return backends, broker_cpu_seconds(), cpu_seconds(os.getpid())


def _stage(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    p50, p90, p99 = (percentile(ms, q) for q in (0.5, 0.9, 0.99))
    return f"  {name:28s} p50 {p50:7.0f} ms   p90 {p90:7.0f} ms   p99 {p99:7.0f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--batch-size", type=int, default=1000, help="the worker's consumer_batch_size")
    parser.add_argument("--workers", type=int, default=1, help="worker processes in the consumer group")
    parser.add_argument("--worker-root", type=Path, default=None, help="run the worker from this checkout")
    parser.add_argument(
        "--partitions",
        type=int,
        default=topic_spec("profile.bookings.v1").partitions,
        help="partitions of the booking topic (grown to this many if it has fewer; default: the topic catalogue's)",
    )
    args = parser.parse_args()
    rng = random.Random(11)
    env = await create_env()
    procs: list[subprocess.Popen[bytes]] = []
    reader: ServiceRuntime | None = None
    load_before = load_average()
    try:
        schema = f"benchview_{uuid.uuid4().hex[:6]}"
        admin = await env.admin_connect()
        await admin.execute(f'CREATE SCHEMA "{schema}" AUTHORIZATION itinera_preferences')
        await admin.close()
        settings = env.settings(
            ServiceSettings, service_name=schema, pg_user="itinera_preferences", log_level="WARNING"
        )
        reader = ServiceRuntime(
            ServiceDefinition(settings=settings, migrations="services.kit", consumers=[customer_view_consumer()])
        )
        partitions = await ensure_partitions(
            env.topic_prefix + "profile.bookings.v1", args.partitions, bootstrap_servers=KAFKA
        )
        await reader.start(workers=True, create_topics=False)
        await reader.wait_assigned(timeout=60)
        admin = await env.admin_connect()
        await admin.execute(_ANNOUNCE.replace("{schema}", schema))
        await admin.close()
        procs = start_workers(
            env, count=args.workers, batch_size=args.batch_size, log_name="preferences-freshness",
            root=args.worker_root,
        )  # fmt: skip
        await asyncio.sleep(8)  # the worker migrates and joins its group
        samples: list[Seen] = []
        published: dict[str, float] = {}
        stop = asyncio.Event()
        on_notify = listen(samples)
        async with reader.pool.acquire() as listener:
            await listener.add_listener("bench_view", on_notify)
            side = asyncio.create_task(
                record_publication(env.topic_prefix + "preferences.snapshots.v1", stop, published)
            )
            # The load generator is not part of what is measured: its own process, bookings built
            # before it starts sending (it still shares the two cores).
            generator = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.preferences_freshness", "generate",
                env.topic_prefix + "profile.bookings.v1", str(args.rate), str(args.seconds), str(args.customers),
                str(rng.randrange(1 << 30)), stdout=asyncio.subprocess.PIPE, cwd=ROOT,
            )  # fmt: skip
            assert generator.stdout is not None
            begin = float((await generator.stdout.readline()).split()[1])
            cpu_before = [cpu_seconds(p.pid) for p in procs]
            others_before = await _other_cpu(env)
            _, sent_text, achieved_text = (await generator.stdout.readline()).split()
            sent, achieved = int(sent_text), float(achieved_text)
            cpu_after = [cpu_seconds(p.pid) for p in procs]
            others_after = await _other_cpu(env)
            if await generator.wait() != 0:
                raise SystemExit("the load generator failed")
            await asyncio.sleep(5)  # let the tail drain
            stop.set()
            with contextlib.suppress(Exception):
                await side
            await listener.remove_listener("bench_view", on_notify)
        load_after = load_average()
        window = [s for s in samples if args.warmup <= s.at - begin <= args.seconds]
        counted = [s.at - s.sent for s in window]
        print(f"machine:        {machine()}")
        offered = f"{args.rate}/s for {args.seconds:.0f}s to {args.customers} customers"
        print(f"offered:        {offered}; sent {sent} ({achieved:.0f}/s)")
        print(f"settings:       {args.workers} worker process(es), consumer batch size {args.batch_size},"
              f" {partitions} booking partitions")  # fmt: skip
        print(f"snapshots seen: {len(samples)} ({len(counted)} after {args.warmup:.0f}s warm-up)")
        spent = [a - b for a, b in zip(cpu_after, cpu_before, strict=True) if a is not None and b is not None]
        if len(spent) == len(procs):
            print(f"worker CPU:     {1000 * sum(spent) / sent:.2f} ms per booking while sending (all workers)")
        shares = [
            f"{name} {1000 * (after - before) / sent:.2f}"
            for name, before, after in zip(("PostgreSQL", "broker", "reader and instruments"), others_before,
                                           others_after, strict=True)
            if before is not None and after is not None
        ]  # fmt: skip
        print(f"other CPU:      {', '.join(shares)} ms per booking while sending")
        print(f"freshness p50:  {percentile(counted, 0.50) * 1000:.0f} ms")
        print(f"freshness p90:  {percentile(counted, 0.90) * 1000:.0f} ms")
        print(f"freshness p99:  {percentile(counted, 0.99) * 1000:.0f} ms")
        print(f"freshness max:  {max(counted) * 1000 if counted else float('nan'):.0f} ms")
        middle = begin + (args.warmup + args.seconds) / 2
        early = [s.at - s.sent for s in window if s.at < middle]
        late = [s.at - s.sent for s in window if s.at >= middle]
        trend = f"{percentile(early, 0.5) * 1000:.0f} ms, then {percentile(late, 0.5) * 1000:.0f} ms"
        print(f"p50 by half:    {trend} (growing: the worker or the reader falls behind)")
        staged = [s for s in window if s.event_id in published]
        print(f"by stage ({len(staged)} snapshots):")
        print(_stage("worker picks up", [s.handled - s.sent for s in staged]))
        print(_stage("handler + commit + publish", [published[s.event_id] - s.handled for s in staged]))
        print(_stage("view reader applies", [s.applied - published[s.event_id] for s in staged]))
        print(_stage("reader commit + notification", [s.at - s.applied for s in staged]))
        if args.worker_root is not None:
            print("worker:         run from another checkout (--worker-root)")
        print(f"load average:   {load_before} before, {load_after} after (1, 5, 15 min)")
    finally:
        await stop_workers(procs)
        if reader is not None:
            await reader.stop()
        await drop_env(env)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "generate":
        topic, rate, seconds, customers_count, seed = sys.argv[2:7]
        asyncio.run(generate(topic, rate=int(rate), seconds=float(seconds), customers_count=int(customers_count),
                             seed=int(seed)))  # fmt: skip
    else:
        asyncio.run(main())
