"""Latency of one profile read (`GET /v1/customers/{id}`) before and after the privacy guards.

Runs, side by side on the same database and customer, the profile API of an earlier revision
("before", extracted with `git archive`) and of this working tree, twice: once with the default
guards, once with rate limiting switched off. Every process answers the same requests, one at a
time over a keep-alive connection, in interleaved rounds (so that the load of a shared machine
falls on all of them alike); the script reports p50/p99 per process and the CPU time each server
process spent per request (from /proc: steadier than wall time on a loaded machine).

The "after" process runs the full limiter path with limits set so high that it never refuses:
the figure is what every request within its limits pays (the shell's audit marker, the limiter,
the NUL check and the response headers). Needs PostgreSQL and Kafka (`make infra-up`):

    .venv/bin/python bench/profile_read_latency.py --before 342f64c --rounds 10 --requests 200

`--view` reads the 360° view (`GET /v1/customers/{id}/view`) instead, of a traveller with 20
bookings whose flights carry special meals: what the sensitive-field filter costs where it has
the most to redact (an agent may not see meal codes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from contextlib import suppress
from io import BytesIO
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness import PG_HOST, PG_PORT, TestEnv, create_env, drop_env  # noqa: E402  # after the path is set

AGENT = {"X-API-Key": "dev-agent-key"}
ADMIN = {"X-API-Key": "dev-admin-key"}
NEVER_REFUSED = json.dumps({"agent": {"per_second": 1_000_000, "burst": 1_000_000}})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _extract(revision: str, into: Path) -> None:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "services"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def _start(name: str, code: Path, env: dict[str, str], extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    environ = {**os.environ, **env, **extra, "ITINERA_PROFILE_HTTP_PORT": str(port), "PYTHONPATH": str(code)}
    process = subprocess.Popen(
        [sys.executable, "-m", "services.profile", "api"],
        cwd=code,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    print(f"{name}: pid {process.pid} on port {port}", flush=True)
    return process, f"http://127.0.0.1:{port}"


async def _ready(base: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base) as client:
        while True:
            with suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{base} not ready within {timeout}s")
            await asyncio.sleep(0.5)


async def _round(client: httpx.AsyncClient, path: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        r = await client.get(path, headers=AGENT)
        out.append(time.perf_counter() - started)
        if r.status_code != 200:
            raise RuntimeError(f"{client.base_url}{path}: {r.status_code} {r.text[:200]}")
    return out


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def _booking(n: int) -> dict[str, object]:
    """A booking summary as profile stores it: two flights with a special meal each."""
    flight = {
        "kind": "flight", "carrier": "LH", "flight_number": str(400 + n), "origin": "FRA", "destination": "JFK",
        "departure_at": "2026-03-02T10:15:00+01:00", "arrival_at": "2026-03-02T13:05:00-05:00",
        "cabin": "business", "seat": "2A", "meal": "KSML", "stops": 0, "price": "1412.00", "currency": "EUR",
    }  # fmt: skip
    back = {**flight, "origin": "JFK", "destination": "FRA", "meal": "VGML"}
    return {"segments": [flight, back], "total_price": "2824.00", "currency": "EUR", "trip_purpose": "business"}


async def _seed_bookings(test_env: TestEnv, customer_id: str, n: int = 20) -> None:
    conn = await test_env.admin_connect()
    try:
        await conn.executemany(
            "INSERT INTO profile.bookings (source_system, booking_id, customer_id, status, summary)"
            " VALUES ('bench', $1, $2, 'confirmed', $3::jsonb)",
            [(f"B{i}", customer_id, json.dumps(_booking(i))) for i in range(n)],
        )
    finally:
        await conn.close()


async def run(before: str, rounds: int, requests: int, *, view: bool = False) -> dict[str, dict[str, float]]:
    test_env = await create_env()
    shared = {
        "ITINERA_ENVIRONMENT": "test",
        "ITINERA_PG_HOST": PG_HOST,
        "ITINERA_PG_PORT": str(PG_PORT),
        "ITINERA_PG_DATABASE": test_env.database,
        "ITINERA_TOPIC_PREFIX": test_env.topic_prefix,
        "ITINERA_LOG_LEVEL": "WARNING",
    }
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            _extract(before, Path(tmp))
            bases, pids = {}, {}
            for name, code, extra in (
                # A revision that limits request rates gets the same never-reached limits.
                (f"before ({before})", Path(tmp), {"ITINERA_PROFILE_RATE_LIMITS": NEVER_REFUSED}),
                ("after, limits on", ROOT, {"ITINERA_PROFILE_RATE_LIMITS": NEVER_REFUSED}),
                ("after, limits off", ROOT, {"ITINERA_PROFILE_RATE_LIMITING": "false"}),
            ):
                process, base = _start(name, code, shared, extra)
                processes.append(process)
                await _ready(base)
                bases[name] = base
                pids[name] = process.pid
            clients = {name: httpx.AsyncClient(base_url=base) for name, base in bases.items()}
            first = next(iter(clients.values()))
            person = {"given_name": "Mara", "family_name": "Lindqvist", "email": "mara@example.com"}
            record = {"source_system": "bench", "source_id": "reader-1", "traveller": person}
            # Written in a source system's name: an admin may act as any (agents correct, never write as one).
            seeded = await first.post("/v1/source-records", json=record, headers=ADMIN)
            seeded.raise_for_status()
            path = f"/v1/customers/{seeded.json()['customer_id']}"
            if view:
                await _seed_bookings(test_env, seeded.json()["customer_id"])
                path += "/view"
            timings: dict[str, list[float]] = {name: [] for name in clients}
            cpu = dict.fromkeys(clients, 0.0)
            for client in clients.values():
                await _round(client, path, 100)  # warm-up: connections, caches, code paths
            names = list(clients)
            for i in range(rounds):
                for name in names[i % len(names) :] + names[: i % len(names)]:
                    used = _cpu_seconds(pids[name])
                    timings[name] += await _round(clients[name], path, requests)
                    cpu[name] += _cpu_seconds(pids[name]) - used
            for client in clients.values():
                await client.aclose()
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)
            await drop_env(test_env)
    return {
        name: {
            "n": len(t),
            "p50_ms": _quantile(t, 0.50) * 1000,
            "p99_ms": _quantile(t, 0.99) * 1000,
            "cpu_ms": cpu[name] / len(t) * 1000,
        }
        for name, t in timings.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="git revision of the code before the change")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=200, help="requests per process and round")
    parser.add_argument("--view", action="store_true", help="read the 360° view (20 bookings with meal codes)")
    args = parser.parse_args()
    results = asyncio.run(run(args.before, args.rounds, args.requests, view=args.view))
    print(f"\n{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'GET /v1/customers/{id}/view' if args.view else 'GET /v1/customers/{id}'}, agent key")
    print("| profile API | requests | p50 | p99 | server CPU per request |\n|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['n']:.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | {r['cpu_ms']:.2f} ms |")


if __name__ == "__main__":
    main()
