"""Identity resolution side by side: the profile service and Splink 5 on the same labelled records.

    python -m bench.linkage_compare --data febrl3|febrl4|travel --fields names_dob,names_dob_address,names_dob_id
        [--records 5000] [--systems itinera,itinera-learned,splink] [--out results.jsonl]
    python -m bench.linkage_compare --table results.jsonl      # the results as a Markdown table

For each field set (`bench.linkage_data.FIELD_SETS`) both systems get the same records and the
columns of the set: the profile service through its real bulk import on a throwaway database
(`bench.linkage_itinera`, only the columns the import reads), Splink trained, predicting and
clustering in the same run (`bench.linkage_splink`). Reported per system: pair and cluster-level
precision, recall, F1 (`bench.linkage_metrics` defines them: B-cubed and exact clusters),
review-queue size (the profile service: open review items; Splink: pairs at 0.5–0.9 across
clusters), wall time (the import; Splink's training, prediction and clustering), hard negatives
joined (travel set), and recall by source system and by corruption type. Splink needs the
`bench` extra (`pip install -e '.[bench]'`); the profile service needs the local PostgreSQL and Kafka.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
from typing import Any

from bench import linkage_metrics as metrics
from bench.linkage_data import FIELD_SETS, LabelledSet, load
from bench.profile_common import machine


def score(data: LabelledSet, out: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    truth = data.truth()
    clusters = out["clusters"]
    pairs, counts = metrics.pair_scores(clusters, truth)
    by_id = {r["record_id"]: r for r in data.records}
    review_true = sum(1 for a, b in out["review"] if truth.get(a) == truth.get(b))
    return {
        "columns": out["columns"],
        "not_passed": [c for c in columns if c not in out["columns"]],
        "pair": pairs.as_json(),
        **counts,
        "bcubed": metrics.bcubed(clusters, truth).as_json(),
        "exact_clusters": metrics.exact_clusters(clusters, truth).as_json(),
        "review_queue": out.get("review_items", len(out["review"])),
        "review_pairs_truly_same": f"{review_true}/{len(out['review'])}",
        "seconds": round(out["seconds"], 1),
        "hard_negatives_joined": metrics.hard_negatives_joined(clusters, truth, data.relations),
        "recall_by_system": metrics.recall_by(clusters, truth, lambda r: [by_id[r]["system"]]),
        "recall_by_corruption": metrics.recall_by(clusters, truth, lambda r: by_id[r]["corruptions"]),
    }


def run(data: LabelledSet, field_set: str, systems: list[str]) -> dict[str, Any]:
    columns = FIELD_SETS[field_set]
    result: dict[str, Any] = {
        "data": data.name,
        "fields": field_set,
        "records": len(data.records),
        "entities": len(set(data.truth().values())),
        "machine": machine(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    if "itinera" in systems:
        from bench import linkage_itinera

        out = asyncio.run(linkage_itinera.run(data, columns))
        result["itinera"] = score(data, out, columns) | {"rejected": out["rejected"]}
    if "itinera-learned" in systems:
        from bench import linkage_itinera

        # Learn a version from a first import with the built-in weights, then import again with it
        # active; the seconds are the second import's plus the learning.
        first = asyncio.run(linkage_itinera.run(data, columns, learn=True))
        out = asyncio.run(linkage_itinera.run(data, columns, parameters=first["learned_parameters"]))
        out["seconds"] = round(out["seconds"] + first["learn_seconds"], 1)
        result["itinera-learned"] = score(data, out, columns) | {"rejected": out["rejected"]}
    if "splink" in systems:
        from bench import linkage_splink

        out = linkage_splink.run(data, columns)
        result["splink"] = score(data, out, columns) | {"em_failed": out["em_failed"]}
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def table(lines: list[dict[str, Any]]) -> str:
    """The headline figures of results lines as a Markdown table."""
    head = ("| data | fields | system | records | pair P | pair R | pair F1 | B³ P | B³ R | B³ F1 | exact F1"
            " | review | seconds | hard negatives joined |")  # fmt: skip
    out = [head, "|" + "---|" * 14]
    for line in lines:
        for system in ("itinera", "itinera-learned", "splink"):
            if system not in line:
                continue
            s = line[system]
            hard = ", ".join(f"{k} {v['joined']}/{v['pairs']}" for k, v in sorted(s["hard_negatives_joined"].items()))
            out.append(
                f"| {line['data']} | {line['fields']} | {system} | {line['records']} | {s['pair']['precision']:.3f}"
                f" | {s['pair']['recall']:.3f} | {s['pair']['f1']:.3f} | {s['bcubed']['precision']:.3f}"
                f" | {s['bcubed']['recall']:.3f} | {s['bcubed']['f1']:.3f} | {s['exact_clusters']['f1']:.3f}"
                f" | {s['review_queue']} | {s['seconds']} | {hard or '–'} |"
            )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=["febrl3", "febrl4", "travel"])
    parser.add_argument("--fields", default="names_dob,names_dob_address,names_dob_id", help="comma-separated")
    parser.add_argument("--records", type=int, default=5000, help="travel set only")
    parser.add_argument("--seed", type=int, default=11, help="travel set only")
    parser.add_argument(
        "--systems", default="itinera,splink", help="itinera, itinera-learned (weights learned first), splink"
    )
    parser.add_argument("--out", type=Path, help="append each result as a JSON line")
    parser.add_argument("--table", type=Path, help="print the results file as a Markdown table and stop")
    args = parser.parse_args()
    if args.table:
        print(table([json.loads(x) for x in args.table.read_text().splitlines() if x.strip()]))
        return
    if not args.data:
        parser.error("--data is required")
    data = load(args.data, records=args.records, seed=args.seed)
    for field_set in args.fields.split(","):
        result = run(data, field_set, args.systems.split(","))
        print(json.dumps(result, indent=2, ensure_ascii=False))
        if args.out:
            with args.out.open("a", encoding="utf-8") as f:
                f.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
