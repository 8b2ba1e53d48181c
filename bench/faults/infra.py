"""The harness's own Kafka broker and PostgreSQL cluster, which its faults may stop and restart.

They are the project's own local scripts (`deploy/local/kafka.sh`, `deploy/local/postgres.sh`)
run with a throwaway state directory and free loopback ports, so nothing else on the machine
(a `make up`, the test suite, another harness) is disturbed when the broker or the database
goes away. The broker's jars are shared with the repository's state directory
(`ITINERA_KAFKA_LIBS`) instead of being fetched again for every run.

Every scenario gets its own database (the same per-service schemas and roles as production)
and its own topic prefix, so scenarios never see each other's data or consumer groups.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "deploy" / "local"
ADMIN = "itinera_admin"


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shared_libs() -> Path:
    """Where the broker's jars are kept for every harness run: the repository's own state directory
    (`make infra-up` fetches them there; otherwise the first run does, once)."""
    libs = Path(os.environ.get("ITINERA_STATE_DIR", ROOT / ".state")) / "kafka" / "libs"
    libs.parent.mkdir(parents=True, exist_ok=True)
    return libs


@dataclass
class Infra:
    """A private Kafka broker and PostgreSQL cluster under `state_dir`, on free ports."""

    state_dir: Path
    kafka_port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    pg_port: int = field(default_factory=free_port)
    kafka_libs: Path | None = field(default_factory=shared_libs)
    script_timeout: float = 240.0
    _started: bool = False

    @classmethod
    def create(cls, parent: Path | None = None) -> Infra:
        """A new state directory under `parent` (default: the repository's `.state/faults`).

        Under the repository rather than /tmp: the PostgreSQL server runs as the `postgres` OS
        user when the harness runs as root, and must be able to reach its data directory.
        """
        base = parent or ROOT / ".state" / "faults"
        base.mkdir(parents=True, exist_ok=True)
        state = Path(tempfile.mkdtemp(prefix="run-", dir=base))
        state.chmod(0o755)
        return cls(state_dir=state)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{ADMIN}:{ADMIN}@127.0.0.1:{self.pg_port}/{database}"

    def env(self) -> dict[str, str]:
        """Environment for the local scripts and anything that talks to these engines."""
        env = dict(os.environ)
        env.update(
            ITINERA_STATE_DIR=str(self.state_dir),
            ITINERA_KAFKA_PORT=str(self.kafka_port),
            ITINERA_KAFKA_CONTROLLER_PORT=str(self.controller_port),
            ITINERA_PG_PORT=str(self.pg_port),
            ITINERA_KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
            ITINERA_PG_HOST="127.0.0.1",
            # A small cluster: the harness's data is a few thousand bookings.
            ITINERA_PG_SHARED_BUFFERS="128MB",
            # A restart on a busy two-core machine: the JVM alone can take a minute to answer.
            ITINERA_KAFKA_START_TIMEOUT="240",
            ITINERA_PG_START_TIMEOUT="120",
        )
        if self.kafka_libs is not None:
            env["ITINERA_KAFKA_LIBS"] = str(self.kafka_libs)
        return env

    def _script(self, name: str, action: str) -> None:
        started = time.monotonic()
        result = subprocess.run(
            ["bash", str(SCRIPTS / name), action],
            env=self.env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=self.script_timeout,
            check=False,
        )
        if result.returncode != 0:
            sys.stderr.write(result.stderr)
            raise RuntimeError(f"{name} {action} failed with exit status {result.returncode}")
        log.info("%s %s took %.1fs", name, action, time.monotonic() - started)

    def start(self) -> None:
        """Start PostgreSQL and the broker (first start: initdb and storage format)."""
        self._started = True
        self._script("postgres.sh", "start")
        self._script("kafka.sh", "start")

    def stop_kafka(self) -> None:
        self._script("kafka.sh", "stop")

    def start_kafka(self) -> None:
        self._script("kafka.sh", "start")

    def stop_postgres(self) -> None:
        self._script("postgres.sh", "stop")

    def start_postgres(self) -> None:
        self._script("postgres.sh", "start")

    def kafka_pid(self) -> int | None:
        try:
            return int((self.state_dir / "kafka" / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def destroy(self, *, keep: bool = False) -> None:
        """Stop both engines; unless `keep`, delete their data and the state directory."""
        if not self._started:
            return
        for script in ("kafka.sh", "postgres.sh"):
            with contextlib.suppress(Exception):
                self._script(script, "stop" if keep else "reset")
        if not keep:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        self._started = False


async def create_database(infra: Infra, name: str) -> None:
    """A fresh database with the per-service schemas (roles are cluster-wide, made by postgres.sh)."""
    admin = await asyncpg.connect(infra.dsn())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}" OWNER {ADMIN}')
    finally:
        await admin.close()
    conn = await asyncpg.connect(infra.dsn(name))
    try:
        await conn.execute((ROOT / "deploy" / "postgres" / "schemas.sql").read_text())
    finally:
        await conn.close()


async def drop_database(infra: Infra, name: str) -> None:
    admin = await asyncpg.connect(infra.dsn())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def create_topics(infra: Infra, prefix: str, code: Path = ROOT) -> None:
    """The catalogue's topics under `prefix`, as `make topics` creates them (with `code`'s catalogue)."""
    env = infra.env()
    env["ITINERA_TOPIC_PREFIX"] = prefix
    subprocess.run(
        [sys.executable, "-m", "services.kit", "topics", "create"],
        env=env,
        cwd=code,
        check=True,
        capture_output=True,
        timeout=120,
    )
