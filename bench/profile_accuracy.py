"""Pair-level precision, recall and F1 of identity resolution on a labelled, corrupted data set.

    python bench/profile_accuracy.py --entities 70000        # ~120k records

Generates travellers and duplicates (bench/profile_datagen.py documents the corruption
model), imports them through the real bulk path (the same resolver the Kafka consumer
uses) into a throwaway database, and compares the customers found with the true
travellers. A pair of records counts as predicted-same when they ended in one customer;
pairs sent to the review queue count as not merged (they are reported separately).

With `--weights learned` the records are imported twice: first with the built-in parameters
(default-1), then the match model's parameters are learned from what that import stored (as
`python -m services.profile estimate-weights` does) and the records are imported again into a
fresh database with that version active. Both results are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
from collections import Counter
from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.profile_common import machine, profile_settings, throwaway, timed_import
from bench.profile_datagen import generate
from services.kit.db import apply_migrations, connection, create_pool
from services.profile.adapters import identity as identity_db
from services.profile.adapters import parameters as store
from services.profile.domain import resolution
from services.profile.domain.model_params import ModelParameters
from services.profile.service_layer.parameters import estimate_weights


def pairs(n: int) -> int:
    return n * (n - 1) // 2


async def run(
    entities: int,
    seed: int,
    batch_size: int,
    show_errors: int = 0,
    dump: Path | None = None,
    *,
    parameters: dict[str, Any] | None = None,
    learn: bool = False,
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "labelled.jsonl"
        truth: dict[str, str] = {}
        with path.open("w", encoding="utf-8") as f:
            for row in generate(entities, seed=seed):
                truth[row["source_id"]] = row["entity_id"]
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        if dump is not None:
            # Ties between candidates of equal score go to the larger customer id: with ids in
            # creation order instead of random ones, two builds that decide alike dump alike.
            ids = itertools.count()
            resolution.new_customer_id = lambda: f"cus_{next(ids):032x}"
            # Name frequencies divide by the planner's row count, which autovacuum refreshes at
            # moments of its own: count the records instead.
            identity_db.value_frequencies = _exact_name_frequencies
        async with throwaway() as env:
            if parameters is not None:
                await activate(env, parameters)
            summary, seconds = await timed_import(env, path, batch_size=batch_size)
            conn = await env.admin_connect()
            await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
            learned: dict[str, Any] | None = None
            try:
                if learn:
                    await conn.execute("SET search_path = profile")
                    learned = (await estimate_weights(conn, sample=200_000, seed=seed)).parameters.to_json()
                    await conn.execute("SET search_path = public")
                rows = await conn.fetch(
                    "SELECT source_id, customer_id, match_rule, match_evidence, matched_to FROM profile.source_records"
                )
                reviews = await conn.fetch(
                    "SELECT r.source_id, s.source_id AS other FROM profile.review_queue r"
                    " JOIN profile.source_records s ON s.customer_id = r.candidate_id WHERE r.status = 'open'"
                )
                if dump is not None:
                    await _dump(conn, dump)
            finally:
                await conn.close()
    predicted = {r["source_id"]: r["customer_id"] for r in rows}
    cells = Counter((predicted[s], truth[s]) for s in predicted)
    tp = sum(pairs(n) for n in cells.values())
    pred = sum(pairs(n) for n in Counter(predicted.values()).values())
    true = sum(pairs(n) for n in Counter(truth.values()).values())
    precision = tp / pred if pred else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    wrong = [
        r
        for r in rows
        if r["matched_to"]
        and truth.get(r["matched_to"]["source_id"]) not in (None, truth[r["source_id"]])
        and not r["match_rule"].startswith("new")
    ]
    rules = Counter(r["match_rule"] for r in wrong)
    examples = [
        {
            "rule": r["match_rule"],
            "score": (r["match_evidence"] or {}).get("score"),
            "evidence": [
                f"{e['field']}:{e['level']}:{e['a']}|{e['b']}" for e in (r["match_evidence"] or {}).get("evidence", [])
            ],
        }
        for r in wrong[:show_errors]
    ]
    review_true = sum(1 for r in reviews if truth.get(r["source_id"]) == truth.get(r["other"]))
    return {
        "machine": machine(),
        "entities": entities,
        "records": len(predicted),
        "customers": len(set(predicted.values())),
        "true_pairs": true,
        "predicted_pairs": pred,
        "true_positive_pairs": tp,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "review_items_open": len({r["source_id"] for r in reviews}),
        "review_pairs_that_are_true_matches": f"{review_true}/{len(reviews)}",
        "false_links_by_rule": dict(rules),
        "false_link_examples": examples,
        "import_seconds": round(seconds, 1),
        "import_summary": {k: v for k, v in summary.to_json().items() if k != "errors"},
        "parameters_version": parameters["version"] if parameters else "default-1",
        **({"learned_parameters": learned} if learned is not None else {}),
    }


async def activate(env: Any, parameters: dict[str, Any]) -> None:
    """Store a version of the match model's parameters in the fresh database and activate it."""
    pool = await create_pool(profile_settings(env))
    try:
        await apply_migrations(
            pool, schema="profile", packages=["services.kit.migrations", "services.profile.migrations"]
        )
        async with connection(pool) as conn:
            params = ModelParameters.from_json(parameters)
            await store.store(
                conn,
                version=params.version,
                parameters=parameters,
                estimated_at=params.estimated_at or datetime.now(UTC),
                record_count=params.record_count,
                problems=params.problems(),
            )
            await store.activate(conn, params.version, now=datetime.now(UTC))
    finally:
        await pool.close()


