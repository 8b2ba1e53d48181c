"""Blocking you can measure: how many true pairs become candidates, and at what cost.

    python -m bench.profile_blocking [--entities 20000] [--per-key 40] [--file F.jsonl]

No database. Labelled records (the generator's, or a file with an `entity_id` column, such as
the linkage benchmark's travel-shaped set) are normalised as the importer does and indexed by
their blocking keys in arrival order, at most `--per-key` records per key (half for weak keys),
as the candidate lookup does. For each record:

- *pair recall*: of the true pairs (this record and an earlier record of the same traveller),
  the share whose earlier record is among its candidates;
- *record recall*: of the records with an earlier record of the same traveller, the share that
  finds at least one of them (enough to join the traveller's customer: the rest follow);
- candidates per record (mean, p99), and per rule: the share of true pairs each key kind finds,
  and those only it finds.

A true pair that never becomes a candidate can never be linked, whatever the weights: the
issue's goal is record recall ≥ 0.998.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.profile_common import load_average, machine
from bench.profile_datagen import generate
from services.profile.domain import matching
from services.profile.domain.resolution import ProfileConfig
from services.profile.service_layer.bulk import RowError, row_to_incoming


def import_row(row: dict[str, Any]) -> dict[str, Any]:
    """A labelled record as the importer reads it: nested addresses (the linkage generator's) as
    `<kind>_<part>` columns, `national_id` as `national_id_number`, `system` and `record_id` as the
    source; other columns as they are."""
    out: dict[str, Any] = {"source_system": row.get("system", "bench"), "source_id": row.get("record_id")}
    for key, value in row.items():
        if key in ("home_address", "business_address") and isinstance(value, dict):
            kind = key.removesuffix("_address")
            out.update({f"{kind}_{part}": v for part, v in value.items()})
        elif key == "national_id":
            out["national_id_number"] = value
        elif not key.endswith("_address_line"):
            out[key] = value
    return out


def _rows(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    if args.file:
        with args.file.open(encoding="utf-8") as f:
            for line in f:
                yield import_row(json.loads(line))
    else:
        yield from generate(args.entities, seed=args.seed)


def measure(rows: Iterable[dict[str, Any]], *, per_key: int) -> dict[str, Any]:
    config = ProfileConfig(phone_region="DE", passport_pepper="bench")
    now = datetime.now(UTC)
    index: dict[str, list[int]] = {}
    entity_of: list[str] = []
    seen_entity: dict[str, list[int]] = defaultdict(list)
    pairs = found_pairs = dup_records = found_records = 0
    sizes: list[int] = []
    by_kind: Counter[str] = Counter()
    only_kind: Counter[str] = Counter()
    stored: Counter[str] = Counter()
    for row in rows:
        try:
            incoming = row_to_incoming(row, config=config, default_source=None, now=now)
        except (RowError, ValueError):
            continue
        n = len(entity_of)
        entity = str(row["entity_id"])
        entity_of.append(entity)
        keys = matching.blocking_keys(incoming.record.features())
        stored.update(k.partition(":")[0] for k in keys)
        found_by: dict[int, set[str]] = defaultdict(set)
        for k in keys:
            for other in index.get(k, ()):
                found_by[other].add(k.partition(":")[0])
        sizes.append(len(found_by))
        earlier = seen_entity[entity]
        if earlier:
            dup_records += 1
            hits = [e for e in earlier if e in found_by]
            found_records += bool(hits)
            pairs += len(earlier)
            found_pairs += len(hits)
            for e in hits:
                by_kind.update(found_by[e])
                if len(found_by[e]) == 1:
                    only_kind.update(found_by[e])
        earlier.append(n)
        for k in keys:
            bucket = index.setdefault(k, [])
            if len(bucket) < matching.lookup_limit(k, per_key):
                bucket.append(n)
    sizes.sort()
    return {
        "records": len(entity_of),
        "true_pairs": pairs,
        "pair_recall": round(found_pairs / max(1, pairs), 5),
        "records_with_an_earlier_duplicate": dup_records,
        "record_recall": round(found_records / max(1, dup_records), 5),
        "candidates_per_record_mean": round(sum(sizes) / max(1, len(sizes)), 2),
        "candidates_per_record_p99": sizes[int(0.99 * (len(sizes) - 1))] if sizes else 0,
        "stored_keys_per_record": round(sum(stored.values()) / max(1, len(entity_of)), 2),
        "stored_keys_per_record_by_kind": {k: round(v / max(1, len(entity_of)), 2) for k, v in stored.most_common()},
        "pairs_found_by_key_kind": {k: round(v / max(1, pairs), 4) for k, v in by_kind.most_common()},
        "pairs_found_only_by_key_kind": dict(only_kind.most_common()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-key", type=int, default=40)
    parser.add_argument("--file", type=Path, help="labelled records (JSON lines with entity_id) instead of generating")
    args = parser.parse_args()
    result = measure(_rows(args), per_key=args.per_key)
    result |= {"machine": machine(), "load_average_at_end": load_average()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
