"""The kit's own cost per record on the consumer hot path, without any service's domain work.

A backlog of N booking events is put on `booking.events.v1` (3 partitions) of a throwaway topic
prefix; then a worker process (this module with `worker`) runs the kit's real path — the
`ServiceRuntime`: stream workers, `BatchProcessor`, `processed_events`, outbox and relay — with a
handler that does nothing (`--handler noop`) or one that enqueues one outgoing event per record
(`--handler outbox`: a batch handler writing a run's events with `enqueue_many`, as the services'
high-volume consumers do), or the kit's customer-view reader applying preference snapshots of nine
preferences each (`--handler view`, a backlog on `preferences.snapshots.v1`, one customer each). It is timed
until every record is in `processed_events` (the view: in `customer_view`) and the outbox
is empty.

Reported: records/s, the worker's CPU time per record and the PostgreSQL backends' CPU time per
record (both from `/proc`, start-up excluded: they depend much less than the rate on whatever else
the machine runs), and the load average.

    .venv/bin/python -m bench.kit_throughput --records 60000
    .venv/bin/python -m bench.kit_throughput --records 60000 --handler noop --fetch faust
    .venv/bin/python -m bench.kit_throughput --records 60000 --worker-root OTHER_CHECKOUT

`--sealed` (with `--handler view`) seals the snapshots as the preferences service's producer does (a
data key per customer, so every record costs the worker a key to fetch and unwrap: the worst case).
`--fetch batch` hosts the consumer on the kit's batch consumer (`services.kit.streams`), `faust`
as one faust agent; `--worker-root` runs the worker from another checkout (e.g. an older commit)
so two versions can be compared alternately under the same conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from bench.shared import cpu_seconds, database_cpu_seconds, load_average, stop_process
from services.kit.contracts.bookings import BookingCreatedV1
from services.kit.contracts.customers import CustomerCreatedV1
from services.kit.contracts.envelope import Envelope, encode_envelope
from services.kit.contracts.preferences import PreferenceSnapshotV1, PreferenceV1
from tests.builders import booking_created
from tests.harness import ADMIN_DSN, KAFKA, PG_HOST, PG_PORT, create_env, drop_env

ROOT = Path(__file__).resolve().parents[1]
SERVICE = "profile"  # a schema and role that exist in every throwaway database
CONSUMER = "kitbench"
TOPIC = "booking.events.v1"
VIEW_TOPIC = "preferences.snapshots.v1"


# --- the worker process -----------------------------------------------------------------------


async def _noop(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    return None


async def _noop_run(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
    return None


def _outgoing(event: Envelope[Any]) -> tuple[str, Envelope[Any]]:
    payload = event.payload
    customer = f"c-{payload.booking_id}"
    created = CustomerCreatedV1(customer_id=customer, source_system=payload.source_system, source_record_id=customer)
    return "profile.customer-events.v1", Envelope.new(created, producer=SERVICE, subject_id=customer, caused_by=event)


async def _outbox_one(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    from services.kit.outbox import enqueue_many

    await enqueue_many(conn, [_outgoing(event)])


async def _outbox_run(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
    from services.kit.outbox import enqueue_many

    await enqueue_many(conn, [_outgoing(e) for e in events])


async def worker(database: str, prefix: str, handler: str, fetch: str, batch_size: int) -> None:
    from services.kit.consumer import ConsumerSpec
    from services.kit.logging import configure_logging
    from services.kit.runtime import ServiceDefinition, ServiceRuntime
    from services.kit.settings import ServiceSettings

    values: dict[str, Any] = {
        "service_name": SERVICE,
        "environment": "test",
        "kafka_bootstrap_servers": KAFKA,
        "topic_prefix": prefix,
        "pg_host": PG_HOST,
        "pg_port": PG_PORT,
        "pg_database": database,
        "consumer_batch_size": batch_size,
        "log_level": "WARNING",
        "log_format": "text",
    }
    if fetch == "batch":
        values["batch_consumers"] = [CONSUMER]  # a setting of the kit's batch consumer (absent before it)
    settings = ServiceSettings(**values)
    configure_logging(service=SERVICE, level="WARNING", fmt="text")
    migrations = "tests.integration.kit_migrations"
    if handler == "noop":
        spec = ConsumerSpec(name=CONSUMER, topics=(TOPIC,), handler=_noop, batch_handler=_noop_run)
    elif handler == "view":  # the kit's customer-view reader, as every service runs it
        from dataclasses import replace

        from services.kit.view import customer_view_consumer

        spec = replace(customer_view_consumer(), name=CONSUMER)
        migrations = "services.kit"
    else:
        spec = ConsumerSpec(name=CONSUMER, topics=(TOPIC,), handler=_outbox_one, batch_handler=_outbox_run)
    runtime = ServiceRuntime(ServiceDefinition(settings=settings, migrations=migrations, consumers=[spec]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await runtime.start(workers=True, create_topics=False)
    try:
        await stop.wait()
    finally:
        await runtime.stop()


# --- the driver -------------------------------------------------------------------------------


def _booking(i: int) -> Envelope[BookingCreatedV1]:
    return booking_created(source_system="kit-bench", booking_id=f"BK-{i:08d}", traveller_id=f"T-{i % 5000}")


def _snapshot(i: int) -> Envelope[PreferenceSnapshotV1]:
    """A preferences snapshot as the preferences service publishes them: nine preferences."""
    now = datetime.now(UTC)
    values: list[tuple[str, Any]] = [
        ("air.seat.short_haul", "aisle"), ("air.seat.long_haul", "window"), ("air.cabin.short_haul", "economy"),
        ("air.airlines.preferred", ["LH", "BA"]), ("air.stops.max", 0), ("hotel.star_min", 4),
        ("hotel.chains.preferred", ["MC"]), ("car.class", "compact"), ("rail.class", "first"),
    ]  # fmt: skip
    snapshot = PreferenceSnapshotV1(
        customer_id=f"cus_{i:08d}", version=1, updated_at=now, company_id="com_1", last_event_at=now,
        preferences=[
            PreferenceV1(key=k, value=v, source="inferred", confidence=0.8123, evidence_count=7, first_seen=now,
                         last_seen=now)
            for k, v in values
        ],
    )  # fmt: skip
    return Envelope.new(snapshot, producer="preferences", subject_id=snapshot.customer_id)


async def produce_backlog(
    topic: str, n: int, *, event: Callable[[int], Envelope[Any]] = _booking, sealer: Any = None
) -> None:
    """N events on `topic`; with `sealer`, sealed as a service's producer seals them (a key per subject)."""
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        for start in range(0, n, 5000):
            envs = [event(i) for i in range(start, min(n, start + 5000))]
            rows = [(topic, e.subject_id.encode(), encode_envelope(e), e.headers()) for e in envs]
            if sealer is not None:
                rows = await sealer.seal_rows(rows)
            pending = [
                await producer.send(topic, value=value, key=key, headers=headers) for _, key, value, headers in rows
            ]
            await asyncio.gather(*pending)
    finally:
        await producer.stop()


