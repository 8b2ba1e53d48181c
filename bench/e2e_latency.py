"""End-to-end latency: BookingCreatedV1 published → confirmation email in the mail sink.

Runs against the system `make up` started (four service processes, real Kafka,
PostgreSQL and the SMTP mail sink writing a Maildir):

    make up
    .venv/bin/python bench/e2e_latency.py --runs 20

Bookings are sent one at a time (each for a new traveller, so every run goes through
resolution, a new customer snapshot, the view update in notifications, and SMTP).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.kit.contracts.envelope import encode_envelope
from tests import builders


def _scan(maildir: Path, seen: set[str]) -> list[Path]:
    fresh = []
    for entry in os.scandir(maildir / "new"):
        if entry.name not in seen:
            seen.add(entry.name)
            fresh.append(Path(entry.path))
    return fresh


async def run(runs: int, bootstrap: str, prefix: str, maildir: Path, timeout: float) -> list[float]:
    (maildir / "new").mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    _scan(maildir, seen)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    latencies: list[float] = []
    try:
        for i in range(runs + 1):  # the first run warms connections and is not counted
            event = builders.booking_created(source_system="bench-gds")
            needle = event.payload.booking_id.encode()
            started = time.perf_counter()
            await producer.send_and_wait(
                f"{prefix}booking.events.v1",
                encode_envelope(event),
                key=event.subject_id.encode(),
                headers=event.headers(),
            )
            while True:
                if any(needle in path.read_bytes() for path in _scan(maildir, seen)):
                    break
                if time.perf_counter() - started > timeout:
                    raise TimeoutError(f"no email for {event.payload.booking_id} within {timeout}s")
                await asyncio.sleep(0.002)
            elapsed = time.perf_counter() - started
            if i > 0:
                latencies.append(elapsed)
                print(f"run {i:2d}: {elapsed * 1000:7.1f} ms", flush=True)
    finally:
        await producer.stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--bootstrap", default=os.environ.get("ITINERA_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--prefix", default=os.environ.get("ITINERA_TOPIC_PREFIX", ""))
    parser.add_argument("--maildir", type=Path, default=Path(__file__).resolve().parents[1] / ".state" / "mail")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    latencies = asyncio.run(run(args.runs, args.bootstrap, args.prefix, args.maildir, args.timeout))
    ms = sorted(x * 1000 for x in latencies)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"booking → confirmation email, n={len(ms)}: median {statistics.median(ms):.1f} ms, "
        f"p90 {ms[int(0.9 * (len(ms) - 1))]:.1f} ms, min {ms[0]:.1f} ms, max {ms[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
