"""CPU of the preferences service's own part of a booking, without Kafka or PostgreSQL.

For each booking: parse the customer's stored state and published form, record the booking,
recompute the snapshot (`publishing.refresh`: inference, policy, published form, change keys,
envelopes) and serialise the state and form as the repository writes them. Customers get two
bookings each first, then the next two are measured (CPU time, the best of five passes over the
same input). Prints microseconds per booking and a digest of everything stored and published
(request ids left out), which must not change between two versions that store the same.

    .venv/bin/python -m bench.preferences_cpu
    .venv/bin/python -m bench.preferences_cpu --code <checkout of another commit>
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import random
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def measure(customers_count: int) -> None:
    from pydantic_core import from_json

    from bench.preferences_common import booking, customers
    from services.preferences.adapters.repository import CustomerRow, _json_text
    from services.preferences.domain.model import CustomerPreferences
    from services.preferences.service_layer import publishing

    rng, ids_rng = random.Random(7), random.Random(11)
    uuid.uuid4 = lambda: uuid.UUID(int=ids_rng.getrandbits(128), version=4)  # the same ids every run
    ids = customers(customers_count)
    now = datetime(2026, 11, 22, tzinfo=UTC)
    events = [booking(rng.choice(ids), rng, occurred_at=now) for _ in range(len(ids) * 4)]
    stored: dict[str, tuple[str, str | None, int, str | None]] = {}

    def run(batch: list[Any]) -> float:
        started = time.process_time()
        for event in batch:
            p = event.payload
            cid = p.customer_id
            s = stored.get(cid)
            if s is None:
                row = CustomerRow(prefs=CustomerPreferences(customer_id=cid))
            else:
                prefs = CustomerPreferences.from_json(cid, from_json(s[0]), company_id=s[3], last_event_at=now)
                published = None if s[1] is None else from_json(s[1])
                row = CustomerRow(prefs=prefs, version=s[2], published=published, exists=True)
            row.prefs.company_id = p.company_id
            row.prefs.record_booking(
                booking=f"{p.source_system}:{p.booking_id}", kind=p.kind, segments=p.segments, at=p.occurred_at
            )
            publishing.refresh(row, None, now=now, caused_by=event)
            state = _json_text(row.prefs.to_json())
            stored[cid] = (state, None if row.published is None else _json_text(row.published), row.version,
                           row.prefs.company_id)  # fmt: skip
        return time.process_time() - started

    gc.disable()
    warm = len(ids) * 2
    run(events[:warm])
    base = dict(stored)
    passes = []
    for _ in range(5):
        stored.clear()
        stored.update(base)
        passes.append(run(events[warm:]))
    digest = hashlib.sha256()
    for cid in sorted(stored):
        state = from_json(stored[cid][0])
        for asked in state.get("asked", {}).values():
            asked.pop("request_id")
        digest.update(json.dumps(state, sort_keys=True).encode())
        if stored[cid][1] is not None:
            digest.update(json.dumps(from_json(stored[cid][1]), sort_keys=True).encode())
    n = len(events) - warm
    print(f"{1e6 * min(passes) / n:.0f} us of CPU per booking (best of 5 passes over {n} bookings);"
          f" digest {digest.hexdigest()[:16]}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--code", type=Path, default=None, help="measure the code of this checkout")
    args = parser.parse_args()
    if args.code is not None:  # this file, run with the other checkout's packages
        from bench.shared import run_from_checkout  # here: the other checkout may not have it

        raise SystemExit(run_from_checkout(args.code, __file__, ["--customers", str(args.customers)]))
    measure(args.customers)


if __name__ == "__main__":
    main()
