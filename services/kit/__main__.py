"""Operations commands: `python -m services.kit topics|contracts|dlq|keyring ...`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from services.kit.contracts import schemagen
from services.kit.contracts.topics import SERVICES, TOPICS, dead_letter_topic
from services.kit.db import connection, create_pool
from services.kit.dlq import read_dead_letters, redrive
from services.kit.kafka import ensure_topics
from services.kit.keyring import Keyring, MasterKeys, rewrap
from services.kit.sealed import RecordSealer
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
    # Dead letters are sealed: opening them (or their errors) takes the keyring, as the service's own role.
    pool = await create_pool(s)
    try:
        keyring = Keyring(pool, MasterKeys(s.keyring_keys), cache_seconds=0)  # a tool: hears no shreds
        sealer = RecordSealer(keyring, topic_prefix=s.topic_prefix)
        if args.action == "redrive":
            return await _redrive(args, s, sealer)
        return await _show(args, s, sealer)
    finally:
        await pool.close()


async def _redrive(args: argparse.Namespace, s: ServiceSettings, sealer: RecordSealer) -> int:
    report: dict[str, int] = {}
    n = await redrive(
        bootstrap_servers=s.kafka_bootstrap_servers,
        topic_prefix=s.topic_prefix,
        service=args.service,
        sealer=sealer,
        report=report,
    )
    _out(json.dumps(report))
    _say(
        f"re-drove {n} dead letter(s); {report.get('erased', 0)} of erased travellers passed over,"
        f" {report.get('unopenable', 0)} that do not open left for a later run"
    )
    return 0


async def _show(args: argparse.Namespace, s: ServiceSettings, sealer: RecordSealer) -> int:
    consumer, letters = await read_dead_letters(
        bootstrap_servers=s.kafka_bootstrap_servers, topic_prefix=s.topic_prefix, service=args.service, limit=args.limit
    )
    await consumer.stop()
    topic = f"{s.topic_prefix}{dead_letter_topic(args.service)}"
    if not letters:
        _say(f"no dead letters for {args.service}: {topic} is empty")
        return 0
    # The error is sealed with the value (it may quote it): shown opened, or sealed for an erased traveller.
    opened = await sealer.open_records([(topic, d.key, d.value, d.raw_headers) for d in letters])
    for d, (_, headers, problem) in zip(letters, opened, strict=True):
        shown = {k: v.decode(errors="replace") for k, v in headers if k.startswith("dlq.")}
        _out(
            json.dumps(
                {"partition": d.partition, "offset": d.offset, **shown, **({"sealed": problem} if problem else {})}
            )
        )
    more = " (the first ones; --limit shows more)" if len(letters) >= args.limit else ""
    _say(f"{len(letters)} dead letter(s) for {args.service} in {topic}{more}")
    return 0


async def _keyring(s: ServiceSettings) -> int:
    """Re-wrap every data key under the first of `keyring_keys` (master key rotation)."""
    pool = await create_pool(s)
    try:
        keyring = Keyring(pool, MasterKeys(s.keyring_keys))
        await keyring.prepare()
        async with connection(pool) as conn:
            n = await rewrap(conn, MasterKeys(s.keyring_keys))
    finally:
        await pool.close()
    _out(json.dumps({"rewrapped": n}))
    _say(f"{n} data key(s) re-wrapped under the first keyring key; the others may now be removed")
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
    keyring = sub.add_parser("keyring", help="re-wrap the data keys under the first keyring key (rotation)")
    keyring.add_argument("action", choices=["rewrap"])
    keyring.add_argument("--service", default="profile", choices=SERVICES, help="whose database role to use")
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
    if args.group == "keyring":
        return asyncio.run(_keyring(ServiceSettings(service_name=args.service)))
    # As the service whose dead letters they are (its database role opens them: see _dlq).
    return asyncio.run(_dlq(args, ServiceSettings(service_name=args.service)))


if __name__ == "__main__":
    raise SystemExit(main())