async def _exact_name_frequencies(
    conn: Any, tokens: Iterable[str], *, min_records: int, pending: Collection[tuple[str, str]] = ()
) -> dict[str, float]:
    # The bulk importer's previous chunk (`pending`) counts as stored whether or not it has committed yet.
    systems, ids = [p[0] for p in pending], [p[1] for p in pending]
    total = len(pending) + await conn.fetchval(
        "SELECT count(*) FROM source_records s WHERE NOT EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[])"
        " AS p(source_system, source_id) WHERE p.source_system = s.source_system AND p.source_id = s.source_id)",
        systems,
        ids,
    )
    if not total or total < min_records:
        return {}
    rows = await conn.fetch(
        "SELECT token, count FROM value_frequencies WHERE token = ANY($1::text[])", sorted(set(tokens))
    )
    return {r["token"]: min(1.0, r["count"] / total) for r in rows}


async def _dump(conn: Any, path: Path) -> None:
    """What resolution decided, free of generated ids: compare two builds' files with `diff`.

    Customers are named by their smallest source id; one line per source record (customer,
    rule, score, evidence, matched record) and per open review (both customers, score, evidence).
    """
    records = await conn.fetch(
        "SELECT source_id, customer_id, match_rule, match_score, match_evidence, matched_to"
        " FROM profile.source_records ORDER BY source_id"
    )
    label: dict[str, str] = {}
    for r in records:
        label.setdefault(r["customer_id"], r["source_id"])
    reviews = await conn.fetch(
        "SELECT source_id, customer_id, candidate_id, score, evidence FROM profile.review_queue"
        " WHERE status = 'open' ORDER BY source_id"
    )
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            line = [
                "record",
                r["source_id"],
                label[r["customer_id"]],
                r["match_rule"],
                r["match_score"],
                r["match_evidence"],
                r["matched_to"],
            ]
            f.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
        lines = sorted(
            json.dumps(
                ["review", r["source_id"], label.get(r["customer_id"]), label.get(r["candidate_id"]), r["score"],
                 r["evidence"]],
                ensure_ascii=False,
                sort_keys=True,
            )
            for r in reviews
        )  # fmt: skip
        f.writelines(line + "\n" for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=70_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--show-errors", type=int, default=0, help="print this many false links with their evidence")
    parser.add_argument("--dump", type=Path, help="write every decision (ids replaced by record names) to this file")
    parser.add_argument("--weights", choices=["default", "learned"], default="default")
    args = parser.parse_args()
    learn = args.weights == "learned"
    first = asyncio.run(run(args.entities, args.seed, args.batch_size, args.show_errors, args.dump, learn=learn))
    if not learn:
        print(json.dumps(first, indent=2, ensure_ascii=False))
        return
    learned = first.pop("learned_parameters")
    assert isinstance(learned, dict)
    second = asyncio.run(run(args.entities, args.seed, args.batch_size, args.show_errors, parameters=learned))
    print(json.dumps({"default": first, "learned": second, "parameters": learned}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
