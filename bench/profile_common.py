"""Shared pieces of the profile benchmarks: a throwaway environment and the bulk import."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import threading
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


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc), None when unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BackendCpu:
    """CPU seconds spent by the PostgreSQL backends serving one database (a local server only).

    Backends come and go with pools, so a sampler thread remembers each backend's last
    reading; `seconds()` is the sum over every backend seen since `start()`.
    """

    def __init__(self, database: str, interval: float = 0.25) -> None:
        self._needle = f" {database} ".encode()
        self._interval = interval
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if not cmd.startswith(b"postgres:") or self._needle not in cmd:
                continue
            cpu = process_cpu_seconds(int(name))
            if cpu is not None:
                # A backend that started after `start()` counts from zero.
                self._first.setdefault(int(name), cpu if not self._thread.is_alive() else 0.0)
                self._last[int(name)] = cpu

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def start(self) -> BackendCpu:
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self._sample()
        return self.seconds()

    def seconds(self) -> float:
        return sum(self._last[p] - self._first[p] for p in self._last)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
