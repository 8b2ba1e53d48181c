"""Spend in one reporting currency, with dated rates the operator loads.

A rate says how many units of the reporting currency one unit of a currency was worth from
its `valid_from` date on (until the next rate of that currency). A booking is converted at the
rate in force on the day it was booked. Without such a rate its spend is *not* guessed: the
trip still counts, and the caller is told which currency lacked a rate.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Rate:
    currency: str
    valid_from: date
    rate: Decimal  # reporting-currency units per one unit of `currency`


class RateTable:
    """The rates known for some currencies; `convert` finds the one in force on a day."""

    def __init__(self, reporting_currency: str, rates: Iterable[Rate] = ()) -> None:
        self.reporting_currency = reporting_currency
        by_currency: dict[str, list[tuple[date, Decimal]]] = {}
        for r in rates:
            by_currency.setdefault(r.currency, []).append((r.valid_from, r.rate))
        self._dates: dict[str, list[date]] = {}
        self._rates: dict[str, list[Decimal]] = {}
        for currency, entries in by_currency.items():
            entries.sort()
            self._dates[currency] = [d for d, _ in entries]
            self._rates[currency] = [r for _, r in entries]

    def rate(self, currency: str, on: date) -> Decimal | None:
        if currency == self.reporting_currency:
            return Decimal(1)
        dates = self._dates.get(currency)
        if not dates:
            return None
        i = bisect.bisect_right(dates, on) - 1
        return self._rates[currency][i] if i >= 0 else None

    def convert(self, amounts: Mapping[str, Decimal], on: date) -> tuple[Decimal | None, tuple[str, ...]]:
        """The sum of `amounts` (by currency) in the reporting currency, or None and the currencies without a rate."""
        total = Decimal(0)
        missing: list[str] = []
        for currency, amount in sorted(amounts.items()):
            r = self.rate(currency, on)
            if r is None:
                missing.append(currency)
            else:
                total += amount * r
        if missing:
            return None, tuple(missing)
        return total.quantize(CENT), ()