def start_worker(
    database: str, prefix: str, *, handler: str, fetch: str, batch_size: int, root: Path | None
) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = Path(tempfile.gettempdir()) / f"kit-throughput-{uuid.uuid4().hex[:6]}.log"
    log = log_path.open("wb")
    args = [sys.executable, "-m", "bench.kit_throughput", "worker", database, prefix, handler, fetch, str(batch_size)]
    return subprocess.Popen(args, cwd=root or ROOT, stdout=log, stderr=log), log_path  # once, before timing


async def run_once(args: argparse.Namespace, handler: str) -> dict[str, Any]:
    env = await create_env()
    proc: subprocess.Popen[bytes] | None = None
    try:
        if handler == "view" and args.sealed:
            from services.kit.keyring import DEV_KEYRING_KEY, Keyring, MasterKeys  # not in a worker's older checkout
            from services.kit.sealed import RecordSealer

            pool = await asyncpg.create_pool(ADMIN_DSN.rsplit("/", 1)[0] + f"/{env.database}", min_size=1, max_size=2)
            try:
                sealer = RecordSealer(Keyring(pool, MasterKeys([DEV_KEYRING_KEY])), topic_prefix=env.topic_prefix)
                await produce_backlog(env.topic_prefix + VIEW_TOPIC, args.records, event=_snapshot, sealer=sealer)
            finally:
                await pool.close()
        elif handler == "view":
            await produce_backlog(env.topic_prefix + VIEW_TOPIC, args.records, event=_snapshot)
        else:
            await produce_backlog(env.topic_prefix + TOPIC, args.records)
        conn = await asyncpg.connect(ADMIN_DSN.rsplit("/", 1)[0] + f"/{env.database}")
        load_before = load_average()
        proc, log_path = start_worker(
            env.database, env.topic_prefix, handler=handler, fetch=args.fetch, batch_size=args.batch_size,
            root=args.worker_root,
        )  # fmt: skip
        t0 = time.perf_counter()
        first: float | None = None
        cpu0: float | None = None
        db0: float | None = None
        samples: list[tuple[float, int]] = []
        while True:
            await asyncio.sleep(0.25)
            if proc.poll() is not None:
                raise SystemExit(f"worker exited with {proc.returncode}: see {log_path}")
            try:
                done = await conn.fetchval(
                    "SELECT count(*) FROM profile.customer_view"
                    if handler == "view"  # one row per snapshot: a customer each
                    else "SELECT count(*) FROM profile.processed_events WHERE consumer = $1",
                    *(() if handler == "view" else (f"{SERVICE}.{CONSUMER}",)),
                )
                outbox = await conn.fetchval("SELECT count(*) FROM profile.outbox")
            except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
                continue  # not migrated yet
            now = time.perf_counter() - t0
            if done and first is None:
                first, cpu0, db0 = now, cpu_seconds(proc.pid), await database_cpu_seconds(conn, env.database)
                samples.append((now, done))
                continue
            samples.append((now, done))
            if done >= args.records and outbox == 0:
                break
            if now > args.timeout:
                raise SystemExit(f"timeout: {done} processed, {outbox} in the outbox; see {log_path}")
        cpu1 = cpu_seconds(proc.pid)
        db1 = await database_cpu_seconds(conn, env.database)
        await conn.close()
        assert first is not None
        counted = args.records - samples[0][1]  # records handled after the first reading
        elapsed = samples[-1][0] - first
        return {
            "handler": handler,
            "records_per_s": counted / elapsed,
            "worker_us": 1e6 * (cpu1 - cpu0) / counted if cpu0 is not None and cpu1 is not None else float("nan"),
            "db_us": 1e6 * (db1 - db0) / counted if db0 is not None and db1 is not None else float("nan"),
            "load": f"{load_before} -> {load_average()}",
        }
    finally:
        if proc is not None:
            await stop_process(proc)
        await drop_env(env)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--handler", choices=["noop", "outbox", "view", "both"], default="both")
    parser.add_argument("--fetch", choices=["faust", "batch"], default="batch", help="how the consumer is hosted")
    parser.add_argument("--batch-size", type=int, default=1000, help="the worker's consumer_batch_size")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--worker-root", type=Path, default=None, help="run the worker from this checkout")
    parser.add_argument(
        "--sealed", action="store_true", help="view: the snapshots sealed, as the preferences service publishes them"
    )
    args = parser.parse_args()
    handlers = ["noop", "outbox"] if args.handler == "both" else [args.handler]
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    sealed = ", sealed snapshots" if args.sealed else ""
    print(f"{args.records} records, 3 partitions, consumer batch size {args.batch_size}, fetch {args.fetch}{sealed}")
    if args.worker_root is not None:
        print(f"worker run from another checkout: {args.worker_root}")
    print(f"{'handler':8} {'records/s':>10} {'worker CPU/record':>18} {'PostgreSQL CPU/record':>22}  load average")
    for handler in handlers:
        r = await run_once(args, handler)
        rate, worker_us, db_us = r["records_per_s"], r["worker_us"], r["db_us"]
        print(f"{handler:8} {rate:>10.0f} {worker_us:>15.1f} µs {db_us:>19.1f} µs  {r['load']}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        database, prefix, handler, fetch, batch_size = sys.argv[2:7]
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(worker(database, prefix, handler, fetch, int(batch_size)))
    else:
        asyncio.run(main())
