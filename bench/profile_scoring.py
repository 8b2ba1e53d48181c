"""CPU cost of the in-memory decision per record: scoring a record's blocking candidates.

    python -m bench.profile_scoring [--entities 20000] [--per-key 40] [--rounds 3]

No database: generated travellers with the corruption model's duplicates
(bench/profile_datagen.py) are normalised, indexed by their blocking keys in memory
(at most `--per-key` records per key, like the candidate lookup), and every record is
decided against the others with `domain.resolution.decide_record` (typical name frequencies
included). Reports process CPU time per record and per scored candidate, best of
`--rounds`, and a digest of the decisions (rule, score, evidence), so two builds can be
compared on the same records: equal digests mean equal decisions.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import time
from datetime import UTC, datetime

from bench.profile_common import load_average, machine
from bench.profile_datagen import generate
from services.profile.domain import matching, resolution
from services.profile.domain.resolution import ProfileConfig, decide_record, frequency_tokens
from services.profile.service_layer.bulk import RowError, row_to_incoming

Candidate = tuple[tuple[str, str], str, matching.MatchFeatures]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--per-key", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    config = ProfileConfig(phone_region="DE", passport_pepper="bench")
    now = datetime.now(UTC)
    records: list[tuple[tuple[str, str], matching.MatchFeatures]] = []
    for row in generate(args.entities, seed=args.seed):
        try:
            incoming = row_to_incoming(row, config=config, default_source=None, now=now)
        except (RowError, ValueError):
            continue
        records.append((incoming.record.key, incoming.record.features()))

    index: dict[str, list[Candidate]] = {}
    counts: dict[str, int] = {}
    for i, (key, feats) in enumerate(records):
        for k in matching.blocking_keys(feats):
            bucket = index.setdefault(k, [])
            if len(bucket) < matching.lookup_limit(k, args.per_key):
                bucket.append((key, f"cus_{i:08d}", feats))
        for t in frequency_tokens(feats):
            counts[t] = counts.get(t, 0) + 1
    freq = {t: n / len(records) for t, n in counts.items()}
    keys = [matching.blocking_keys(f) for _, f in records]
    candidates = sum(
        len({c[0] for k in ks for c in index.get(k, ())} - {key}) for (key, _), ks in zip(records, keys, strict=True)
    )

    ids = itertools.count()
    resolution.new_customer_id = lambda: f"cus_new_{next(ids):08d}"
    best = float("inf")
    digest = ""
    for _ in range(args.rounds):
        h = hashlib.sha256()
        started = time.process_time()
        for (key, feats), ks in zip(records, keys, strict=True):
            d = decide_record(key, feats, ks, index, {}, config, freq)
            h.update(json.dumps([d.rule, d.score, d.evidence, d.matched_to], sort_keys=True).encode())
            h.update(json.dumps([(c, r.to_json()) for c, r in d.reviews], sort_keys=True).encode())
        best = min(best, time.process_time() - started)
        digest = h.hexdigest()[:16]
    print(
        json.dumps(
            {
                "machine": machine(),
                "records": len(records),
                "candidates_per_record": round(candidates / len(records), 1),
                "cpu_us_per_record": round(best * 1e6 / len(records), 1),
                "cpu_us_per_candidate": round(best * 1e6 / max(1, candidates), 2),
                "decisions_digest": digest,
                "load_average_at_end": load_average(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
