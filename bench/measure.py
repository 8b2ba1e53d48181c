"""What the benchmark scripts measure besides time: CPU of processes and database backends, load."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (Linux `/proc`; None elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def database_cpu_seconds(conn: Any, database: str) -> float | None:
    """CPU seconds used so far by the PostgreSQL backends connected to `database` (None if unreadable).

    Backends of a pool live as long as their connections, so two readings around a run give the
    database work the run caused (background processes such as the WAL writer are not counted).
    """
    pids = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database)
    total = 0.0
    for r in pids:
        cpu = cpu_seconds(r["pid"])
        if cpu is None:
            return None
        total += cpu
    return total


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"
