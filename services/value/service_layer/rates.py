"""Dated currency rates kept in memory: they change only when an operator loads rates.

Each use reads the rates' version (one tiny read per batch, not per booking) and reloads the table
when it moved, so a load made by another process (the API, the CLI) counts from the next batch on.
"""

from __future__ import annotations

import asyncpg

from services.value.adapters import batches
from services.value.domain.money import Rate, RateTable


class RateCache:
    def __init__(self) -> None:
        self._version: int | None = None
        self._rates: list[Rate] = []
        self._tables: dict[str, RateTable] = {}
        self._last = RateTable("")

    def invalidate(self) -> None:
        """Forget the table (this process just loaded rates; the version would tell too, after the commit)."""
        self._version = None

    def cached(self) -> RateTable:
        """The table the last `table()` call returned (within the same batch)."""
        return self._last

    async def table(self, conn: asyncpg.Connection, reporting_currency: str) -> RateTable:
        version = await batches.rates_version(conn)
        if version != self._version:
            self._rates = await batches.all_rates(conn)
            self._tables = {}
            self._version = version
        table = self._tables.get(reporting_currency)
        if table is None:
            table = self._tables[reporting_currency] = RateTable(reporting_currency, self._rates)
        self._last = table
        return table
