"""Rows of an import file: parsing, normalising into records to resolve, and what became of them.

full_name, title, email, phone, date_of_birth, nationality, passport_number,
passport_country, language, address_country, home_time_zone, loyalty
("PROGRAMME:NUMBER;PROGRAMME:NUMBER", or a JSON list `loyalty_numbers` of {programme,
number}), company_name, company_id, company_domain, company_country, seen_at (ISO 8601,
optional), cleared (fields the source states the traveller no longer has, "phone;email",
or a JSON list). An empty column is "not stated": a row that updates a known source record
keeps what earlier rows or events stated for it.

Normalising runs in a helper process (`prepare_rows`, `prepare_lines`) while the importer resolves.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from services.kit.contracts.bookings import ClearableField
from services.profile.domain.resolution import Incoming, Outcome, ProfileConfig
from services.profile.service_layer.handlers import incoming_from_traveller

Format = Literal["csv", "jsonl"]
TRAVELLER_FIELDS = (
    "given_name",
    "family_name",
    "full_name",
    "title",
    "email",
    "phone",
    "date_of_birth",
    "nationality",
    "passport_number",
    "passport_country",
    "language",
    "address_country",
    "home_time_zone",
    "employee_number",
    "national_id_number",
    "national_id_country",
    "known_traveller_number",
    "redress_number",
    "gender",
)
ADDRESS_PARTS = ("street", "house_number", "postcode", "city", "region", "country")


class RowError(ValueError):
    """A row that cannot become a source record (kept out, reported with its line)."""


@dataclass
class ImportSummary:
    records: int = 0
    customers_created: int = 0
    linked: int = 0
    reviews: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    peak_worker_rss_mb: float = 0.0
    overlapped: int = 0  # chunks read and decided while the previous chunk was writing
    # Wall seconds of those overlapped steps: read phases, write phases, and the steps themselves
    # (a step ends when both are done: close to the longer of the two when they overlap well).
    step_seconds: dict[str, float] = field(default_factory=lambda: {"read": 0.0, "write": 0.0, "steps": 0.0})

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "customers_created": self.customers_created,
            "linked": self.linked,
            "reviews": self.reviews,
            "rejected": self.rejected,
            "errors": self.errors[:100],
        }

    def count(self, outcomes: list[Outcome]) -> None:
        """Add a resolved chunk's outcomes."""
        self.records += len(outcomes)
        self.customers_created += sum(1 for o in outcomes if o.created)
        self.linked += sum(1 for o in outcomes if not o.created)
        self.reviews += sum(1 for o in outcomes if o.review_candidate)


def _loyalty(row: Mapping[str, Any]) -> list[dict[str, str]]:
    listed = row.get("loyalty_numbers")
    if isinstance(listed, list):
        return [{"programme": str(x.get("programme", "")), "number": str(x.get("number", ""))} for x in listed]
    text = str(row.get("loyalty") or "")
    out = []
    for part in text.split(";"):
        prog, sep, num = part.strip().partition(":")
        if sep and prog.strip() and num.strip():
            out.append({"programme": prog.strip(), "number": num.strip()})
    return out


def _address(row: Mapping[str, Any], kind: str) -> dict[str, str] | None:
    """An address from its columns: `<kind>_address` (one line) and `<kind>_street`, `_postcode`…"""
    parts = {p: str(row[f"{kind}_{p}"]).strip() for p in ADDRESS_PARTS if row.get(f"{kind}_{p}") not in (None, "")}
    if row.get(f"{kind}_address") not in (None, ""):
        parts["line"] = str(row[f"{kind}_address"]).strip()
    return {k: v for k, v in parts.items() if v} or None


def _listed(value: Any) -> list[str]:
    """A list column: a JSON list, or values separated by ';'."""
    items = value if isinstance(value, list) else str(value or "").split(";")
    return [str(v).strip() for v in items if str(v).strip()]


_CLEARABLE = frozenset(get_args(ClearableField))


def _cleared(row: Mapping[str, Any]) -> list[str]:
    """The fields a row states as removed ("phone;email", or a JSON list)."""
    listed = row.get("cleared")
    names = listed if isinstance(listed, list) else str(listed or "").split(";")
    out = [str(n).strip() for n in names if str(n).strip()]
    if unknown := sorted(set(out) - _CLEARABLE):
        raise RowError(f"cannot clear {', '.join(unknown)}: one of {', '.join(sorted(_CLEARABLE))}")
    return out


