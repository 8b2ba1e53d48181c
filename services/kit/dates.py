"""Dates as travellers read them, in English or German, whatever the process locale.

Shared by everything that writes to travellers (emails, answer and survey pages): one spelling
of a date across a message and the page its link opens.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

MONTHS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "de": ("Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez."),
}


def as_date(value: date | datetime | str) -> date:
    """The calendar date of a date, a datetime (in its own offset) or an ISO 8601 text."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value[:10])


def long_date(value: date | datetime | str, language: str = "en") -> str:
    """`1 Dec 2026` / `1. Dez. 2026` (English for a language without its own spelling)."""
    d = as_date(value)
    if language == "de":
        return f"{d.day}. {MONTHS['de'][d.month - 1]} {d.year}"
    return f"{d.day} {MONTHS['en'][d.month - 1]} {d.year}"


def aware_instant(value: Any) -> datetime | None:
    """An instant from a datetime or ISO text (a naive one read as UTC); None for anything else."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None
