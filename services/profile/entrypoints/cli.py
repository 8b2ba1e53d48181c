"""`python -m services.profile import FILE`: bulk import of source records with a progress bar."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from services.kit.db import apply_migrations, create_pool
from services.kit.logging import configure_logging
from services.profile.bootstrap import profile_config
from services.profile.service_layer import bulk
from services.profile.settings import ProfileSettings

log = logging.getLogger(__name__)


def _advance(bar: tqdm[Any], n: int) -> None:
    bar.update(n)


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


async def run_import(
    path: Path,
    *,
    fmt: bulk.Format,
    source_system: str | None,
    settings: ProfileSettings,
    batch_size: int,
    show_progress: bool = True,
) -> bulk.ImportSummary:
    """Import one file into the profile database; outbox events are published by the running service's relay."""
    pool = await create_pool(settings)
    try:
        await apply_migrations(
            pool, schema=settings.service_name, packages=["services.kit.migrations", "services.profile.migrations"]
        )
        total = _count_lines(path) - (1 if fmt == "csv" else 0)
        with (
            path.open(encoding="utf-8-sig", newline="") as f,
            tqdm(total=total, unit="rec", unit_scale=True, disable=not show_progress, file=sys.stderr) as bar,
        ):
            return await bulk.import_rows(
                pool,
                bulk.read_rows(f, fmt),
                config=profile_config(settings),
                default_source=source_system,
                batch_size=batch_size,
                progress=lambda n: _advance(bar, n),
            )
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.profile import", description=__doc__)
    parser.add_argument("file", type=Path, help="CSV (with header) or JSON Lines file of source records")
    parser.add_argument("--format", choices=["csv", "jsonl"], help="default: from the file extension")
    parser.add_argument("--source-system", help="source system for rows that do not name one")
    parser.add_argument("--batch-size", type=int, default=None, help="records resolved per transaction")
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
        )
    )
    out = summary.to_json()
    out["seconds"] = round(time.perf_counter() - started, 1)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    sys.stdout.write(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
