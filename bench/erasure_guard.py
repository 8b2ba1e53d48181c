"""What the erased-id guard costs a consumer batch (`services.kit.erasure.skip_erased_batch`).

Every consumer that could bring an erased traveller back (bookings, view readers, deliveries) looks
the keys of each batch up in `erased_subjects` (keyed digests, one indexed query per batch, after a
shared lock against erasures). This times that guard for batches of `--batch` distinct keys against
`--erased` erased subjects, in a transaction on the value schema that is rolled back (nothing
stays), and reports the time per batch, and the consumer's and the PostgreSQL backend's CPU per
record (from `/proc`, when the server is local).

    .venv/bin/python -m bench.erasure_guard --erased 100000 --batch 500 --batches 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg

from services.kit.contracts.envelope import Envelope
from services.kit.contracts.privacy import ErasureStepDoneV1
from services.kit.db import apply_migrations, create_pool
from services.kit.erasure import skip_erased_batch, subject_digest
from services.value.settings import ValueSettings

KEY = b"bench-erasure-key"


def _backend_cpu(pid: int) -> float:
    """CPU seconds of one PostgreSQL backend (utime + stime), or 0 when its /proc entry is not readable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


async def _noop(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
    return None


async def run(erased: int, batch: int, batches: int) -> str:
    settings = ValueSettings()
    pool = await create_pool(settings)
    try:
        await apply_migrations(
            pool, schema=settings.db_schema, packages=["services.kit.migrations", "services.value.migrations"]
        )
        async with pool.acquire() as proxy:
            conn = cast(asyncpg.Connection, proxy)
            transaction = conn.transaction()
            await transaction.start()
            try:
                await conn.execute(
                    "INSERT INTO erased_subjects (digest, erasure_id) SELECT d, 'bench' FROM unnest($1::text[]) AS d",
                    [subject_digest(KEY, f"cus_{uuid.uuid4().hex}") for _ in range(erased)],
                )
                await conn.execute("ANALYZE erased_subjects")
                backend = await conn.fetchval("SELECT pg_backend_pid()")
                # Built beforehand: only the guard is timed (its shared lock, the digests, the look-up).
                payload = ErasureStepDoneV1(
                    erasure_id="x", service="bench", customer_ids=0, completed_at=datetime.now(UTC)
                )
                batches_of_events = [
                    [Envelope.new(payload, producer="bench", subject_id=f"cus_{uuid.uuid4().hex}") for _ in range(n)]
                    for n in [batch] * batches
                ]
                guard = skip_erased_batch(_noop, key=KEY)
                cpu0, t0, own0 = _backend_cpu(backend), time.perf_counter(), time.process_time()
                for events in batches_of_events:
                    await guard(conn, events)
                wall, cpu = time.perf_counter() - t0, _backend_cpu(backend) - cpu0
                own = time.process_time() - own0
            finally:
                await transaction.rollback()
    finally:
        await pool.close()
    records = batches * batch
    return (
        f"erased subjects {erased}, batches of {batch}: {wall / batches * 1000:.2f} ms wall per batch;"
        f" per record: consumer CPU {own / records * 1e6:.1f} µs (lock, digests, look-up),"
        f" PostgreSQL backend CPU {cpu / records * 1e6:.1f} µs; load average {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.erasure_guard")
    parser.add_argument("--erased", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    print(asyncio.run(run(args.erased, args.batch, args.batches)))  # CLI output


if __name__ == "__main__":
    main()
