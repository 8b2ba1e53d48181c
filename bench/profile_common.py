"""Shared pieces of the profile benchmarks: a throwaway environment and the bulk import."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from services.profile.entrypoints.cli import run_import
from services.profile.service_layer.bulk import ImportSummary
from services.profile.settings import ProfileSettings
from tests.harness import TestEnv, create_env, drop_env


@asynccontextmanager
async def throwaway(*, keep: bool = False) -> AsyncIterator[TestEnv]:
    """A fresh database (per-service schemas) and topic prefix; dropped afterwards unless `keep`."""
    env = await create_env()
    try:
        yield env
    finally:
        if keep:
            print(f"kept database {env.database} (topic prefix {env.topic_prefix})")
            await env.close()
        else:
            await drop_env(env)


def profile_settings(env: TestEnv, **overrides: object) -> ProfileSettings:
    return env.settings(ProfileSettings, log_level="WARNING", **overrides)


async def timed_import(
    env: TestEnv, path: Path, *, batch_size: int, progress: bool = True
) -> tuple[ImportSummary, float]:
    started = time.perf_counter()
    summary = await run_import(
        path,
        fmt="jsonl",
        source_system=None,
        settings=profile_settings(env),
        batch_size=batch_size,
        show_progress=progress,
    )
    return summary, time.perf_counter() - started


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    """nproc, memory and Python: what the figures were measured on."""
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    memory = f"{mem_kb / 1024 / 1024:.1f} GiB RAM"
    return f"{os.cpu_count()} cores, {memory}, Python {platform.python_version()}, {pg or 'PostgreSQL'}"
