"""Bulk import: 1,000,000 source records from a file to resolved golden records.

    python -m bench.profile_bulk --records 1000000 [--workers 1] [--keep] [--no-overlap]

Generates the file (bench/profile_datagen.py; by default distinct travellers, so the
result is also the 1M-customer population bench/profile_streaming.py measures against;
`--duplicates` adds the corruption model's duplicates), then imports it with the real
CLI path (`python -m services.profile import --workers N`) into a throwaway database.
Reports wall time of the import, records/s, peak memory of the importer processes, CPU
time per record of the importer, its normalising helper and the PostgreSQL backends, the
load average, and what the database holds afterwards. `--keep` leaves the database for the streaming benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from pathlib import Path

from bench.profile_common import BackendCpu, load_average, machine, profile_settings, throwaway
from bench.profile_datagen import generate
from services.profile.entrypoints.cli import run_import


async def run(
    records: int, workers: int, batch_size: int, duplicates: bool, keep: bool, file: Path | None, overlap: bool = True
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        path = file or Path(tmp) / "records.jsonl"
        started = time.perf_counter()
        if file is None or not file.exists():
            written = 0
            with path.open("w", encoding="utf-8") as f:
                # With duplicates a traveller yields 1.73 records on average.
                entities = records if not duplicates else int(records / 1.73) + 1
                for row in generate(entities, seed=11, duplicates=duplicates):
                    if written >= records:
                        break
                    row.pop("entity_id")
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                    written += 1
        generated = time.perf_counter() - started
        async with throwaway(keep=keep) as env:
            settings = profile_settings(env)
            backends = BackendCpu(env.database).start()
            cpu0 = _cpu()
            t0 = time.perf_counter()
            summary = await run_import(
                path,
                fmt="jsonl",
                source_system=None,
                settings=settings,
                batch_size=batch_size,
                workers=workers,
                overlap=overlap,
            )
            seconds = time.perf_counter() - t0
            cpu1 = _cpu()
            pg_cpu = backends.stop()
            load = load_average()
            conn = await env.admin_connect()
            try:
                counts = await conn.fetchrow(
                    "SELECT (SELECT count(*) FROM profile.customers) AS customers,"
                    " (SELECT count(*) FROM profile.source_records) AS source_records,"
                    " (SELECT count(*) FROM profile.blocking_key_hashes) AS blocking_keys,"
                    " (SELECT count(*) FROM profile.outbox) AS outbox_events,"
                    " (SELECT count(*) FROM profile.review_queue) AS review_items,"
                    " pg_size_pretty(pg_database_size(current_database())) AS database_size"
                )
            finally:
                await conn.close()
            kept = {"database": env.database, "topic_prefix": env.topic_prefix} if keep else {}
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "machine": machine(),
        "records": summary.records,
        "workers": workers,
        "batch_size": batch_size,
        "overlap": overlap,
        "overlapped_chunks": summary.overlapped,
        "overlapped_step_seconds": {k: round(v, 1) for k, v in summary.step_seconds.items()},
        "generate_seconds": round(generated, 1),
        "import_seconds": round(seconds, 1),
        "records_per_second": round(summary.records / seconds),
        "peak_rss_mb_importer_process": round(max(children, summary.peak_worker_rss_mb) if workers > 1 else own, 1),
        "peak_rss_mb_helper_process": round(children, 1) if workers == 1 else None,
        "peak_rss_mb_driver_process": round(own, 1),
        "cpu_ms_per_record": {
            "importer_process": round((cpu1[0] - cpu0[0]) * 1000 / max(1, summary.records), 3),
            "helper_processes": round((cpu1[1] - cpu0[1]) * 1000 / max(1, summary.records), 3),
            "postgresql_backends": round(pg_cpu * 1000 / max(1, summary.records), 3),
        },
        "load_average_at_end": load,
        **dict(counts),
        "summary": {k: v for k, v in summary.to_json().items() if k != "errors"},
        **kept,
    }


def _cpu() -> tuple[float, float]:
    """CPU seconds of this process and of its finished child processes (importer helpers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument(
        "--workers", type=int, default=1, help="importer processes (1: one importer with a normalising helper)"
    )
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--duplicates", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database for bench/profile_streaming.py")
    parser.add_argument("--file", type=Path, help="reuse (or write) the generated file here")
    parser.add_argument("--no-overlap", action="store_true", help="chunk by chunk (the import before overlapping)")
    args = parser.parse_args()
    result = asyncio.run(
        run(args.records, args.workers, args.batch_size, args.duplicates, args.keep, args.file, not args.no_overlap)
    )
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
