"""The OpenAPI documents tell the truth: schemathesis (`--checks all`) against every service.

Each service runs as it does in production (uvicorn, its lifespan, the session's real PostgreSQL
and Kafka; no consumers, since no request waits for one) and the schemathesis command line tests
its published `/openapi.json` with an admin key: generated valid and invalid requests, status
codes, content types, response schemas and headers, ignored authentication. A single failure
fails the test, with schemathesis' own account of it (and the command to reproduce it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import time as time_module
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from services.feedback.bootstrap import build_definition as feedback_definition
from services.feedback.entrypoints.api import create_feedback_app
from services.feedback.settings import FeedbackSettings
from services.kit.runtime import ServiceDefinition, ServiceRuntime
from services.notifications.bootstrap import build_definition as notifications_definition
from services.notifications.entrypoints.api import create_notifications_app
from services.notifications.settings import NotificationsSettings
from services.preferences.bootstrap import build_definition as preferences_definition
from services.preferences.entrypoints.api import create_preferences_app
from services.preferences.settings import PreferencesSettings
from services.profile.bootstrap import build_definition as profile_definition
from services.profile.entrypoints.api import create_profile_app
from services.profile.settings import ProfileSettings
from services.value.bootstrap import build_definition as value_definition
from services.value.entrypoints.api import create_value_app
from services.value.settings import ValueSettings
from tests.harness import TestEnv

# The five runs happen in the first test's setup (the module fixture): longer than one test's default.
pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(1200)]

# Bounded: every operation gets the coverage phase (boundaries, each invalid variant) and this many
# generated cases, with a fixed seed so a run is repeatable (ITINERA_SCHEMATHESIS_EXAMPLES to hunt).
MAX_EXAMPLES = int(os.environ.get("ITINERA_SCHEMATHESIS_EXAMPLES", "15"))
SEED = os.environ.get("ITINERA_SCHEMATHESIS_SEED", "14")
ADMIN_KEY = "dev-admin-key"

Factory = Callable[[ServiceRuntime, bool], FastAPI]


def _definitions(env: TestEnv) -> dict[str, tuple[Callable[[], ServiceDefinition], Factory]]:
    # The abuse limits are off: schemathesis sends wrong keys on purpose (ignored_auth), and the brake
    # on wrong keys would then refuse the rest of the run with 429 (documented, but it tests nothing).
    common: dict[str, Any] = {"rate_limiting": False}
    return {
        "profile": (lambda: profile_definition(env.settings(ProfileSettings, **common)), create_profile_app),
        "preferences": (
            lambda: preferences_definition(env.settings(PreferencesSettings, **common)),
            create_preferences_app,
        ),
        "feedback": (lambda: feedback_definition(env.settings(FeedbackSettings, **common)), create_feedback_app),
        "notifications": (
            lambda: notifications_definition(
                env.settings(
                    NotificationsSettings,
                    **common,
                    default_quiet_hours_start=time(22, 0),
                    default_quiet_hours_end=time(7, 0),
                )
            ),
            create_notifications_app,
        ),
        "value": (lambda: value_definition(env.settings(ValueSettings, **common)), create_value_app),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """The app served by uvicorn on a free loopback port (lifespan included); yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped the server from starting
                raise AssertionError("the server stopped before it started")
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


# The per-operation exceptions (rules JSON Schema cannot say, each with its documented status and why).
CONFIG = Path(__file__).with_name("schemathesis.toml")
# The five runs are independent processes: this many at once (the machine has few cores; the
# servers share this process' event loop, schemathesis' generation runs in its own processes).
PARALLEL = int(os.environ.get("ITINERA_SCHEMATHESIS_PARALLEL", "5"))
SERVICES = ["profile", "preferences", "feedback", "notifications", "value"]
# To hunt in some of them only (comma-separated names); the others' tests are then skipped.
ONLY = [s for s in os.environ.get("ITINERA_SCHEMATHESIS_SERVICES", "").split(",") if s] or SERVICES


def schemathesis_command(base_url: str, report: Path) -> list[str]:
    """The schemathesis run every service must pass (bench/results/openapi.md records its figures)."""
    return [
        str(Path(sys.executable).with_name("schemathesis")),
        "--no-color",
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--header",
        f"X-API-Key: {ADMIN_KEY}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        SEED,
        # One thread per run: Python 3.11's `compile` is not thread-safe under load ("AST constructor
        # recursion depth mismatch" from hypothesis, a runtime error of the run); the runs themselves
        # go side by side instead (PARALLEL).
        "--workers",
        "1",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]


@dataclass(frozen=True)
class Outcome:
    returncode: int | None
    output: str
    summary: dict[str, Any]
    seconds: float


async def _run(env: TestEnv, service: str, workdir: Path) -> Outcome:
    build, factory = _definitions(env)[service]
    runtime = ServiceRuntime(build())
    report = workdir / "report.json"
    started = time_module.monotonic()
    async with serving(factory(runtime, False)) as base_url:
        process = await asyncio.create_subprocess_exec(
            *schemathesis_command(base_url, report),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=workdir,
        )
        output, _ = await process.communicate()
    summary = json.loads(report.read_text()) if report.exists() else {}
    (workdir / "output.txt").write_bytes(output)  # the whole account, where the assertion shows its tail
    return Outcome(process.returncode, output.decode(errors="replace"), summary, time_module.monotonic() - started)


@pytest.fixture(scope="module")
async def outcomes(env: TestEnv, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every service's run, PARALLEL at a time (each test below reads its own)."""
    gate = asyncio.Semaphore(PARALLEL)

    async def one(service: str) -> Outcome:
        async with gate:
            return await _run(env, service, tmp_path_factory.mktemp(service))

    started = time_module.monotonic()
    results = await asyncio.gather(*(one(s) for s in ONLY))
    print(f"\n--- schemathesis: five services in {time_module.monotonic() - started:.0f} s ---")
    return dict(zip(ONLY, results, strict=True))


@pytest.mark.parametrize("service", SERVICES)
async def test_schemathesis_finds_nothing_the_openapi_document_does_not_say(
    outcomes: dict[str, Outcome], service: str
) -> None:
    if service not in outcomes:
        pytest.skip(f"ITINERA_SCHEMATHESIS_SERVICES leaves {service} out")
    outcome = outcomes[service]
    text = outcome.output
    print(f"\n--- schemathesis on {service} ({outcome.seconds:.0f} s) ---\n{text[-3000:]}")  # the figures, under -s
    assert outcome.returncode == 0, f"schemathesis on {service} failed:\n{text[-20000:]}"
    assert outcome.summary, f"schemathesis wrote no report:\n{text[-5000:]}"
