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
from collections.abc import AsyncIterator, Callable
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

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

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


def schemathesis_command(base_url: str, report: Path) -> list[str]:
    """The schemathesis run every service must pass (bench/results/openapi.md records its figures)."""
    return [
        str(Path(sys.executable).with_name("schemathesis")),
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
        "--workers",
        "2",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]


@pytest.mark.parametrize("service", ["profile", "preferences", "feedback", "notifications", "value"])
async def test_schemathesis_finds_nothing_the_openapi_document_does_not_say(
    env: TestEnv, service: str, tmp_path: Path
) -> None:
    build, factory = _definitions(env)[service]
    runtime = ServiceRuntime(build())
    report = tmp_path / "report.json"
    async with serving(factory(runtime, False)) as base_url:
        process = await asyncio.create_subprocess_exec(
            *schemathesis_command(base_url, report),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        output, _ = await process.communicate()
    text = output.decode(errors="replace")
    summary = json.loads(report.read_text()) if report.exists() else {}
    print(f"\n--- schemathesis on {service} ---\n{text[-3000:]}")  # the figures, under -s
    assert process.returncode == 0, f"schemathesis on {service} failed:\n{text[-20000:]}"
    assert summary, f"schemathesis wrote no report:\n{text[-5000:]}"
