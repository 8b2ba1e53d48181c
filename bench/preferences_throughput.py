"""Sustained resolved-bookings/s through the preferences service into published snapshots.

A backlog of resolved bookings is put on `profile.bookings.v1` first; then the
preferences worker (`python -m services.preferences worker`, its own process) is
started and timed until every booking is processed and every resulting snapshot has
left the outbox for Kafka. Runs in a throwaway database and topic prefix.

Besides bookings/s it reports the CPU time per 1,000 bookings (from `/proc`) of the worker, of the
PostgreSQL backends and of the local Kafka broker, which depends much less than the rate on
whatever else the machine is running, and the load average.

    .venv/bin/python -m bench.preferences_throughput --bookings 100000 --customers 20000
    .venv/bin/python -m bench.preferences_throughput --bookings 20000 --customers 5000 --workers 2
    .venv/bin/python -m bench.preferences_throughput --bookings 20000 --customers 5000 --sealed

`--sealed`: the backlog sealed per customer, as profile publishes it (the worker opens every booking).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from bench.preferences_common import (
    booking,
    customers,
    encoded,
    machine,
    start_workers,
    stop_workers,
)
from bench.shared import broker_cpu_seconds, cpu_seconds, database_cpu_seconds, ensure_partitions, load_average
from services.kit.contracts.topics import topic_spec
from tests.harness import KAFKA, create_env, drop_env


async def produce_backlog(topic: str, n: int, ids: list[str], rng: random.Random, *, sealer: Any = None) -> None:
    """N resolved bookings; with `sealer`, sealed as profile's producer seals them (a key per customer)."""
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        for start in range(0, n, 5000):
            rows = [(topic, *encoded(booking(rng.choice(ids), rng))) for _ in range(start, min(n, start + 5000))]
            if sealer is not None:
                rows = await sealer.seal_rows(rows)
            await asyncio.gather(
                *[await producer.send(topic, value=value, key=key, headers=headers) for _, key, value, headers in rows]
            )
            if start:
                print(f"  produced {start}")
    finally:
        await producer.stop()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bookings", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=480.0)
    parser.add_argument("--batch-size", type=int, default=1000, help="the worker's consumer_batch_size")
    parser.add_argument("--workers", type=int, default=1, help="worker processes in the consumer group")
    parser.add_argument(
        "--partitions",
        type=int,
        default=topic_spec("profile.bookings.v1").partitions,
        help="partitions of the booking topic (grown to this many if it has fewer; default: the topic catalogue's)",
    )
    parser.add_argument("--worker-root", type=Path, default=None, help="run the worker from this checkout")
    parser.add_argument("--sealed", action="store_true", help="the backlog sealed, as profile publishes it")
    args = parser.parse_args()
    rng = random.Random(7)
    env = await create_env()
    procs: list[subprocess.Popen[bytes]] = []
    load_before = load_average()
    try:
        ids = customers(args.customers)
        partitions = await ensure_partitions(
            env.topic_prefix + "profile.bookings.v1", args.partitions, bootstrap_servers=KAFKA
        )
        started = time.perf_counter()
        sealer = await env.sealer() if args.sealed else None
        await produce_backlog(env.topic_prefix + "profile.bookings.v1", args.bookings, ids, rng, sealer=sealer)
        took = time.perf_counter() - started
        sealed = " (sealed)" if args.sealed else ""
        print(f"backlog of {args.bookings} bookings{sealed} for {args.customers} customers in {took:.1f}s")
        conn = await env.admin_connect()
        procs = start_workers(
            env, count=args.workers, batch_size=args.batch_size, log_name="preferences-throughput",
            root=args.worker_root,
        )  # fmt: skip
        t0 = time.perf_counter()
        samples: list[tuple[float, int]] = []
        first = None
        cpu_at_first: list[float | None] = []
        db_cpu_at_first: float | None = None
        broker_at_first: float | None = None
        while True:
            await asyncio.sleep(0.5)
            for proc in procs:
                if proc.poll() is not None:
                    raise SystemExit(f"worker exited with {proc.returncode}; see its log in the temp directory")
            try:
                processed = await conn.fetchval(
                    "SELECT count(*) FROM preferences.processed_events WHERE consumer = 'preferences.bookings'"
                )
                outbox = await conn.fetchval("SELECT count(*) FROM preferences.outbox")
            except asyncpg.UndefinedTableError:
                continue  # the worker has not migrated yet
            now = time.perf_counter() - t0
            if processed and first is None:
                first = now
                cpu_at_first = [cpu_seconds(p.pid) for p in procs]  # start-up (imports, migrations) excluded
                db_cpu_at_first = await database_cpu_seconds(conn, env.database)
                broker_at_first = broker_cpu_seconds()
            samples.append((now, processed))
            if processed >= args.bookings and outbox == 0:
                break
            if now > args.timeout:
                print(f"timeout: {processed} processed, {outbox} in the outbox")
                break
        elapsed = samples[-1][0]
        cpu_at_end = [cpu_seconds(p.pid) for p in procs]
        db_cpu_at_end = await database_cpu_seconds(conn, env.database)
        broker_at_end = broker_cpu_seconds()
        load_after = load_average()
        snapshots = await conn.fetchval("SELECT coalesce(sum(version), 0) FROM preferences.customers")
        await conn.close()
        done = samples[-1][1]
        # Steady state: from 10 % to 90 % of the backlog processed (excludes start-up and the tail).
        lo = next(s for s in samples if s[1] >= 0.1 * done)
        hi = next(s for s in samples if s[1] >= 0.9 * done)
        steady = (hi[1] - lo[1]) / (hi[0] - lo[0]) if hi[0] > lo[0] else float("nan")
        print()
        print(f"machine:            {machine()}")
        print(f"bookings processed: {done} for {args.customers} customers")
        print(f"snapshots published:{snapshots:>8}")
        print(f"time to drain:      {elapsed:.1f}s (first booking handled after {first or 0:.1f}s of start-up)")
        print(f"overall:            {done / (elapsed - (first or 0)):.0f} bookings/s (start-up excluded)")
        print(f"steady state:       {steady:.0f} bookings/s (10 %..90 % of the backlog)")
        print(f"snapshots/s:        {snapshots / (elapsed - (first or 0)):.0f}")
        if cpu_at_first and None not in cpu_at_first and None not in cpu_at_end:
            cpu = sum(e - b for e, b in zip(cpu_at_end, cpu_at_first, strict=True))  # type: ignore[operator]
            print(f"worker CPU:         {cpu:.1f}s = {1000 * cpu / done:.2f}s per 1,000 bookings")
        if db_cpu_at_first is not None and db_cpu_at_end is not None:
            db_cpu = db_cpu_at_end - db_cpu_at_first
            print(f"PostgreSQL CPU:     {db_cpu:.1f}s = {1000 * db_cpu / done:.2f}s per 1,000 bookings (its backends)")
        if broker_at_first is not None and broker_at_end is not None:
            broker = broker_at_end - broker_at_first
            print(f"Kafka broker CPU:   {broker:.1f}s = {1000 * broker / done:.2f}s per 1,000 bookings (all its work)")
        print(f"settings:           {args.workers} worker process(es), consumer batch size {args.batch_size},"
              f" {partitions} booking partitions")  # fmt: skip
        if args.worker_root is not None:
            print("worker:             run from another checkout (--worker-root)")
        print(f"load average:       {load_before} before, {load_after} after (1, 5, 15 min)")
    finally:
        await stop_workers(procs)
        await drop_env(env)


if __name__ == "__main__":
    asyncio.run(main())
