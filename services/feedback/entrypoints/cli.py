"""Operator commands beside the kit's run modes.

python -m services.feedback read-comments            read the comments answered before comment reading existed
python -m services.feedback read-comments --reread   also read again those read by an older reader
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from services.feedback.bootstrap import build_definition
from services.feedback.service_layer.comment_reading import read_stored_comments
from services.feedback.settings import FeedbackSettings
from services.kit.db import apply_migrations, create_pool
from services.kit.logging import configure_logging

COMMANDS = ("read-comments",)


async def _run(args: argparse.Namespace) -> str:
    settings = FeedbackSettings()
    definition = build_definition(settings)
    pool = await create_pool(settings)
    try:
        await apply_migrations(
            pool, schema=settings.db_schema, packages=["services.kit.migrations", definition.migrations]
        )
        count = await read_stored_comments(pool, reread=args.reread, now=datetime.now(UTC))
        return f"feedback: read {count} comment(s)"
    finally:
        await pool.close()


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.feedback")
    sub = parser.add_subparsers(dest="command", required=True)
    read = sub.add_parser("read-comments", help="read stored survey comments that have no reading yet")
    read.add_argument("--reread", action="store_true", help="also read again comments read by an older reader")
    args = parser.parse_args(argv)
    settings = FeedbackSettings()
    configure_logging(service=settings.service_name, level=settings.log_level, fmt=settings.log_format)
    print(asyncio.run(_run(args)))  # noqa: T201 - the command's answer to the operator
