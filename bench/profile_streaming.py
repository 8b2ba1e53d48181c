"""Streaming resolution against a large customer population.

    python -m bench.profile_bulk --records 1000000 --keep          # builds the population, prints database/prefix
    python -m bench.profile_streaming --database itinera_test_... --topic-prefix test-....  [--events 30000]

1. Match step: for `--samples` incoming records (half corrupted copies of stored
   travellers, half new travellers), the time of one record's match step: the indexed
   blocking-key lookup of candidates plus the Fellegi–Sunter scoring of every candidate
   (normalisation is timed apart). One record at a time, p50/p95/p99.
2. Throughput through the service: `--events` booking events are put on the booking
   topic first, then `--workers` real worker processes (`python -m services.profile
   worker`: consumer with the batch handler, outbox relay) drain them; records/s is
   measured from the first processed event to the last. The outbox left by the bulk
   import is emptied first, so the relay publishes only what this run produces, and so
   are earlier runs' idempotency rows (their events are behind the consumer group's
   committed offsets): progress is polled with a count over this run's rows only, which
   would otherwise scan every earlier run's rows twice a second on the measured cores.
   The booking topic is given the partition count of the topic catalogue first (the
   test harness makes 3), so that workers share the partitions evenly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.profile_common import BackendCpu, load_average, machine, process_cpu_seconds
from bench.profile_datagen import _typo, generate
from bench.shared import ensure_partitions
from services.kit.contracts.bookings import CompanyV1, LoyaltyNumberV1, TravellerV1
from services.kit.contracts.envelope import encode_envelope
from services.kit.contracts.topics import topic_spec
from services.kit.db import create_pool
from services.profile.adapters import blocking as blocking_db
from services.profile.adapters import identity as identity_db
from services.profile.bootstrap import profile_config
from services.profile.domain import matching
from services.profile.domain.resolution import decide_record, frequency_tokens
from services.profile.service_layer.bulk import row_to_incoming
from services.profile.settings import ProfileSettings
from tests import builders
from tests.harness import KAFKA, PG_HOST, PG_PORT

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def corrupted(raw: dict[str, Any], source_id: str, rng: random.Random) -> dict[str, Any]:
    """A stored traveller as another source would send it: new ids, a typo, a missing contact."""
    row = {k: v for k, v in raw.items() if k != "loyalty_numbers"}
    row["source_system"] = "bench-stream"
    row["source_id"] = source_id
    if raw.get("loyalty_numbers"):
        row["loyalty"] = ";".join(f"{x['programme']}:{x['number']}" for x in raw["loyalty_numbers"])
    if row.get("family_name") and rng.random() < 0.3:
        row["family_name"] = _typo(rng, row["family_name"])
    if rng.random() < 0.4:
        row.pop("email", None)
    if rng.random() < 0.4:
        row.pop("phone", None)
    row.pop("passport_number", None)
    return row


def repeated(record: Any) -> dict[str, Any]:
    """A stored source record sent again by its own source, unchanged: a traveller booking again
    (for the company the record named: the raw traveller does not hold it)."""
    row = {k: v for k, v in record["raw"].items() if k != "loyalty_numbers"}
    row["source_system"] = record["source_system"]
    row["source_id"] = record["source_id"]
    if record["normalized"].get("company_name"):
        row["company_name"] = record["normalized"]["company_name"]
    if record["raw"].get("loyalty_numbers"):
        row["loyalty"] = ";".join(f"{x['programme']}:{x['number']}" for x in record["raw"]["loyalty_numbers"])
    return row


async def sample_rows(
    settings: ProfileSettings, n: int, rng: random.Random, *, repeat_share: float = 0.0
) -> list[dict[str, Any]]:
    """`repeat_share` of the rows are stored records sent again unchanged by their own source; of
    the rest, half are corrupted copies of stored travellers from a new source, half new travellers."""
    repeats = round(n * repeat_share)
    pool = await create_pool(settings)
    try:
        async with pool.acquire() as conn:
            stored = await conn.fetch("SELECT raw FROM source_records ORDER BY random() LIMIT $1", (n - repeats) // 2)
            again = await conn.fetch(
                "SELECT source_system, source_id, raw, normalized FROM source_records"
                " WHERE passport_hash IS NULL ORDER BY random() LIMIT $1",
                repeats,
            )
    finally:
        await pool.close()
    rows = [corrupted(r["raw"], f"S{i:07d}-{rng.randrange(10**9)}", rng) for i, r in enumerate(stored)]
    rows += [repeated(r) for r in again]
    for row in generate(n - len(rows), seed=rng.randrange(10**6), duplicates=False):
        row.pop("entity_id")
        row["source_system"] = "bench-stream"
        row["source_id"] = f"N{row['source_id']}-{rng.randrange(10**9)}"
        rows.append(row)
    rng.shuffle(rows)
    return rows


async def match_step(settings: ProfileSettings, rows: list[dict[str, Any]]) -> dict[str, Any]:
    config = profile_config(settings)
    pool = await create_pool(settings)
    match_ms: list[float] = []
    normalise_ms: list[float] = []
    candidates: list[int] = []
    decisions: dict[str, int] = {}
    try:
        async with pool.acquire() as conn:
            from datetime import UTC, datetime

            now = datetime.now(UTC)
            for row in rows:
                t0 = time.perf_counter()
                item = row_to_incoming(row, config=config, default_source=None, now=now)
                feats = item.record.features()
                keys = matching.blocking_keys(feats)
                t1 = time.perf_counter()
                stored = await blocking_db.candidates(conn, keys, per_key=config.candidates_per_key)
                tokens = [
                    t for f in (feats, *(c[2] for cs in stored.values() for c in cs)) for t in frequency_tokens(f)
                ]
                freq = await identity_db.value_frequencies(conn, tokens, min_records=config.frequency_min_records)
                decision = decide_record(item.record.key, feats, keys, stored, {}, config, freq)
                t2 = time.perf_counter()
                normalise_ms.append((t1 - t0) * 1000)
                match_ms.append((t2 - t1) * 1000)
                candidates.append(len({c[0] for cs in stored.values() for c in cs}))
                decisions[decision.rule.split(":")[0]] = decisions.get(decision.rule.split(":")[0], 0) + 1
            customers = await conn.fetchval("SELECT count(*) FROM customers WHERE status = 'active'")
    finally:
        await pool.close()
    return {
        "existing_customers": customers,
        "samples": len(rows),
        "match_step_ms": {
            "p50": round(percentile(match_ms, 0.5), 2),
            "p95": round(percentile(match_ms, 0.95), 2),
            "p99": round(percentile(match_ms, 0.99), 2),
            "max": round(max(match_ms), 2),
        },
        "normalisation_ms": {
            "p50": round(percentile(normalise_ms, 0.5), 2),
            "p99": round(percentile(normalise_ms, 0.99), 2),
        },
        "candidates_per_record": {
            "mean": round(sum(candidates) / len(candidates), 1),
            "p99": percentile([float(c) for c in candidates], 0.99),
        },
        "decisions": decisions,
    }


def booking_for(row: dict[str, Any]) -> Any:
    traveller = TravellerV1(
        given_name=row.get("given_name"),
        family_name=row.get("family_name"),
        full_name=row.get("full_name"),
        email=row.get("email"),
        phone=row.get("phone"),
        date_of_birth=row.get("date_of_birth"),
        nationality=row.get("nationality"),
        passport_number=row.get("passport_number"),
        loyalty_numbers=tuple(
            LoyaltyNumberV1(programme=p, number=n)
            for p, _, n in (part.partition(":") for part in (row.get("loyalty") or "").split(";") if ":" in part)
        ),
    )
    company = (
        CompanyV1(name=row["company_name"], email_domain=row.get("company_domain")) if row.get("company_name") else None
    )
    return builders.booking_created(
        source_system=row["source_system"], traveller_id=row["source_id"], traveller=traveller, company=company
    )


def start_worker(environ: dict[str, str], index: int) -> subprocess.Popen[bytes]:
    """The service's own worker entrypoint, as deployed: consumer with the batch handler, outbox relay."""
    log = (Path(tempfile.gettempdir()) / f"profile-worker-{index}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "services.profile", "worker"],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


async def throughput(
    settings: ProfileSettings, rows: list[dict[str, Any]], workers: int, batch_size: int
) -> dict[str, Any]:
    pool = await create_pool(settings)
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE outbox")
        await conn.execute("DELETE FROM processed_events WHERE consumer = 'profile.bookings'")
        await conn.execute("VACUUM processed_events")
        before = await conn.fetchval("SELECT count(*) FROM processed_events WHERE consumer = 'profile.bookings'")
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True, linger_ms=20)
    await producer.start()
    try:
        topic = f"{settings.topic_prefix}booking.events.v1"
        futures = []
        for row in rows:
            env = booking_for(row)
            futures.append(
                await producer.send(
                    topic, value=encode_envelope(env), key=env.subject_id.encode(), headers=env.headers()
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    environ = dict(os.environ)
    environ.update(
        {
            "ITINERA_PROFILE_ENVIRONMENT": "test",
            "ITINERA_PROFILE_PG_DATABASE": settings.pg_database,
            "ITINERA_PROFILE_PG_HOST": PG_HOST,
            "ITINERA_PROFILE_PG_PORT": str(PG_PORT),
            "ITINERA_PROFILE_KAFKA_BOOTSTRAP_SERVERS": KAFKA,
            "ITINERA_PROFILE_TOPIC_PREFIX": settings.topic_prefix,
            "ITINERA_PROFILE_LOG_LEVEL": "WARNING",
            "ITINERA_PROFILE_CONSUMER_BATCH_SIZE": str(batch_size),
        }
    )
    procs = [start_worker(environ, i) for i in range(workers)]
    backends = BackendCpu(settings.pg_database).start()

    def worker_cpu() -> float:
        return sum(process_cpu_seconds(p.pid) or 0.0 for p in procs)

    started = time.perf_counter()
    first_at: float | None = None
    first_count = 0
    first_cpu = first_pg = 0.0
    done = before
    try:
        async with pool.acquire() as conn:
            while done - before < len(rows):
                await asyncio.sleep(0.5)
                done = await conn.fetchval("SELECT count(*) FROM processed_events WHERE consumer = 'profile.bookings'")
                if first_at is None and done > before:
                    first_at, first_count = time.perf_counter(), done - before
                    first_cpu, first_pg = worker_cpu(), backends.seconds()
                if time.perf_counter() - started > 900:
                    break
            finished = time.perf_counter()
            last_cpu, last_pg = worker_cpu(), backends.seconds()
            load = load_average()
            # The relay publishes the tail of the outbox after the last record is processed.
            for _ in range(60):
                outbox_left = await conn.fetchval("SELECT count(*) FROM outbox")
                if not outbox_left:
                    break
                await asyncio.sleep(0.5)
            drained = time.perf_counter()
        backends.stop()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        await pool.close()
    processed = done - before
    sustained = (processed - first_count) / (finished - first_at) if first_at and finished > first_at else 0.0
    return {
        "events": len(rows),
        "processed": processed,
        "workers": workers,
        "consumer_batch_size": batch_size,
        "seconds_from_start": round(finished - started, 1),
        "records_per_second_sustained": round(sustained),
        "cpu_ms_per_record_sustained": {
            "worker_processes": round((last_cpu - first_cpu) * 1000 / max(1, processed - first_count), 3),
            "postgresql_backends": round((last_pg - first_pg) * 1000 / max(1, processed - first_count), 3),
        },
        "load_average_at_end": load,
        "outbox_drained_seconds_after_last_record": round(drained - finished, 1),
        "outbox_rows_left": outbox_left,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = ProfileSettings(
        environment="test",
        pg_host=PG_HOST,
        pg_port=PG_PORT,
        pg_database=args.database,
        kafka_bootstrap_servers=KAFKA,
        topic_prefix=args.topic_prefix,
        log_level="WARNING",
    )
    rng = random.Random(args.seed)
    result: dict[str, Any] = {"machine": machine()}
    rows = await sample_rows(settings, args.samples, rng)
    result["match_step"] = await match_step(settings, rows)
    if args.events:
        result["booking_topic_partitions"] = await ensure_partitions(
            f"{args.topic_prefix}booking.events.v1", args.partitions, bootstrap_servers=KAFKA
        )
        events = await sample_rows(settings, args.events, rng, repeat_share=args.repeat_share)
        result["throughput"] = await throughput(settings, events, args.workers, args.batch_size)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True)
    parser.add_argument("--topic-prefix", required=True)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=ProfileSettings.model_fields["consumer_batch_size"].default)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--repeat-share",
        type=float,
        default=0.0,
        help="share of the booking events whose traveller is a stored source record sent again unchanged",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=topic_spec("booking.events.v1").partitions,
        help="partitions of the booking topic (grown to this many if it has fewer; default: the topic catalogue's)",
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2, default=str))


if __name__ == "__main__":
    main()
