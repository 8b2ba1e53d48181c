"""What the erased-id guard costs a consumer batch (`services.kit.erasure.skip_erased_batch`).

Every consumer that could bring an erased traveller back (bookings, view readers, deliveries) looks
the keys of each batch up in `erased_subjects` (keyed digests, one indexed query per batch). This
times that lookup for batches of `--batch` distinct keys against `--erased` erased subjects, in a
transaction on the value schema that is rolled back (nothing stays), and reports the time per batch
and per record, wall clock and PostgreSQL backend CPU (from `/proc`, when the server is local).

    .venv/bin/python -m bench.erasure_guard --erased 100000 --batch 500 --batches 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from typing import cast

import asyncpg

from services.kit.db import apply_migrations, create_pool
from services.kit.erasure import erased_among, subject_digest
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
                keys = [[f"cus_{uuid.uuid4().hex}" for _ in range(batch)] for _ in range(batches)]
                cpu0, t0, own0 = _backend_cpu(backend), time.perf_counter(), time.process_time()
                for k in keys:
                    await erased_among(conn, KEY, k)
                wall, cpu = time.perf_counter() - t0, _backend_cpu(backend) - cpu0
                own = time.process_time() - own0
            finally:
                await transaction.rollback()
    finally:
        await pool.close()
    records = batches * batch
    return (
        f"erased subjects {erased}, batches of {batch}: {wall / batches * 1000:.2f} ms wall per batch;"
        f" per record: consumer CPU {own / records * 1e6:.1f} µs (digests and the query),"
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