def row_to_incoming(
    row: Mapping[str, Any], *, config: ProfileConfig, default_source: str | None, now: datetime
) -> Incoming:
    """One parsed row as a record to resolve; raises RowError when it cannot be one."""
    source_system = str(row.get("source_system") or default_source or "").strip()
    source_id = str(row.get("source_id") or "").strip()
    if not source_system or not source_id:
        raise RowError("source_system and source_id are required")
    traveller: dict[str, Any] = {
        k: (str(row[k]).strip() or None) if row.get(k) not in (None, "") else None for k in TRAVELLER_FIELDS
    }
    if not (traveller["given_name"] or traveller["family_name"] or traveller["full_name"]):
        raise RowError("a name is required (full_name or given_name/family_name)")
    traveller["loyalty_numbers"] = _loyalty(row)
    traveller["cleared"] = _cleared(row)
    for kind in ("home", "business"):
        traveller[f"{kind}_address"] = _address(row, kind)
    for name in ("secondary_emails", "secondary_phones"):
        traveller[name] = _listed(row.get(name))
    company = None
    if row.get("company_name"):
        company = {
            "name": str(row["company_name"]).strip(),
            "source_company_id": (str(row["company_id"]).strip() or None) if row.get("company_id") else None,
            "email_domain": (str(row["company_domain"]).strip() or None) if row.get("company_domain") else None,
            "country": (str(row["company_country"]).strip().upper() or None) if row.get("company_country") else None,
        }
    seen_at = now
    if row.get("seen_at"):
        try:
            seen_at = datetime.fromisoformat(str(row["seen_at"]))
        except ValueError as exc:
            raise RowError(f"seen_at is not ISO 8601: {row['seen_at']!r}") from exc
        if seen_at.tzinfo is None:
            seen_at = seen_at.replace(tzinfo=UTC)
    return incoming_from_traveller(
        source_system=source_system,
        source_id=source_id,
        traveller=traveller,
        company=company,
        seen_at=seen_at,
        config=config,
    )


def prepare_rows(
    rows: list[tuple[int, dict[str, Any] | RowError]],
    *,
    config: ProfileConfig,
    default_source: str | None,
    now: datetime,
) -> tuple[list[Incoming], list[dict[str, Any]]]:
    """Normalise a chunk of parsed rows into records with their match features (runs in a helper process)."""
    out: list[Incoming] = []
    errors: list[dict[str, Any]] = []
    for number, row in rows:
        if isinstance(row, RowError):
            errors.append({"line": number, "error": str(row)})
            continue
        try:
            incoming = row_to_incoming(row, config=config, default_source=default_source, now=now)
        except (RowError, ValueError) as exc:
            errors.append({"line": number, "error": str(exc)})
            continue
        out.append(dataclasses.replace(incoming, features=incoming.record.features()))
    return out, errors


def prepare_lines(
    lines: list[tuple[int, str]],
    *,
    config: ProfileConfig,
    default_source: str | None,
    now: datetime,
) -> tuple[list[Incoming], list[dict[str, Any]]]:
    """`prepare_rows` for JSON Lines text: parsing happens in the helper process too."""
    rows = [(number, row) for number, line in lines for _, row in read_rows([line], "jsonl")]
    return prepare_rows(rows, config=config, default_source=default_source, now=now)


def read_rows(lines: Iterable[str], fmt: Format) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """(line number, row or error) from CSV (with header) or JSON Lines text."""
    if fmt == "csv":
        reader = csv.DictReader(lines)
        for row in reader:
            yield reader.line_num, dict(row)
        return
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, RowError(f"not JSON: {exc.msg}")
            continue
        yield number, data if isinstance(data, dict) else RowError("a line must hold a JSON object")


def source_systems_of(
    rows: Iterable[tuple[int, dict[str, Any] | RowError]], *, default_source: str | None
) -> list[str]:
    """The source systems the rows write as (each row's own, else the default), sorted: whoever
    imports them must be registered for every one."""
    named = set()
    for _, row in rows:
        if isinstance(row, dict):
            system = str(row.get("source_system") or default_source or "").strip()
            if system:
                named.add(system)
    return sorted(named)


def text_lines(text: str) -> Iterator[str]:
    return iter(io.StringIO(text))


def shard_of(row: Mapping[str, Any] | RowError, shards: int) -> int:
    """Which of `shards` parallel importers takes a row: one source record always goes to the same one."""
    if shards <= 1 or isinstance(row, RowError):
        return 0
    key = f"{row.get('source_system') or ''}\x1f{row.get('source_id') or ''}"
    return zlib.crc32(key.encode()) % shards
