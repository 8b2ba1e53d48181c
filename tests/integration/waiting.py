"""For race tests: wait until a connection's statement is blocked on a lock another transaction holds."""

from __future__ import annotations

import asyncio

import asyncpg


async def until_blocked(observer: asyncpg.Pool | asyncpg.Connection, blocked: asyncpg.Connection,
                        writer: asyncio.Task[None]) -> None:  # fmt: skip
    """Return once `blocked` waits for a lock (or `writer`, the task using it, has ended without waiting).

    Deterministic where a sleep is not: the second writer has reached its conflicting statement when the
    first commits. On code that takes no lock, the task may end without waiting; the caller's assertions
    then tell what it did.
    """
    pid = blocked.get_server_pid()
    for _ in range(3000):
        if writer.done():
            return
        waiting = await observer.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid)
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second writer neither waited for a lock nor finished")
