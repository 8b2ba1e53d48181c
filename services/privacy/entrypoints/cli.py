"""Operator commands beside the kit's run modes.

python -m services.privacy erase CUSTOMER_ID --reason CODE [--note TEXT] --by NAME
python -m services.privacy show ERASURE_ID
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import typing
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from services.kit.contracts.privacy import ErasureReasonV1
from services.kit.db import apply_migrations, connection, create_pool, record_audit
from services.kit.logging import configure_logging
from services.privacy.service_layer import handlers
from services.privacy.settings import PrivacySettings

COMMANDS = ("erase", "show")


@dataclass(frozen=True)
class Operator:
    """Who runs the command, named in the erasure and its audit row (`--by`), acting as an admin."""

    name: str
    role: str = "admin"


async def erase(settings: PrivacySettings, *, customer_id: str, reason: ErasureReasonV1, note: str | None,
                by: str) -> str:  # fmt: skip
    """Record and publish an erasure request, as the HTTP API does; returns its id."""
    pool = await create_pool(settings)
    try:
        await apply_migrations(
            pool, schema=settings.db_schema, packages=["services.kit.migrations", "services.privacy.migrations"]
        )
        async with connection(pool, transaction=True) as conn:
            erasure_id = await handlers.request_erasure(
                conn, customer_id=customer_id, reason=reason, note=note, actor=Operator(f"cli:{by}"),
                digest_key=settings.erasure_key.get_secret_value().encode(), now=datetime.now(UTC),
            )  # fmt: skip
            await record_audit(conn, principal=f"cli:{by}", role="admin", action="erasure.request",
                               subject_id=erasure_id, detail={"reason": reason, "note": note})  # fmt: skip
        return erasure_id
    finally:
        await pool.close()


async def show(settings: PrivacySettings, erasure_id: str) -> dict[str, typing.Any] | None:
    pool = await create_pool(settings)
    try:
        async with connection(pool) as conn:
            view = await handlers.erasure(conn, erasure_id)
        return None if view is None else asdict(view)
    finally:
        await pool.close()


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.privacy")
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("erase", help="erase a traveller everywhere (every service, every id they had)")
    e.add_argument("customer_id")
    e.add_argument("--reason", required=True, choices=typing.get_args(ErasureReasonV1))
    e.add_argument("--note", help="why, in words (no personal data; kept)")
    e.add_argument("--by", required=True, help="who asks (kept and audited)")
    s = sub.add_parser("show", help="an erasure's progress, per service")
    s.add_argument("erasure_id")
    args = parser.parse_args(argv)
    settings = PrivacySettings()
    configure_logging(service=settings.service_name, level=settings.log_level, fmt=settings.log_format)
    if args.command == "erase":
        erasure_id = asyncio.run(erase(settings, customer_id=args.customer_id, reason=args.reason, note=args.note,
                                       by=args.by))  # fmt: skip
        print(erasure_id)  # noqa: T201  # CLI output
        return
    shown = asyncio.run(show(settings, args.erasure_id))
    if shown is None:
        sys.exit(f"no erasure {args.erasure_id!r}")
    print(json.dumps(shown, default=str, indent=2))  # noqa: T201  # CLI output
