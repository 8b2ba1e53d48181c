"""`python -m services.profile import FILE`: bulk import of source records with a progress bar.

`python -m services.profile estimate-weights [--sample N] [--seed S] [--activate]`: learn a version
of the match model's parameters from the stored records, store it, and (with `--activate`, when it
passes the sanity checks) make it the one resolution decides with.

With `--workers N` the file is split by source record over N processes, each resolving
its share in its own transactions; the advisory locks that make concurrent Kafka
consumers converge make parallel importers converge too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

from tqdm import tqdm

from services.kit.db import apply_migrations, connection, create_pool
from services.kit.logging import configure_logging
from services.profile.adapters import parameters as parameters_store
from services.profile.bootstrap import profile_config
from services.profile.service_layer import bulk
from services.profile.service_layer.parameters import estimate_weights
from services.profile.service_layer.rekey import rekey
from services.profile.settings import ProfileSettings

log = logging.getLogger(__name__)


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


async def _import_shard(
    path: Path,
    *,
    fmt: bulk.Format,
    source_system: str | None,
    settings: ProfileSettings,
    batch_size: int,
    shard: int,
    shards: int,
    progress: Any,
    overlap: bool = True,
) -> bulk.ImportSummary:
    pool = await create_pool(settings)
    # One importer process: a helper process normalises records ahead of it (the second core).
    helper = None
    if shards == 1:
        helper = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            rows = ((n, row) for n, row in bulk.read_rows(f, fmt) if bulk.shard_of(row, shards) == shard)
            lines = None
            if helper is not None and fmt == "jsonl":
                lines = ((n, line) for n, line in enumerate(f, start=1) if line.strip())
            return await bulk.import_rows(
                pool,
                rows,
                jsonl_lines=lines,
                config=profile_config(settings),
                default_source=source_system,
                batch_size=batch_size,
                progress=progress,
                executor=helper,
                overlap=overlap,
            )
    finally:
        if helper is not None:
            helper.shutdown(cancel_futures=True)
        await pool.close()


_COUNTER: Synchronized[int] | None = None


def _init_worker(counter: Synchronized[int]) -> None:
    global _COUNTER  # noqa: PLW0603  # handed to each worker process once, by inheritance
    _COUNTER = counter


def _shard_process(
    path: Path,
    fmt: bulk.Format,
    source_system: str | None,
    settings: ProfileSettings,
    batch_size: int,
    shard: int,
    shards: int,
    overlap: bool = True,
) -> tuple[dict[str, Any], float]:
    def advance(n: int) -> None:
        if _COUNTER is not None:
            with _COUNTER.get_lock():
                _COUNTER.value += n

    summary = asyncio.run(
        _import_shard(
            path,
            fmt=fmt,
            source_system=source_system,
            settings=settings,
            batch_size=batch_size,
            shard=shard,
            shards=shards,
            progress=advance,
            overlap=overlap,
        )
    )
    return summary.to_json() | {"errors": summary.errors}, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run_import(
    path: Path,
    *,
    fmt: bulk.Format,
    source_system: str | None,
    settings: ProfileSettings,
    batch_size: int,
    show_progress: bool = True,
    workers: int = 1,
    overlap: bool = True,
) -> bulk.ImportSummary:
    """Import one file into the profile database; the running service's relay publishes the outbox events."""
    pool = await create_pool(settings)
    try:
        await apply_migrations(
            pool, schema=settings.service_name, packages=["services.kit.migrations", "services.profile.migrations"]
        )
    finally:
        await pool.close()
    total = _count_lines(path) - (1 if fmt == "csv" else 0)
    with tqdm(total=total, unit="rec", unit_scale=True, disable=not show_progress, file=sys.stderr) as bar:
        if workers <= 1:
            return await _import_shard(
                path,
                fmt=fmt,
                source_system=source_system,
                settings=settings,
                batch_size=batch_size,
                shard=0,
                shards=1,
                progress=bar.update,
                overlap=overlap,
            )
        ctx = multiprocessing.get_context("spawn")
        counter: Synchronized[int] = ctx.Value("q", 0)
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(counter,)
        ) as executor:
            futures = [
                loop.run_in_executor(
                    executor, _shard_process, path, fmt, source_system, settings, batch_size, shard, workers, overlap
                )
                for shard in range(workers)
            ]
            done = asyncio.gather(*futures)
            while not done.done():
                await asyncio.wait([done], timeout=0.5)
                bar.update(counter.value - bar.n)
            results = done.result()
        summary = bulk.ImportSummary()
        for part, rss in results:
            summary.records += part["records"]
            summary.customers_created += part["customers_created"]
            summary.linked += part["linked"]
            summary.reviews += part["reviews"]
            summary.rejected += part["rejected"]
            summary.errors += part["errors"]
            summary.peak_worker_rss_mb = max(summary.peak_worker_rss_mb, rss)
        return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.profile import", description=__doc__)
    parser.add_argument("file", type=Path, help="CSV (with header) or JSON Lines file of source records")
    parser.add_argument("--format", choices=["csv", "jsonl"], help="default: from the file extension")
    parser.add_argument("--source-system", help="source system for rows that do not name one")
    parser.add_argument("--batch-size", type=int, default=None, help="records resolved per transaction")
    parser.add_argument("--workers", type=int, default=1, help="parallel importer processes")
    parser.add_argument(
        "--no-overlap", action="store_true", help="resolve each chunk after the previous one has committed"
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    settings = ProfileSettings()
    configure_logging(service=settings.service_name, level=settings.log_level, fmt="text")
    fmt: bulk.Format = args.format or ("csv" if args.file.suffix.lower() == ".csv" else "jsonl")
    started = time.perf_counter()
    summary = asyncio.run(
        run_import(
            args.file,
            fmt=fmt,
            source_system=args.source_system,
            settings=settings,
            batch_size=args.batch_size or settings.import_batch_size,
            show_progress=not args.no_progress,
            workers=args.workers,
            overlap=not args.no_overlap,
        )
    )
    out = summary.to_json()
    out["seconds"] = round(time.perf_counter() - started, 1)
    out["peak_rss_mb"] = round(
        max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, summary.peak_worker_rss_mb), 1
    )
    sys.stdout.write(json.dumps(out, indent=2) + "\n")


