"""The four services as real OS processes, and a real SMTP server recording every email.

Each service process is `python -m services.<name> serve` (API, consumers, outbox relay and
jobs), in its own process group, with its own HTTP port and log file. The harness kills
them with SIGKILL as a fault, and always stops whatever it started: on normal exit, on an
exception, and at interpreter exit (`atexit`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import email
import email.policy
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bench.faults.infra import ROOT, free_port

_LIVE: set[subprocess.Popen[bytes]] = set()


def _kill_all_at_exit() -> None:
    for proc in list(_LIVE):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


atexit.register(_kill_all_at_exit)


@dataclass(frozen=True)
class Email:
    message_id: str
    to: str
    subject: str
    received_at: float


class _Recorder:
    def __init__(self) -> None:
        self.emails: list[Email] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802  # aiosmtpd hook
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        with self._lock:
            self.emails.append(
                Email(str(msg["Message-ID"] or ""), str(msg["To"] or ""), str(msg["Subject"] or ""), time.time())
            )
        return "250 Message accepted for delivery"


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free loopback port, keeping each email's Message-ID."""

    def __init__(self) -> None:
        self._recorder = _Recorder()
        self.port = free_port()
        self._controller = Controller(self._recorder, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=True)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._controller.stop()

    @property
    def emails(self) -> list[Email]:
        return list(self._recorder.emails)


@dataclass
class ServiceProcess:
    """One `python -m services.<name> serve` process."""

    service: str
    instance: int
    env: dict[str, str]
    log_path: Path
    http_port: int = field(default_factory=free_port)
    code: Path = ROOT  # the checkout whose services run
    static_membership: bool = False  # ITINERA_INSTANCE_ID per process: a restart takes its partitions back at once
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def name(self) -> str:
        return f"{self.service}-{self.instance}"

    def start(self) -> None:
        env = dict(self.env)
        env[f"ITINERA_{self.service.upper()}_HTTP_PORT"] = str(self.http_port)
        if self.static_membership:
            env["ITINERA_INSTANCE_ID"] = self.name
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.service}", "serve"],
                cwd=self.code,  # `-m` imports from the working directory first
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: killed as one
            )
        _LIVE.add(self.proc)
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no shutdown code runs."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        _LIVE.discard(self.proc)

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM (a clean shutdown), SIGKILL after `grace` seconds."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything it left behind in its group
        _LIVE.discard(self.proc)

    async def readiness(self, client: httpx.AsyncClient) -> bool | None:
        """True/False for /readyz 200/503; None when the process does not answer at all."""
        if not self.alive:
            return None
        try:
            response = await client.get(f"http://127.0.0.1:{self.http_port}/readyz", timeout=2.0)
        except httpx.HTTPError:
            return None
        return response.status_code == 200

    async def failing_checks(self, client: httpx.AsyncClient) -> list[str]:
        """The checks /readyz names as failing (or why it could not be asked)."""
        if not self.alive:
            return ["process not running"]
        try:
            response = await client.get(f"http://127.0.0.1:{self.http_port}/readyz", timeout=2.0)
            checks = response.json().get("checks", {})
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            return [f"no answer: {type(exc).__name__}"]
        return sorted(name for name, ok in checks.items() if ok is not True)

    async def metrics(self, client: httpx.AsyncClient, ops_key: str = "dev-ops-key") -> str | None:
        try:
            response = await client.get(
                f"http://127.0.0.1:{self.http_port}/metrics", headers={"X-API-Key": ops_key}, timeout=2.0
            )
        except httpx.HTTPError:
            return None
        return response.text if response.status_code == 200 else None


def service_env(
    base: dict[str, str], *, database: str, topic_prefix: str, smtp_port: int, extra: dict[str, Any] | None = None
) -> dict[str, str]:
    """What every service process of a scenario is started with."""
    env = dict(base)
    env.update(
        ITINERA_ENVIRONMENT="development",
        ITINERA_PG_DATABASE=database,
        ITINERA_TOPIC_PREFIX=topic_prefix,
        ITINERA_LOG_FORMAT="json",
        ITINERA_NOTIFICATIONS_SMTP_HOST="127.0.0.1",
        ITINERA_NOTIFICATIONS_SMTP_PORT=str(smtp_port),
        # No quiet hours: with the default window (22:00-07:00) emails would wait for the morning.
        ITINERA_NOTIFICATIONS_DEFAULT_QUIET_HOURS_START="00:00",
        ITINERA_NOTIFICATIONS_DEFAULT_QUIET_HOURS_END="00:00",
        # No digests: each message is compared with its own email, and a window would outlast the run.
        ITINERA_NOTIFICATIONS_DIGEST_WINDOW_SECONDS="0",
        ITINERA_NOTIFICATIONS_DISPATCH_POLL_SECONDS="0.2",
        PYTHONUNBUFFERED="1",
    )
    for key, value in (extra or {}).items():
        env[key] = str(value)
    return env


async def wait_ready(processes: list[ServiceProcess], client: httpx.AsyncClient, timeout: float) -> bool:
    """Until every process answers /readyz with 200; False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = await asyncio.gather(*(p.readiness(client) for p in processes))
        if all(s is True for s in states):
            return True
        await asyncio.sleep(0.25)
    return False
