"""Which errors are faults of the moment (retry the work) rather than faults of the work (dead-letter it).

A consumer that takes a transient fault for a bad record dead-letters good work (deadlocks did
exactly that); one that takes a bad record for a transient fault stops its partition. The
rule: everything about the connection, the server's state or concurrency is transient —
including asyncpg errors that are not `PostgresError`s at all (a restart can surface as
`InternalClientError: cannot switch to state …` or as an `InterfaceError` about a connection
released back to the pool) — and so is every broker error except those about the record itself.
"""

from __future__ import annotations

import asyncio

import asyncpg
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError

# SQLSTATE classes and codes that say "try again": connection (08), transaction rollback —
# serialization failure, deadlock (40), insufficient resources (53), operator intervention —
# shutdown, cannot connect now (57, but not 57014 query_canceled by a statement timeout: that
# one is about the work), system errors (58), and lock_not_available (55P03) from a lock timeout.
_TRANSIENT_CLASSES = ("08", "40", "53", "57", "58")
_TRANSIENT_CODES = frozenset({"55P03", "55006"})
_NOT_TRANSIENT_CODES = frozenset({"57014"})

_CONNECTION_LEVEL = (
    asyncpg.InterfaceError,  # includes "connection has been released back to the pool", connection closed
    asyncpg.InternalClientError,  # "cannot switch to state …; another operation is in progress"
    OSError,  # refused, reset, broken pipe (ConnectionError is one)
    TimeoutError,
    asyncio.TimeoutError,
    EOFError,
)

_RECORD_LEVEL_KAFKA = (MessageSizeTooLargeError, RecordTooLargeError)


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same work later can succeed (the fault is not in the work)."""
    if isinstance(exc, asyncpg.PostgresError):
        code = getattr(exc, "sqlstate", None) or ""
        if code in _NOT_TRANSIENT_CODES:
            return False
        return code in _TRANSIENT_CODES or code[:2] in _TRANSIENT_CLASSES
    if isinstance(exc, _RECORD_LEVEL_KAFKA):
        return False
    if isinstance(exc, (KafkaError, *_CONNECTION_LEVEL)):
        return True
    # A handler's own exception raised while handling a connection fault (`raise … from exc`).
    cause = exc.__cause__
    return cause is not None and cause is not exc and is_transient(cause)
