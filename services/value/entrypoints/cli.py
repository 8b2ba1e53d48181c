"""Operator commands beside the kit's run modes.

python -m services.value recompute            re-evaluate everyone from the stored bookings
python -m services.value rates load FILE.csv  load dated rates: currency,valid_from,rate (header optional)
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from services.kit.db import apply_migrations, connection, create_pool, record_audit
from services.kit.logging import configure_logging
from services.value.bootstrap import build_definition
from services.value.domain.money import Rate
from services.value.service_layer.handlers import load_rates, recompute_all
from services.value.settings import ValueSettings

COMMANDS = ("recompute", "rates")


def read_rates(path: Path, *, reporting_currency: str) -> list[Rate]:
    """Rates from a CSV file: currency, valid_from (YYYY-MM-DD), rate (reporting-currency units per unit)."""
    rates: list[Rate] = []
    with path.open(newline="") as f:
        for n, row in enumerate(csv.reader(f), start=1):
            if not row or row[0].strip().lower() == "currency":
                continue
            try:
                currency, valid_from, rate = (c.strip() for c in row[:3])
                parsed = Rate(currency.upper(), date.fromisoformat(valid_from), Decimal(rate))
            except (ValueError, InvalidOperation) as exc:
                raise SystemExit(f"{path}:{n}: expected currency,valid_from,rate ({exc})") from exc
            if len(parsed.currency) != 3 or not parsed.currency.isalpha() or parsed.rate <= 0:
                raise SystemExit(f"{path}:{n}: not a currency code and a positive rate: {row}")
            if parsed.currency == reporting_currency:
                raise SystemExit(f"{path}:{n}: {reporting_currency} is the reporting currency")
            rates.append(parsed)
    return rates


async def _run(args: argparse.Namespace) -> str:
    settings = ValueSettings()
    definition = build_definition(settings)
    config = settings.value_config()
    pool = await create_pool(settings)
    try:
        await apply_migrations(
            pool, schema=settings.db_schema, packages=["services.kit.migrations", definition.migrations]
        )
        now = datetime.now(UTC)
        if args.command == "recompute":
            count = await recompute_all(pool, config=config, now=now)
            return f"value: re-evaluated {count} customer(s) and companies from the stored bookings"
        rates = read_rates(Path(args.file), reporting_currency=config.reporting_currency)
        async with connection(pool, transaction=True) as conn:
            customers = await load_rates(conn, rates, actor="cli", now=now, config=config)
            await record_audit(conn, principal="cli", role="admin", action="rates.load", subject_id=None,
                               detail={"rates": len(rates), "file": Path(args.file).name})  # fmt: skip
        return f"value: loaded {len(rates)} rate(s); {customers} customer(s) will be re-evaluated"
    finally:
        await pool.close()


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.value")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("recompute", help="re-evaluate every customer and company from the stored bookings")
    rates = sub.add_parser("rates", help="currency rates")
    rates_sub = rates.add_subparsers(dest="action", required=True)
    load = rates_sub.add_parser("load", help="load dated rates from a CSV file (currency,valid_from,rate)")
    load.add_argument("file")
    args = parser.parse_args(argv)
    settings = ValueSettings()
    configure_logging(service=settings.service_name, level=settings.log_level, fmt=settings.log_format)
    print(asyncio.run(_run(args)), file=sys.stderr)  # noqa: T201  # CLI output
