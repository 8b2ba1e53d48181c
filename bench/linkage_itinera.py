"""The profile service on a labelled set: the real bulk import into a throwaway database.

Only the columns the bulk import accepts are passed (`accepted_columns`: its traveller fields plus
loyalty and company columns), so a field the import learns later is passed as soon as the import
reads a column of that name; what a field set names but the import does not read is listed in the
results as not passed. The clusters are the customers each source record ended in; the review
queue is the open review items (a record and a candidate customer).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.linkage_data import LabelledSet
from bench.profile_accuracy import activate
from bench.profile_common import throwaway, timed_import
from services.profile.service_layer import import_file
from services.profile.service_layer.parameters import estimate_weights

# Columns the import reads besides its traveller fields (see the bulk module's docstring).
IMPORT_EXTRA = (
    "loyalty",
    "company_name",
    "company_id",
    "company_domain",
    "company_country",
    "secondary_emails",
    "secondary_phones",
    *(f"{kind}_{part}" for kind in ("home", "business") for part in ("address", *import_file.ADDRESS_PARTS)),
)
# The benchmark's column names where the import names them otherwise.
RENAMED = {"home_address_line": "home_address", "home_state": "home_region", "national_id": "national_id_number"}


def accepted_columns() -> frozenset[str]:
    return frozenset(import_file.TRAVELLER_FIELDS) | frozenset(IMPORT_EXTRA)


def passed_columns(columns: tuple[str, ...]) -> list[str]:
    accepted = accepted_columns()
    return [c for c in columns if RENAMED.get(c, c) in accepted]


def import_row(record: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """One record as an import row: its system and id, and the passed columns it has a value for."""
    row = {"source_system": record["system"], "source_id": record["record_id"]}
    row.update({RENAMED.get(c, c): record[c] for c in columns if record.get(c) not in (None, "", [])})
    if "company_name" in columns and record.get("company_domain"):
        row["company_domain"] = record["company_domain"]
    return row


async def run(
    data: LabelledSet,
    columns: tuple[str, ...],
    *,
    batch_size: int = 2000,
    parameters: dict[str, Any] | None = None,
    learn: bool = False,
) -> dict[str, Any]:
    """Import the set (with `parameters` active: a learned version's JSON); with `learn`, also learn a
    version from what the import stored, as `python -m services.profile estimate-weights` does."""
    passed = passed_columns(columns)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "records.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for record in data.records:
                f.write(json.dumps(import_row(record, passed), ensure_ascii=False) + "\n")
        async with throwaway() as env:
            if parameters is not None:
                await activate(env, parameters)
            summary, seconds = await timed_import(env, path, batch_size=batch_size, progress=False)
            conn = await env.admin_connect()
            learned: dict[str, Any] | None = None
            try:
                if learn:
                    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
                    started = time.perf_counter()
                    await conn.execute("SET search_path = profile")
                    learned = (await estimate_weights(conn, sample=200_000, seed=1)).parameters.to_json()
                    await conn.execute("SET search_path = public")
                    learn_seconds = time.perf_counter() - started
                rows = await conn.fetch("SELECT source_id, customer_id FROM profile.source_records")
                reviews = await conn.fetch(
                    "SELECT r.source_id, s.source_id AS other FROM profile.review_queue r"
                    " JOIN profile.source_records s ON s.customer_id = r.candidate_id WHERE r.status = 'open'"
                )
            finally:
                await conn.close()
    return {
        "clusters": {r["source_id"]: r["customer_id"] for r in rows},
        "review": [(r["source_id"], r["other"]) for r in reviews],
        "review_items": len({r["source_id"] for r in reviews}),
        "seconds": seconds,
        **({"learned_parameters": learned, "learn_seconds": round(learn_seconds, 1)} if learned else {}),
        "columns": passed,
        "rejected": summary.rejected,
    }
