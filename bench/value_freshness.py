"""Tier freshness: a resolved booking → the value snapshot visible in another service's customer view.

Runs the value service as its own worker process on a throwaway database and topic prefix, and a
reader in this process (feedback's schema, the kit's view consumer with value snapshots). Publishes
resolved bookings at a fixed rate (one new traveller each, so every booking's snapshot is
distinct), then compares each snapshot's `applied_at` in the reader's view with the booking's send
time. Also reports the value process's CPU per booking (from /proc).

    ITINERA_KAFKA_BOOTSTRAP_SERVERS=... ITINERA_PG_PORT=... \
        .venv/bin/python bench/value_freshness.py --rate 500 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.kit.contracts.bookings import FlightSegmentV1  # noqa: E402
from services.kit.contracts.customers import ResolvedBookingV1  # noqa: E402
from services.kit.contracts.envelope import Envelope, encode_envelope  # noqa: E402
from services.kit.runtime import ServiceDefinition  # noqa: E402
from services.kit.settings import ServiceSettings  # noqa: E402
from services.kit.view import customer_view_consumer  # noqa: E402
from tests.harness import KAFKA, PG_PORT, TestEnv, create_env, drop_env, wait_until  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def backend_cpu(env: TestEnv) -> dict[int, tuple[str, float]]:
    """CPU seconds so far of each PostgreSQL backend connected to the bench's database, with its role."""
    conn = await env.admin_connect()
    try:
        rows = await conn.fetch(
            "SELECT pid, usename FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", env.database
        )
    finally:
        await conn.close()
    out: dict[int, tuple[str, float]] = {}
    for r in rows:
        try:
            out[r["pid"]] = (r["usename"], cpu_seconds(r["pid"]))
        except OSError:  # ended meanwhile
            continue
    return out


def backend_delta(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> tuple[float, float]:
    """(value's backends, all backends): CPU used between two readings (a backend started since counts whole)."""
    value = total = 0.0
    for pid, (role, cpu) in after.items():
        used = cpu - before.get(pid, (role, 0.0))[1]
        total += used
        if role == "itinera_value":
            value += used
    return value, total


def booking(customer_id: str) -> Envelope[ResolvedBookingV1]:
    departure = datetime.now(UTC) + timedelta(days=14)
    payload = ResolvedBookingV1(
        customer_id=customer_id, company_id=f"co-{hash(customer_id) % 50}", kind="created",
        source_event_id=str(uuid.uuid4()), source_system="bench", booking_id=customer_id,
        segments=(FlightSegmentV1(carrier="LH", flight_number="400", origin="FRA", destination="JFK",
                                  departure_at=departure, arrival_at=departure + timedelta(hours=8)),),
        total_price=Decimal("812.00"), currency="EUR", occurred_at=datetime.now(UTC),
    )  # fmt: skip
    return Envelope.new(payload, producer="profile", subject_id=customer_id)


class ReaderSettings(ServiceSettings):
    service_name: str = "feedback"


async def main(rate: int, seconds: int, drain_seconds: float) -> None:
    env = await create_env()
    worker = None
    try:
        environ = dict(
            os.environ, ITINERA_PG_DATABASE=env.database, ITINERA_TOPIC_PREFIX=env.topic_prefix,
            ITINERA_PG_PORT=str(PG_PORT), ITINERA_KAFKA_BOOTSTRAP_SERVERS=KAFKA, ITINERA_LOG_LEVEL="WARNING",
        )  # fmt: skip
        # A separate process, so its CPU can be read from /proc; started once, before any timing.
        worker = subprocess.Popen([sys.executable, "-m", "services.value", "worker"], cwd=ROOT, env=environ)  # noqa: ASYNC220
        reader = ServiceDefinition(
            settings=env.settings(ReaderSettings), migrations="services.feedback.migrations",
            consumers=[customer_view_consumer(include_preferences=False, include_value=True)],
        )  # fmt: skip
        async with env.running(reader) as runtime:
            await env.publish("profile.bookings.v1", booking("warm-up"))
            await wait_until(lambda: runtime.pool.fetchval("SELECT count(*) FROM customer_view WHERE kind='value'"),
                             timeout=120)  # fmt: skip
            producer = await env.producer()
            sent: dict[str, float] = {}
            cpu0 = cpu_seconds(worker.pid)
            pg0 = await backend_cpu(env)
            start = time.monotonic()
            total = rate * seconds
            for n in range(total):
                target = start + n / rate
                delay = target - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                cid = f"cus_bench_{n}"
                event = booking(cid)
                sent[cid] = time.time()
                await producer.send(env.topic_prefix + "profile.bookings.v1", value=encode_envelope(event),
                                    key=cid.encode(), headers=event.headers())  # fmt: skip
            await producer.flush()
            drained = True
            try:
                await wait_until(
                    lambda: runtime.pool.fetchval("SELECT count(*) > $1 FROM customer_view WHERE kind='value'", total),
                    timeout=drain_seconds,
                )
            except AssertionError:
                drained = False  # a worker that cannot keep up: report what it did handle
            cpu = cpu_seconds(worker.pid) - cpu0
            pg_value, pg_all = backend_delta(pg0, await backend_cpu(env))
            rows = await runtime.pool.fetch(
                "SELECT customer_id, extract(epoch FROM applied_at)::float8 AS at FROM customer_view"
                " WHERE kind = 'value' AND customer_id LIKE 'cus_bench_%'"
            )
        lags = sorted((r["at"] - sent[r["customer_id"]]) * 1000 for r in rows)
        q = statistics.quantiles(lags, n=100)
        done = len(lags)  # CPU is divided by the bookings handled, so an undrained run's figures still hold
        print(f"bookings {done} of {total} at {rate}/s for {seconds}s" + ("" if drained else ", NOT DRAINED in time"))
        print(f"freshness ms: p50 {q[49]:.0f}  p90 {q[89]:.0f}  p99 {q[98]:.0f}  max {lags[-1]:.0f}")
        print(f"value worker CPU: {cpu:.1f} s, {cpu / done * 1000:.2f} ms per booking")
        print(
            f"PostgreSQL CPU, value's backends: {pg_value:.1f} s, {pg_value / done * 1000:.2f} ms per booking;"
            f" all backends (with the reader's): {pg_all:.1f} s, {pg_all / done * 1000:.2f} ms per booking"
        )
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a worker deep in a backlog: do not leave it running
                worker.kill()
                worker.wait()
        await drop_env(env)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--drain-seconds", type=float, default=300, help="how long to wait for the backlog")
    a = parser.parse_args()
    asyncio.run(main(a.rate, a.seconds, a.drain_seconds))
