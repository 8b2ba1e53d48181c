"""Operations commands: `python -m services.kit topics|contracts|dlq ...`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from services.kit.contracts import schemagen
from services.kit.contracts.topics import SERVICES, TOPICS, dead_letter_topic
from services.kit.dlq import read_dead_letters, redrive
from services.kit.kafka import ensure_topics
from services.kit.settings import ServiceSettings

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _say(text: str) -> None:
    """A line for the person at the terminal; stdout stays machine-readable (one JSON object a line)."""
    sys.stderr.write(text + "\n")


async def _topics(args: argparse.Namespace, s: ServiceSettings) -> int:
    if args.action == "create":
        created = await ensure_topics(bootstrap_servers=s.kafka_bootstrap_servers, prefix=s.topic_prefix)
        _out(f"{len(created)} topic(s) created, {len(TOPICS) - len(created)} already present")
    else:
        for spec in TOPICS:
            kind = "compacted" if spec.compacted else "log"
            _out(f"{spec.physical(s.topic_prefix):40} {kind:9} owner={spec.owner}")
    return 0


async def _dlq(args: argparse.Namespace, s: ServiceSettings) -> int:
    if args.action == "redrive":
        n = await redrive(
            bootstrap_servers=s.kafka_bootstrap_servers, topic_prefix=s.topic_prefix, service=args.service
        )
        _out(f"re-drove {n} dead letter(s)")
        return 0
    consumer, letters = await read_dead_letters(
        bootstrap_servers=s.kafka_bootstrap_servers, topic_prefix=s.topic_prefix, service=args.service, limit=args.limit
    )
    await consumer.stop()
    topic = f"{s.topic_prefix}{dead_letter_topic(args.service)}"
    if not letters:
        _say(f"no dead letters for {args.service}: {topic} is empty")
        return 0
    for d in letters:
        _out(
            json.dumps(
                {
                    "partition": d.partition,
                    "offset": d.offset,
                    **{k: v for k, v in d.headers.items() if k.startswith("dlq.")},
                }
            )
        )
    more = " (the first ones; --limit shows more)" if len(letters) >= args.limit else ""
    _say(f"{len(letters)} dead letter(s) for {args.service} in {topic}{more}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.kit")
    sub = parser.add_subparsers(dest="group", required=True)
    topics = sub.add_parser("topics", help="create or list the catalogue's topics")
    topics.add_argument("action", choices=["create", "list"])
    contracts = sub.add_parser("contracts", help="write or check the JSON Schemas and AsyncAPI document")
    contracts.add_argument("action", choices=["write", "check"])
    dlq = sub.add_parser("dlq", help="show or re-drive a service's dead letters")
    dlq.add_argument("action", choices=["show", "redrive"])
    dlq.add_argument("--service", required=True, choices=SERVICES)
    dlq.add_argument("--limit", type=int, default=100)
    args = parser.parse_args(argv)

    if args.group == "contracts":
        if args.action == "write":
            for rel in schemagen.write(CONTRACTS_DIR):
                _out(f"wrote contracts/{rel}")
            return 0
        stale = schemagen.stale(CONTRACTS_DIR)
        for rel in stale:
            _out(f"stale: contracts/{rel}")
        return 1 if stale else 0
    settings = ServiceSettings(service_name="ops")
    if args.group == "topics":
        return asyncio.run(_topics(args, settings))
    return asyncio.run(_dlq(args, settings))


if __name__ == "__main__":
    raise SystemExit(main())
