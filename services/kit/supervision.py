"""Keeping a process's long-running loops alive, and telling the truth about them.

Every loop of a service process — each consumer, the outbox relay, the notifications dispatcher,
each background job — runs under `supervise`: whatever ends it (a database restart surfacing as an
error nobody foresaw, a bug) is logged, and the loop starts again after a backoff with jitter. No
loop ends for good while the process lives, so no fault needs a restart by hand.

Each loop has a `Worker` that it tells when it has work in hand (`busy`) and when it finished a
piece of it (`progressed`). A worker is **stalled** when it has had work in hand for longer than
the process's `stall_after` seconds without finishing it: a batch retried while the database is
down, a relay that cannot reach the broker, a loop that keeps crashing. `/readyz` is 503 while any
worker is stalled or its loop is not running; `itinera_worker_stalled` says which, and an alert
rule fires on it (deploy/observability/alerts.yml). An idle worker (nothing in hand) is never stalled.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

from services.kit.metrics import WORKER_RESTARTS, WORKER_STALLED
from services.kit.transient import is_transient

log = logging.getLogger(__name__)

MAX_BACKOFF = 10.0


def jittered(seconds: float) -> float:
    """`seconds` spread by ±25%, so that processes retrying the same fault do not retry in step."""
    return seconds * random.uniform(0.75, 1.25)  # not for security


class Worker:
    """The health of one long-running loop."""

    def __init__(self, service: str, name: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.name = name
        self._clock = clock
        self.busy_since: float | None = None
        self.last_progress = clock()
        self.restarts = 0
        self.running = False
        self.last_error: str | None = None

    def busy(self) -> None:
        """Work is in hand (a fetched batch, rows to publish); the stall clock starts if it was idle."""
        if self.busy_since is None:
            self.busy_since = self._clock()

    def progressed(self) -> None:
        """A piece of work is finished; nothing is in hand until the next `busy()`."""
        self.busy_since = None
        self.last_progress = self._clock()
        self.last_error = None

    def failed(self, exc: BaseException) -> None:
        """An attempt failed: the work is still in hand."""
        self.busy()
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]

    def stalled(self, stall_after: float) -> bool:
        since = self.busy_since
        return since is not None and self._clock() - since > stall_after

    def healthy(self, stall_after: float) -> bool:
        return self.running and not self.stalled(stall_after)


class Health:
    """The workers of one process; `/readyz` and the worker metrics read it."""

    def __init__(self, service: str, *, stall_after: float) -> None:
        self.service = service
        self.stall_after = stall_after
        self.workers: dict[str, Worker] = {}

    def worker(self, name: str) -> Worker:
        found = self.workers.get(name)
        if found is None:
            found = self.workers[name] = Worker(self.service, name)
        return found

    def checks(self) -> dict[str, bool]:
        """One readiness check per worker (`worker:<name>`), updating the stall metric on the way."""
        out = {}
        for name, w in self.workers.items():
            stalled = w.stalled(self.stall_after)
            WORKER_STALLED.labels(self.service, name).set(1 if stalled or not w.running else 0)
            out[f"worker:{name}"] = w.running and not stalled
        return out

    def problems(self) -> dict[str, str]:
        """What is wrong with each unhealthy worker, for people (the readiness body)."""
        out = {}
        for name, w in self.workers.items():
            if not w.running:
                out[name] = "not running"
            elif w.stalled(self.stall_after):
                out[name] = f"no progress for {time.monotonic() - (w.busy_since or 0):.0f}s" + (
                    f" ({w.last_error})" if w.last_error else ""
                )
        return out


async def supervise(
    worker: Worker, body: Callable[[], Awaitable[None]], *, stopping: Callable[[], bool] = lambda: False
) -> None:
    """Run `body` until the process stops; whatever ends it, start it again after a backoff.

    A body that ends by itself while the process is not stopping counts as a crash too. The
    backoff starts at 0.5 s and doubles to 10 s; it starts over once a run lasted a minute.
    """
    backoff = 0.5
    while True:
        started = time.monotonic()
        worker.running = True
        try:
            await body()
        except asyncio.CancelledError:
            worker.running = False
            raise
        except Exception as exc:
            if stopping():
                worker.running = False
                return
            worker.failed(exc)
            if is_transient(exc):
                log.warning("%s stopped on a transient fault, restarting: %s: %s", worker.name, type(exc).__name__, exc)
            else:
                log.exception("%s crashed, restarting", worker.name)
        else:
            if stopping():
                worker.running = False
                return
            worker.failed(RuntimeError("ended by itself"))
            log.error("%s ended by itself, restarting", worker.name)
        worker.restarts += 1
        WORKER_RESTARTS.labels(worker.service, worker.name).inc()
        if time.monotonic() - started > 60:
            backoff = 0.5
        await asyncio.sleep(jittered(backoff))
        backoff = min(backoff * 2, MAX_BACKOFF)
