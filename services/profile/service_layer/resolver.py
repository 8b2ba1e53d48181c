"""Identity resolution: a batch of source records in, customers and events out.

One pipeline for every way records arrive (a batch of booking events from Kafka, a single
record over HTTP, a chunk of a bulk import file), in two phases inside the caller's
transaction:

1. `planning.plan` reads and decides: existing links and blocking candidates are read from what
   is committed, without locks; each record is decided in memory (`domain/resolution.py`:
   records earlier in the batch are candidates for later ones); then the batch takes advisory
   locks on its records' source links, blocking keys and companies (sorted), so concurrent
   batches holding records of the same traveller serialise and converge, and checks that what
   it read still holds, deciding again what another batch changed meanwhile;
2. `writing.write` writes: companies, customers, source records, blocking keys, reviews and
   bookings with one statement each, recomputes the golden records it touched
   (`recompute.py`, `domain/golden.py`), and returns the events (`events.py`).

The bulk importer plans a chunk under locks taken first (`planning.plan_locked`) so that it
can read and decide the next chunk while the previous one writes, and writes with the same
`writing.write`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from services.kit.db import Connection
from services.profile.domain.resolution import Incoming, Outcome, ProfileConfig
from services.profile.service_layer.events import Outgoing
from services.profile.service_layer.planning import plan
from services.profile.service_layer.writing import write


async def resolve_batch(
    conn: Connection, items: Sequence[Incoming], *, config: ProfileConfig, now: datetime | None = None
) -> tuple[list[Outcome], Outgoing]:
    """Resolve records to customers inside the caller's transaction; returns outcomes and the events to enqueue."""
    now = now or datetime.now(UTC)
    if not items:
        return [], []
    return await write(conn, await plan(conn, items, config=config), config=config, now=now)