async def _estimate(settings: ProfileSettings, *, sample: int, seed: int, activate: bool) -> dict[str, Any]:
    pool = await create_pool(settings)
    try:
        await apply_migrations(
            pool, schema=settings.service_name, packages=["services.kit.migrations", "services.profile.migrations"]
        )
        async with connection(pool) as conn:
            done = await estimate_weights(
                conn, sample=sample, seed=seed, activate=activate, min_records=settings.weights_min_records
            )
            listed = await parameters_store.versions(conn, limit=5)
    finally:
        await pool.close()
    p = done.parameters
    return {
        "version": p.version,
        "stored": done.stored,
        "activated": done.activated,
        "problems": done.problems,
        "prior": round(p.prior, 6),
        "thresholds": {"upper": round(p.upper, 3), "lower": round(p.lower, 3)},
        "record_count": p.record_count,
        "notes": dict(p.notes),
        "weights": {c: {lv: round(w, 3) for lv, w in ws.items()} for c, ws in p.weights.items()},
        "recent_versions": [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()} for row in listed
        ],
    }


def estimate_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m services.profile estimate-weights",
        description="Learn the match model's m/u-probabilities and prior from the stored records.",
    )
    parser.add_argument("--sample", type=int, default=None, help="records sampled (default: the settings')")
    parser.add_argument("--seed", type=int, default=0, help="the same seed and store give the same version")
    parser.add_argument("--activate", action="store_true", help="activate the version if it passes the checks")
    args = parser.parse_args(argv)
    settings = ProfileSettings()
    configure_logging(service=settings.service_name, level=settings.log_level, fmt="text")
    out = asyncio.run(
        _estimate(settings, sample=args.sample or settings.weights_sample, seed=args.seed, activate=args.activate)
    )
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
    if args.activate and not out["activated"]:
        sys.exit(1)


async def _rekey(settings: ProfileSettings, *, chunk: int) -> dict[str, Any]:
    pool = await create_pool(settings)
    try:
        await apply_migrations(
            pool, schema=settings.service_name, packages=["services.kit.migrations", "services.profile.migrations"]
        )
        done = await rekey(pool, chunk=chunk)
    finally:
        await pool.close()
    return {"records": done.records, "keys_added": done.keys_added, "features_updated": done.features_updated}


def rekey_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m services.profile rekey",
        description="Give every stored record the match features and blocking keys this version computes (after "
        "an upgrade that changed them); safe beside the workers and to run again.",
    )
    parser.add_argument("--chunk", type=int, default=2000, help="records per transaction")
    args = parser.parse_args(argv)
    if args.chunk < 1:
        parser.error("--chunk must be at least 1")
    settings = ProfileSettings()
    configure_logging(service=settings.service_name, level=settings.log_level, fmt="text")
    started = time.perf_counter()
    out = asyncio.run(_rekey(settings, chunk=args.chunk))
    out["seconds"] = round(time.perf_counter() - started, 1)
    sys.stdout.write(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
