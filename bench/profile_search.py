"""Latency and hit rate of the traveller search (`GET /v1/customers?q=`) on a realistic population.

    python -m bench.profile_search --entities 60000 --keep          # import, measure, keep the database
    python -m bench.profile_search --database DB                    # measure again on a kept database
    python -m bench.profile_search --database DB --code CHECKOUT    # the same, with another checkout's API

Imports the labelled data set of bench/profile_datagen.py through the bulk importer (or reuses
a kept database), then asks the profile API in this process (ASGI, no network) what an agent
types, for customers picked the same way from the same database whatever the code:
- name: the name as the golden record holds it ("Jürgen Müller");
- ascii: that name as typed on an English keyboard ("Juergen Mueller"; names with letters
  beyond ASCII only);
- typo: the given name and the family name with one letter left out ("Jürgen Mülle");
- fragment: the given name and the first four letters of the family name ("Jürgen Müll");
- company: the customer's company name as its records write it.
A query hits when the customer is among the first 100 results. Each kind reports p50/p99 of
the request (wall time, sequential requests) and the hit rate. Timings vary with the
machine's load (2 shared cores): compare runs made one after the other.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.profile_common import machine, profile_settings, throwaway, timed_import
from bench.profile_datagen import generate
from tests.harness import ADMIN_DSN, ROOT, TestEnv

AGENT = {"X-API-Key": "dev-agent-key"}
KINDS = ("name", "ascii", "typo", "fragment", "company")
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def ascii_typed(text: str) -> str:
    """A name as typed without its letters: umlauts spelt out, other accents dropped."""
    folded = unicodedata.normalize("NFKD", text.translate(_GERMAN))
    return "".join(c for c in folded if not unicodedata.combining(c))


def latin(text: str) -> bool:
    return all(c.isascii() or (unicodedata.category(c).startswith("L") and ord(c) < 0x250) for c in text)


def queries(rows: list[asyncpg.Record]) -> list[tuple[str, str, str]]:
    """(kind, query, expected customer id) for sampled customers."""
    out: list[tuple[str, str, str]] = []
    for r in rows:
        cid, display, family, company = r["customer_id"], r["display_name"], r["family_name"], r["company_name"]
        given = r["given_name"]
        if display and latin(display):
            out.append(("name", display, cid))
            if not display.isascii():
                out.append(("ascii", ascii_typed(display), cid))
        if given and family and latin(family) and len(family) >= 5:
            cut = len(family) // 2
            out.append(("typo", f"{given} {family[:cut]}{family[cut + 1 :]}", cid))
            out.append(("fragment", f"{given} {family[:4]}", cid))
        if company:
            out.append(("company", company, cid))
    return out


async def sample(database: str, n: int) -> list[asyncpg.Record]:
    """The same customers of a database whatever the code measured (by a hash of their ids)."""
    conn = await asyncpg.connect(ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}")
    try:
        rows: list[asyncpg.Record] = await conn.fetch(
            """
            SELECT customer_id, golden->'display_name'->>'value' AS display_name,
                   golden->'given_name'->>'value' AS given_name, golden->'family_name'->>'value' AS family_name,
                   golden->'company_name'->>'value' AS company_name
              FROM profile.customers WHERE status = 'active'
             ORDER BY md5(customer_id) LIMIT $1
            """,
            n,
        )
        return rows
    finally:
        await conn.close()


async def measure(env: TestEnv, n: int) -> dict[str, Any]:
    from services.kit.runtime import ServiceRuntime
    from services.profile.bootstrap import build_definition
    from services.profile.entrypoints.api import create_profile_app

    asked = queries(await sample(env.database, n))
    # One sequential client measuring latency: the per-key rate limit would answer 429 before long.
    runtime = ServiceRuntime(build_definition(profile_settings(env, rate_limiting=False)))
    await runtime.start(workers=False, create_topics=False)
    try:
        try:  # customers imported before this code's search documents get theirs, as the service's job does
            from services.profile.service_layer.search import fill_search_documents
        except ImportError:  # a checkout without them
            pass
        else:
            await fill_search_documents(runtime.pool)
        app = create_profile_app(runtime, workers=False)
        app.state.runtime = runtime
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://profile") as client:
            for _, q, _ in asked[:20]:  # warm up caches and the pool
                await client.get("/v1/customers", params={"q": q, "limit": 100}, headers=AGENT)
            times: dict[str, list[float]] = {k: [] for k in KINDS}
            hits: dict[str, int] = dict.fromkeys(KINDS, 0)
            for kind, q, cid in asked:
                started = time.perf_counter()
                r = await client.get("/v1/customers", params={"q": q, "limit": 100}, headers=AGENT)
                times[kind].append(time.perf_counter() - started)
                r.raise_for_status()
                hits[kind] += any(item["customer_id"] == cid for item in r.json()["items"])
    finally:
        await runtime.stop()
    report: dict[str, Any] = {}
    everything = [t for ts in times.values() for t in ts]
    for kind, ts in [*times.items(), ("all", everything)]:
        if not ts:
            continue
        ordered = sorted(ts)
        report[kind] = {
            "queries": len(ts),
            "hit_rate": round(hits[kind] / len(ts), 3) if kind != "all" else round(sum(hits.values()) / len(ts), 3),
            "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
        }
    return report


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"machine": machine()}
    if args.database:
        env = TestEnv(database=args.database, topic_prefix=args.topic_prefix)
        conn = await env.admin_connect()
        try:  # the per-service schemas as this checkout lays them out (extensions included)
            await conn.execute((ROOT / "deploy" / "postgres" / "schemas.sql").read_text())
        finally:
            await conn.close()
        result["database"] = args.database
        result["search"] = await measure(env, args.customers)
        await env.close()
        return result
    async with throwaway(keep=args.keep) as env:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "travellers.jsonl"
            with path.open("w", encoding="utf-8") as f:
                for row in generate(args.entities, seed=args.seed):
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
            summary, seconds = await timed_import(env, path, batch_size=2000)
        result.update(database=env.database, records=summary.records, import_seconds=round(seconds, 1))
        conn = await env.admin_connect()
        try:
            result["customers"] = await conn.fetchval("SELECT count(*) FROM profile.customers WHERE status = 'active'")
        finally:
            await conn.close()
        result["search"] = await measure(env, args.customers)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=60000, help="travellers to generate and import")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--customers", type=int, default=300, help="customers to build queries for")
    parser.add_argument("--keep", action="store_true", help="keep the database for later runs (--database)")
    parser.add_argument("--database", help="measure on this kept database instead of importing")
    parser.add_argument("--topic-prefix", default="bench-search.", help="with --database: the runtime's topic prefix")
    parser.add_argument("--code", type=Path, default=None, help="measure the code of this checkout (with --database)")
    args = parser.parse_args()
    if args.code is not None:
        from bench.shared import run_from_checkout  # here: the other checkout may not have it

        argv = ["--database", args.database, "--customers", str(args.customers), "--topic-prefix", args.topic_prefix]
        raise SystemExit(run_from_checkout(args.code, __file__, argv))
    print(json.dumps(asyncio.run(run(args)), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
