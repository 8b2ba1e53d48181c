"""Disruption alert latency: a booking change with a reason → the journey's message accepted by the mail server.

Runs the trips and notifications services as their own worker processes on a throwaway database and
topic prefix, with an SMTP server in this process that notes when it accepts each message. Travellers
and their bookings are set up first (customer snapshots and resolved bookings, untimed); then changes
with a reason ("Flight delayed by the carrier", the departure 30 minutes later each time) are
published at a fixed rate, each starting a `disruption` journey run, whose critical message is
planned by notifications and sent. Latency: from the change's publication to the SMTP server's
acceptance of "Disruption to your booking <id>" (the booking system's own change notice goes out too,
as it always does, and is not counted). Also reports each worker's CPU per change (from /proc).

    ITINERA_KAFKA_BOOTSTRAP_SERVERS=... ITINERA_PG_PORT=... \
        .venv/bin/python bench/journeys_latency.py --rate 200 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.value_freshness import cpu_seconds  # noqa: E402
from services.kit.contracts.bookings import FlightSegmentV1  # noqa: E402
from services.kit.contracts.customers import CustomerSnapshotV1, ResolvedBookingV1  # noqa: E402
from services.kit.contracts.envelope import Envelope, encode_envelope  # noqa: E402
from tests.harness import KAFKA, PG_PORT, TestEnv, create_env, drop_env, wait_until  # noqa: E402

SUBJECT = re.compile(r"Disruption to your booking (\S+)")
DEPARTURE = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)


class Stamping:
    """An SMTP handler noting when each disruption alert was accepted, by booking id and run."""

    def __init__(self) -> None:
        self.accepted: list[tuple[str, float]] = []
        self.messages = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:  # noqa: N802  # aiosmtpd hook name
        now = time.time()
        self.messages += 1
        raw = envelope.original_content or envelope.content or b""
        raw = raw.encode() if isinstance(raw, str) else raw
        subject = str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"])
        found = SUBJECT.match(subject.strip())  # a long subject is folded right after "Subject:"
        if found:
            self.accepted.append((found.group(1).rstrip(":"), now))
        return "250 OK"


def snapshot(cid: str) -> Envelope[CustomerSnapshotV1]:
    payload = CustomerSnapshotV1(
        customer_id=cid, version=1, given_name="Ann", family_name="Lee", display_name="Ann Lee",
        email=f"{cid}@example.com", language="en", updated_at=datetime.now(UTC),
    )  # fmt: skip
    return Envelope.new(payload, producer="profile", subject_id=cid)


def booking(cid: str, booking_id: str, *, kind: str, shift: int) -> Envelope[ResolvedBookingV1]:
    at = DEPARTURE + timedelta(minutes=30 * shift)
    payload = ResolvedBookingV1(
        customer_id=cid, kind=kind, source_event_id=str(uuid.uuid4()), source_system="bench",  # type: ignore[arg-type]  # a BookingKind
        booking_id=booking_id, occurred_at=datetime.now(UTC),
        reason="Flight delayed by the carrier" if kind == "changed" else None,
        segments=(FlightSegmentV1(carrier="LH", flight_number="400", origin="FRA", destination="JFK", departure_at=at,
                                  arrival_at=at + timedelta(hours=8)),),
    )  # fmt: skip
    return Envelope.new(payload, producer="profile", subject_id=cid)


async def count(env: TestEnv, sql: str) -> int:
    """A figure from the bench's own database (as the administrator: it reads both services' schemas)."""
    conn = await asyncpg.connect(f"postgresql://itinera_admin:itinera_admin@127.0.0.1:{PG_PORT}/{env.database}")
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def main(rate: int, seconds: int, travellers: int, drain_seconds: float) -> None:
    env = await create_env()
    handler = Stamping()
    port = free_port()
    smtp = Controller(handler, hostname="127.0.0.1", port=port)
    smtp.start()
    workers: dict[str, subprocess.Popen[bytes]] = {}
    try:
        environ = dict(
            os.environ, ITINERA_PG_DATABASE=env.database, ITINERA_TOPIC_PREFIX=env.topic_prefix,
            ITINERA_PG_PORT=str(PG_PORT), ITINERA_KAFKA_BOOTSTRAP_SERVERS=KAFKA, ITINERA_LOG_LEVEL="WARNING",
            ITINERA_NOTIFICATIONS_SMTP_PORT=str(port),
            ITINERA_NOTIFICATIONS_DISPATCH_POLL_SECONDS="0.2", ITINERA_TRIPS_JOURNEY_INTERVAL_SECONDS="0.5",
        )  # fmt: skip
        for name in ("trips", "notifications"):  # separate processes, so their CPU can be read from /proc
            command = [sys.executable, "-m", f"services.{name}", "worker"]
            workers[name] = subprocess.Popen(command, cwd=ROOT, env=environ)  # noqa: ASYNC220
        ids = [f"cus_bench_{n}" for n in range(travellers)]
        for cid in ids:
            await env.publish("profile.customers.v1", snapshot(cid))
            await env.publish("profile.bookings.v1", booking(cid, f"BK-{cid}", kind="created", shift=0))
        await wait_until(lambda: _ready(env, travellers), timeout=300, interval=1.0)
        producer = await env.producer()
        # Warm-up (not counted): one change through the whole path, so every consumer has its partitions.
        warm = "cus_bench_warm"
        await env.publish("profile.customers.v1", snapshot(warm))
        await env.publish("profile.bookings.v1", booking(warm, f"BK-{warm}", kind="created", shift=0))
        await env.publish("profile.bookings.v1", booking(warm, f"BK-{warm}", kind="changed", shift=1))
        await wait_until(lambda: any(b == f"BK-{warm}" for b, _ in handler.accepted), timeout=300, interval=0.5)
        await asyncio.sleep(5)  # the warm-up's other messages go out
        handler.accepted.clear()
        handler.messages = 0
        total = rate * seconds
        sent: dict[str, list[float]] = {cid: [] for cid in ids}  # a booking's changes, in order
        cpu0 = {name: cpu_seconds(w.pid) for name, w in workers.items()}
        start = time.monotonic()
        for n in range(total):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            cid = ids[n % travellers]
            event = booking(cid, f"BK-{cid}", kind="changed", shift=n // travellers + 1)
            sent[cid].append(time.time())
            await producer.send(env.topic_prefix + "profile.bookings.v1", value=encode_envelope(event),
                                key=cid.encode(), headers=event.headers())  # fmt: skip
        await producer.flush()
        drained = True
        try:
            await wait_until(lambda: len(handler.accepted) >= total or None, timeout=drain_seconds, interval=1.0)
        except AssertionError:
            drained = False
        cpu = {name: cpu_seconds(w.pid) - cpu0[name] for name, w in workers.items()}
        # The n-th alert of a booking answers its n-th change (a booking's changes stay in order).
        seen: dict[str, int] = {}
        lags: list[float] = []
        for booking_id, at in sorted(handler.accepted, key=lambda a: a[1]):
            cid = booking_id.removeprefix("BK-")
            k = seen.get(cid, 0)
            seen[cid] = k + 1
            if k < len(sent.get(cid, [])):
                lags.append((at - sent[cid][k]) * 1000)
        lags.sort()
        runs = await count(env, "SELECT count(*) FROM trips.journey_runs WHERE journey = 'disruption'")
        planned = await count(
            env, "SELECT count(*) FROM notifications.deliveries WHERE template = 'journey_disruption'"
        )
        print(f"disruption runs {runs}, alerts planned {planned}")
        stages = await _stages(env)
        print("stages, median ms: " + ", ".join(f"{k} {v:.0f}" for k, v in stages.items()))
        if len(lags) < 2:
            print(f"no alerts measured: {handler.messages} message(s) accepted, {len(handler.accepted)} alert(s)")
            return
        q = statistics.quantiles(lags, n=100)
        done = len(lags)
        print(f"changes {total} at {rate}/s for {seconds}s over {travellers} travellers; alerts {done}"
              + ("" if drained else ", NOT DRAINED in time"))  # fmt: skip
        print(f"alert latency ms: p50 {q[49]:.0f}  p90 {q[89]:.0f}  p99 {q[98]:.0f}  max {lags[-1]:.0f}")
        for name, used in cpu.items():
            print(f"{name} worker CPU: {used:.1f} s, {used / max(done, 1) * 1000:.2f} ms per change")
        print(f"messages accepted by the SMTP server in the timed part: {handler.messages}")
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        for w in workers.values():
            w.terminate()
            try:
                w.wait(timeout=30)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
        smtp.stop()
        await drop_env(env)


async def _stages(env: TestEnv) -> dict[str, float]:
    """Where the time goes: change (its event time) → journey run started in trips → alert planned in
    notifications → accepted by the mail server (medians over the alerts)."""
    conn = await asyncpg.connect(f"postgresql://itinera_admin:itinera_admin@127.0.0.1:{PG_PORT}/{env.database}")
    try:
        row = await conn.fetchrow(
            """
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.started_at - c.at)) AS trips,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.created_at - r.started_at))
                       AS planned,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.sent_at - d.created_at)) AS sent
              FROM trips.journey_runs r
              JOIN notifications.deliveries d ON d.cause_id = r.run_id || ':0'
              JOIN trips.timeline c ON c.kind = 'booking.changed' AND c.trip_id = r.trip_id
                                   AND c.detail->>'kind' = 'changed'
                                   AND r.facts->>'booking_id' = c.detail->>'booking_id'
                                   AND c.event_id IS NOT NULL
             WHERE r.journey = 'disruption' AND c.entry_id = (
                   SELECT max(entry_id) FROM trips.timeline x
                    WHERE x.trip_id = r.trip_id AND x.kind = 'booking.changed' AND x.at <= r.started_at)
            """
        )
    finally:
        await conn.close()
    return {k: float(v or 0) * 1000 for k, v in dict(row).items()}


async def _ready(env: TestEnv, travellers: int) -> Any:
    try:
        return await _counted(env, travellers)
    except asyncpg.UndefinedTableError:  # the workers are still migrating
        return False


async def _counted(env: TestEnv, travellers: int) -> bool:
    trips = await count(env, "SELECT count(*) FROM trips.bookings")
    known = await count(env, "SELECT count(*) FROM notifications.customer_view WHERE kind = 'customer'")
    return trips >= travellers and known >= travellers


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--travellers", type=int, default=400, help="changes go round these travellers' bookings")
    parser.add_argument("--drain-seconds", type=float, default=300)
    a = parser.parse_args()
    asyncio.run(main(a.rate, a.seconds, a.travellers, a.drain_seconds))
