"""What the benchmark scripts share: CPU of processes and database backends, load, worker
processes, and running a script with another checkout's code."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
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


def broker_cpu_seconds() -> float | None:
    """CPU seconds the local Kafka broker (`make infra-up`, its pid file in the state directory)
    has used so far; None if it is not running from there (e.g. another broker was given)."""
    state = Path(os.environ.get("ITINERA_STATE_DIR", Path(__file__).resolve().parents[1] / ".state"))
    try:
        pid = int((state / "kafka" / "kafka.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return cpu_seconds(pid)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


async def stop_process(proc: subprocess.Popen[bytes], *, grace: float = 15.0) -> None:
    """Terminate a worker process, killing it if it has not exited after `grace` seconds."""
    proc.terminate()
    for _ in range(int(grace * 10)):
        if proc.poll() is not None:
            return
        await asyncio.sleep(0.1)
    proc.kill()


def run_from_checkout(checkout: Path, script: str, argv: list[str]) -> int:
    """Run the benchmark script `script` (a file path) with the packages of another checkout, to compare
    two versions of the code with the same benchmark; returns its exit status."""
    runner = (
        "import runpy, sys; sys.path.insert(0, '.'); "
        f"sys.argv = {[Path(script).stem, *argv]!r}; "
        f"runpy.run_path({str(Path(script).resolve())!r}, run_name='__main__')"
    )
    return subprocess.call([sys.executable, "-c", runner], cwd=checkout)


async def ensure_partitions(topic: str, count: int, *, bootstrap_servers: str) -> int:
    """At least `count` partitions on `topic` (a topic's partitions can only grow); returns how many it has.

    The test harness makes 3 partitions per topic; the topic catalogue gives production topics 6, so
    that two or three workers share them evenly (with 3, two workers split the load 2:1).
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewPartitions

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        have = len(described["partitions"])
        if have < count:
            await admin.create_partitions({topic: NewPartitions(total_count=count)})
            return count
        return have
    finally:
        await admin.close()
