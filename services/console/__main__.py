"""`python -m services.console serve`: the agent web console on port 8000."""

from __future__ import annotations

import argparse

import uvicorn

from services.console.app import create_console_app
from services.console.settings import ConsoleSettings
from services.kit.logging import configure_logging


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve the console."""
    parser = argparse.ArgumentParser(prog="python -m services.console")
    parser.add_argument("command", choices=["serve"], help="serve: the console's pages and /config.json")
    parser.parse_args(argv)
    settings = ConsoleSettings()
    configure_logging(service="console", level=settings.log_level, fmt=settings.log_format)
    uvicorn.run(
        create_console_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
