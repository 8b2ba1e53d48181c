"""Command line shared by every service: `python -m services.<name> serve|api|worker|migrate`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, Request

from services.kit.db import apply_migrations, create_pool
from services.kit.logging import configure_logging
from services.kit.runtime import ServiceDefinition, ServiceRuntime

AppFactory = Callable[[ServiceRuntime, bool], FastAPI]


def runtime_of(request: Request) -> ServiceRuntime:
    """The runtime a request's app was started with (`runtime_lifespan`)."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def runtime_lifespan(
    runtime: ServiceRuntime, *, workers: bool
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """A FastAPI lifespan that starts the runtime (and its workers, if asked) with the app."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = runtime
        await runtime.start(workers=workers)
        try:
            yield
        finally:
            await runtime.stop()

    return lifespan


async def _run_workers(runtime: ServiceRuntime) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start(workers=True)
    try:
        await stop.wait()
    finally:
        await runtime.stop()


async def _migrate(definition: ServiceDefinition) -> None:
    pool = await create_pool(definition.settings)
    try:
        applied = await apply_migrations(
            pool, schema=definition.settings.db_schema, packages=["services.kit.migrations", definition.migrations]
        )
        print(f"{definition.settings.service_name}: applied {len(applied)} migration(s)")  # noqa: T201  # CLI output
    finally:
        await pool.close()


def main(argv: list[str] | None, *, build_definition: Callable[[], ServiceDefinition], build_app: AppFactory) -> None:
    """Parse the command line and run the service in the chosen mode."""
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "command",
        choices=["serve", "api", "worker", "migrate"],
        help="serve: API and workers; api: API only; worker: consumers, relay and jobs only; migrate: apply migrations",
    )
    args = parser.parse_args(argv)
    definition = build_definition()
    s = definition.settings
    configure_logging(service=s.service_name, level=s.log_level, fmt=s.log_format)
    if args.command == "migrate":
        asyncio.run(_migrate(definition))
        return
    runtime = ServiceRuntime(definition)
    if args.command == "worker":
        asyncio.run(_run_workers(runtime))
        return
    app = build_app(runtime, args.command == "serve")
    uvicorn.run(
        app, host=s.http_host, port=s.http_port, log_config=None, access_log=False, timeout_graceful_shutdown=10
    )
