"""Shared pieces of the preferences benchmarks: a throwaway environment, booking generation, the worker process."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.shared import stop_process
from services.kit.contracts.bookings import CarSegmentV1, FlightSegmentV1, HotelSegmentV1
from services.kit.contracts.customers import ResolvedBookingV1
from services.kit.contracts.envelope import Envelope, encode_envelope
from tests.harness import KAFKA, PG_HOST, PG_PORT, TestEnv

ROOT = Path(__file__).resolve().parents[1]
SEATS = ["3A", "3B", "3C", "3D", "3E", "3F", "12C", "12D"]
CABINS = ["economy", "economy", "economy", "premium_economy", "business"]
CARRIERS = ["LH", "BA", "AF", "KL", "LX", "UA"]


def booking(
    customer_id: str, rng: random.Random, *, occurred_at: datetime | None = None
) -> Envelope[ResolvedBookingV1]:
    """A realistic resolved booking: a flight, often a hotel, sometimes a car."""
    dep = datetime(2026, 1, 1, 6, tzinfo=UTC) + timedelta(days=rng.randint(0, 300), hours=rng.randint(0, 16))
    hours = rng.choice([1.2, 1.5, 2.0, 4.0, 9.5])
    segments: list[Any] = [
        FlightSegmentV1(
            carrier=rng.choice(CARRIERS), flight_number=str(rng.randint(1, 9999)), origin="FRA", destination="LHR",
            departure_at=dep, arrival_at=dep + timedelta(hours=hours), cabin=rng.choice(CABINS),  # type: ignore[arg-type]
            seat=rng.choice(SEATS), stops=rng.choice([0, 0, 0, 1]),
        )
    ]  # fmt: skip
    if rng.random() < 0.6:
        segments.append(
            HotelSegmentV1(
                hotel_name="Hotel", chain_code=rng.choice(["MC", "HH", "IC", "RT"]), city="London", country="GB",
                check_in=dep.date(), check_out=dep.date() + timedelta(days=2), star_rating=rng.choice([3, 4, 4, 5]),
                room_type=rng.choice(["Standard King", "Deluxe Queen non-smoking", "Superior Twin"]),
            )
        )  # fmt: skip
    if rng.random() < 0.3:
        segments.append(
            CarSegmentV1(
                vendor=rng.choice(["ZE", "SX", "ZI"]), pickup_location="LHR", dropoff_location="LHR", pickup_at=dep,
                dropoff_at=dep + timedelta(days=2), car_class=rng.choice(["CDAR", "IFMR", "SDAR"]),
            )
        )  # fmt: skip
    payload = ResolvedBookingV1(
        customer_id=customer_id,
        company_id=f"com_{int(customer_id[-2:], 16) % 20}",
        kind="created",
        source_event_id=str(uuid.uuid4()),
        source_system="bench-gds",
        booking_id=f"BK-{uuid.uuid4().hex[:10]}",
        segments=tuple(segments),
        occurred_at=occurred_at or datetime.now(UTC),
    )
    return Envelope.new(payload, producer="profile", subject_id=customer_id)


def encoded(env: Envelope[Any]) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    return env.subject_id.encode(), encode_envelope(env), env.headers()


def customers(n: int) -> list[str]:
    return [f"cus_{uuid.uuid4().hex}" for _ in range(n)]


def start_worker(
    env: TestEnv, *, log_path: Path, batch_size: int = 1000, root: Path | None = None
) -> subprocess.Popen[bytes]:
    """`python -m services.preferences worker` as its own process, pointed at the throwaway environment.

    `root`: run the worker from another checkout of the project (e.g. an older commit, to compare
    two versions under the same conditions); this one by default.
    """
    environ = dict(os.environ)
    environ.update(
        {
            "ITINERA_PREFERENCES_ENVIRONMENT": "test",
            "ITINERA_PREFERENCES_PG_DATABASE": env.database,
            "ITINERA_PREFERENCES_PG_HOST": PG_HOST,
            "ITINERA_PREFERENCES_PG_PORT": str(PG_PORT),
            "ITINERA_PREFERENCES_KAFKA_BOOTSTRAP_SERVERS": KAFKA,
            "ITINERA_PREFERENCES_TOPIC_PREFIX": env.topic_prefix,
            "ITINERA_PREFERENCES_LOG_LEVEL": "WARNING",
            "ITINERA_PREFERENCES_CONSUMER_BATCH_SIZE": str(batch_size),
        }
    )
    log = log_path.open("wb")
    return subprocess.Popen(  # started once, before the measurement
        [sys.executable, "-m", "services.preferences", "worker"], cwd=root or ROOT, env=environ, stdout=log, stderr=log
    )


def start_workers(
    env: TestEnv, *, count: int, batch_size: int, log_name: str, root: Path | None = None
) -> list[subprocess.Popen[bytes]]:
    """`count` worker processes of the same consumer group (they share the topic's partitions)."""
    return [
        start_worker(
            env, log_path=Path(tempfile.gettempdir()) / f"{log_name}-{i}.log", batch_size=batch_size, root=root
        )
        for i in range(count)
    ]


async def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        await stop_process(proc, grace=10.0)


def machine() -> str:
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPUs, {mem_gib:.0f} GiB RAM, Python {sys.version.split()[0]}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
