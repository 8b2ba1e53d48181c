"""Freshness: from a resolved booking to the updated snapshot visible in a customer-view reader.

Resolved bookings are published at a fixed rate (default 2,000/s) for a fixed time onto
`profile.bookings.v1`, each stamped with its send time. The preferences worker runs as
its own process; a customer-view reader (the kit's `customer_view_consumer()`, the same
code every service uses) runs in this process, and a poller reads the reader's table
every 20 ms. For each snapshot version that became visible, freshness is
`time seen by the poller - send time of the newest booking it reflects` (the
snapshot's `last_event_at`); the poller's interval makes these figures upper bounds.
The first seconds (warm-up) are not counted.

    .venv/bin/python -m bench.preferences_freshness --rate 2000 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import asyncpg
from aiokafka import AIOKafkaProducer

from bench.preferences_common import booking, customers, encoded, machine, percentile, start_worker, stop_worker
from services.kit.runtime import ServiceDefinition, ServiceRuntime
from services.kit.settings import ServiceSettings
from services.kit.view import customer_view_consumer
from tests.harness import KAFKA, create_env, drop_env


async def generate(topic: str, *, rate: int, seconds: float, ids: list[str], rng: random.Random) -> tuple[int, float]:
    """Publish `rate` bookings a second for `seconds`; returns (sent, achieved rate)."""
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", linger_ms=2)
    await producer.start()
    sent = 0
    tick = 0.01
    start = time.perf_counter()
    try:
        while (now := time.perf_counter() - start) < seconds:
            due = int(now * rate) - sent
            futures = []
            for _ in range(max(0, due)):
                key, value, headers = encoded(booking(rng.choice(ids), rng, occurred_at=datetime.now(UTC)))
                futures.append(await producer.send(topic, value=value, key=key, headers=headers))
            sent += len(futures)
            if futures:
                await asyncio.gather(*futures)
            await asyncio.sleep(tick)
    finally:
        await producer.stop()
    return sent, sent / (time.perf_counter() - start)


async def poll(conn: asyncpg.Connection, stop: asyncio.Event, out: list[tuple[float, float]]) -> None:
    """Record (wall time seen, freshness seconds) for every snapshot version that appears."""
    watermark = datetime(2000, 1, 1, tzinfo=UTC)
    seen: set[tuple[str, int]] = set()
    while not stop.is_set():
        rows = await conn.fetch(
            "SELECT customer_id, version, snapshot->>'last_event_at' AS src, applied_at FROM customer_view"
            " WHERE kind = 'preferences' AND applied_at > $1",
            watermark,
        )
        now = time.time()
        for r in rows:
            watermark = max(watermark, r["applied_at"])
            if (r["customer_id"], r["version"]) in seen or r["src"] is None:
                continue
            seen.add((r["customer_id"], r["version"]))
            out.append((now, now - datetime.fromisoformat(r["src"]).timestamp()))
        await asyncio.sleep(0.02)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument(
        "--kit-batch-path",
        action="store_true",
        help="run the worker with the kit's batch fast path switched on (bench/preferences_worker_batchpath.py)",
    )
    args = parser.parse_args()
    rng = random.Random(11)
    env = await create_env()
    proc = None
    reader: ServiceRuntime | None = None
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
        await reader.start(workers=True, create_topics=False)
        await reader.wait_assigned(timeout=60)
        proc = start_worker(
            env,
            log_path=Path(tempfile.gettempdir()) / "preferences-freshness-worker.log",
            batch_path=args.kit_batch_path,
        )
        await asyncio.sleep(8)  # the worker migrates and joins its group
        ids = customers(args.customers)
        samples: list[tuple[float, float]] = []
        stop = asyncio.Event()
        async with reader.pool.acquire() as proxy:
            poller = asyncio.create_task(poll(cast(asyncpg.Connection, proxy), stop, samples))
            begin = time.time()
            sent, achieved = await generate(
                env.topic_prefix + "profile.bookings.v1", rate=args.rate, seconds=args.seconds, ids=ids, rng=rng
            )
            await asyncio.sleep(5)  # let the tail drain
            stop.set()
            await poller
        counted = [lag for at, lag in samples if at - begin >= args.warmup and at - begin <= args.seconds]
        print(f"machine:        {machine()}")
        offered = f"{args.rate}/s for {args.seconds:.0f}s to {args.customers} customers"
        print(f"offered:        {offered}; sent {sent} ({achieved:.0f}/s)")
        print(f"snapshots seen: {len(samples)} ({len(counted)} after {args.warmup:.0f}s warm-up)")
        print(f"freshness p50:  {percentile(counted, 0.50) * 1000:.0f} ms")
        print(f"freshness p90:  {percentile(counted, 0.90) * 1000:.0f} ms")
        print(f"freshness p99:  {percentile(counted, 0.99) * 1000:.0f} ms")
        print(f"freshness max:  {max(counted) * 1000 if counted else float('nan'):.0f} ms")
    finally:
        if proc is not None:
            await stop_worker(proc)
        if reader is not None:
            await reader.stop()
        await drop_env(env)


if __name__ == "__main__":
    asyncio.run(main())
