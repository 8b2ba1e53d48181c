"""The preferences worker with the kit's batch fast path switched on (for the benchmarks only).

The kit's `BatchProcessor` has a batch fast path (`ConsumerSpec.batch_handler`: one
idempotency insert and one handler call per fetched batch) that `process()` does not
call yet. This launcher routes `process()` through it, to measure what the coalescing
handler gives once the kit wires it; it changes nothing else.

    python -m bench.preferences_worker_batchpath worker
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import cast

import asyncpg

from services.kit import consumer
from services.kit.consumer import BatchProcessor, BatchResult, IncomingRecord
from services.kit.entry import main
from services.kit.metrics import EVENT_HANDLING_SECONDS
from services.preferences.bootstrap import build_definition
from services.preferences.entrypoints.api import create_preferences_app


async def process(self: BatchProcessor, records: Sequence[IncomingRecord]) -> BatchResult:
    result = BatchResult()
    started = time.perf_counter()
    async with self._pool.acquire() as proxy, proxy.transaction():
        conn = cast(asyncpg.Connection, proxy)
        if self.spec.batch_handler is not None:
            await self._process_batch(conn, records, result)
        else:
            for record in records:
                await self._process_one(conn, record, result)
    EVENT_HANDLING_SECONDS.labels(self.service, self.spec.name).observe(time.perf_counter() - started)
    if result.failures:
        await self._dead_letter(result.failures)
    return result


if __name__ == "__main__":
    consumer.BatchProcessor.process = process  # type: ignore[method-assign]  # the benchmark's one switch
    main(sys.argv[1:], build_definition=build_definition, build_app=create_preferences_app)
