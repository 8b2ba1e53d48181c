"""Per-subject data keys for crypto-shredding: kept in PostgreSQL, wrapped, destroyed on erasure.

Every value on a topic that carries personal data is sealed under the data key of its record's
subject (the record key: a customer id, or `<source_system>:<booking_id>`; see
`services.kit.sealed`). Destroying that key (`shred`) makes every such record unreadable wherever
it lies — non-compacted topics, dead-letter topics, copies on backups — without rewriting a log.

- **Where.** One row per subject in `keyring.subject_keys`, a schema shared by every service (owned
  by the `itinera_keyring` group role each service role is a member of; `deploy/postgres`). Each
  service's pool has its own schema as search path, so every name here is qualified.
- **Wrapped.** A data key is 32 random bytes, stored AES-256-GCM-wrapped under a master key from
  the `keyring_keys` setting (bound to its subject: a wrapped key copied to another row does not
  open), so a database dump alone opens nothing. The first master key wraps, every one unwraps;
  a row names its master key by fingerprint. Rotate by putting a new key first, running
  `python -m services.kit keyring rewrap`, then removing the old one.
- **Shredded.** `shred` removes the wrapped key and keeps the row as a marker (`shredded_at`): no key
  is ever created again for that subject, so nothing published later is readable either.
- **Cached.** Keys are cached per process. A shred sends a PostgreSQL NOTIFY on commit, which every
  process listens to (`Keyring.listen`) and forgets those subjects at once: a consumer lagging behind
  must not re-create, from an old record it still holds the key of, the rows an erasure just deleted.
  A listener that lost its connection forgets everything when it is back (notifications sent
  meanwhile are lost), and cache entries expire after `CACHE_SECONDS` in any case.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from services.kit.supervision import Worker

log = logging.getLogger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12
CHANNEL = "itinera_keyring"  # NOTIFY channel: the payload lists shredded subjects, or "*"
GROUP_ROLE = "itinera_keyring"
# Development only: production refuses it (see `ServiceSettings.keyring_keys`).
DEV_KEYRING_KEY = SecretStr(base64.urlsafe_b64encode(b"dev-keyring-key-not-for-prod!!!!").decode().rstrip("="))

# The table is created by the first process that needs it, under a lock: every service migrates at
# start, at the same time; two concurrent `CREATE TABLE IF NOT EXISTS` can still collide in the catalog.
_DDL = """
CREATE TABLE IF NOT EXISTS keyring.subject_keys (
    subject      text PRIMARY KEY,
    key_id       text,                       -- names the data key in sealed records' headers
    master_id    text,                       -- fingerprint of the master key that wrapped it
    wrapped_key  bytea,                      -- nonce || AES-GCM(master key, data key); NULL once shredded
    created_at   timestamptz NOT NULL DEFAULT now(),
    shredded_at  timestamptz,
    CHECK ((wrapped_key IS NULL) = (shredded_at IS NOT NULL))
);
COMMENT ON TABLE keyring.subject_keys IS
    'Per-subject data keys (wrapped) for crypto-shredding; a shredded row keeps no key, only the fact';
"""


class KeyUnavailable(Exception):  # noqa: N818  # a state, not a programming error
    """A subject's key exists but cannot be used here (wrapped under a master key this process lacks)."""


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_master_key(secret: SecretStr) -> bytes:
    """A master key from its setting (base64url of 32 random bytes)."""
    try:
        key = _b64decode(secret.get_secret_value().strip())
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a keyring key must be base64url text") from exc
    if len(key) != KEY_BYTES:
        raise ValueError(f"a keyring key must be {KEY_BYTES} bytes (base64url), got {len(key)}")
    return key


def new_master_key() -> str:
    """A fresh master key, as the `keyring_keys` setting takes it."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode().rstrip("=")


class MasterKeys:
    """Wraps and unwraps data keys with the configured master keys (the first wraps, all unwrap)."""

    def __init__(self, keys: Iterable[SecretStr]) -> None:
        parsed = [parse_master_key(k) for k in keys]
        if not parsed:
            raise ValueError("at least one keyring key is needed")
        self._keys = {hashlib.sha256(k).hexdigest()[:8]: AESGCM(k) for k in parsed}
        self.current_id = hashlib.sha256(parsed[0]).hexdigest()[:8]

    def wrap(self, subject: str, data_key: bytes) -> tuple[str, bytes]:
        """(master key id, wrapped key) for `subject`'s data key."""
        nonce = os.urandom(NONCE_BYTES)
        return self.current_id, nonce + self._keys[self.current_id].encrypt(nonce, data_key, _bound(subject))

    def unwrap(self, subject: str, master_id: str, wrapped: bytes) -> bytes:
        """The data key; `KeyUnavailable` when its master key is not configured or it does not open."""
        aead = self._keys.get(master_id)
        if aead is None:
            raise KeyUnavailable(f"the key of this subject is wrapped under master key {master_id!r}, not configured")
        try:
            return aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _bound(subject))
        except InvalidTag as exc:
            raise KeyUnavailable("the wrapped key of this subject does not open (altered, or another row's)") from exc


def _bound(subject: str) -> bytes:
    return b"itinera/subject-key/" + subject.encode()


@dataclass(frozen=True)
class SubjectKey:
    """A subject's key as the keyring knows it: usable (`aead`), shredded, or unusable here (`error`)."""

    subject: str
    key_id: str
    aead: AESGCM | None = None
    shredded: bool = False
    error: str | None = None


def subject_of(key: bytes | None) -> str:
    """The keyring subject of a record key (the key as text; NUL, which PostgreSQL text refuses, escaped)."""
    if not key:
        return ""
    return key.decode("utf-8", errors="replace").replace("\x00", "\\0")


# --- SQL (the keyring's adapter) ----------------------------------------------------------------


async def ensure_schema(conn: asyncpg.Connection) -> None:
    """Create the keyring table if missing; safe when every service starts at once."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('keyring.schema'))")
        if await conn.fetchval("SELECT to_regclass('keyring.subject_keys')") is not None:
            return
        # Owned by the group role, so that every service role (a member) may use it alike.
        await conn.execute(f"SET LOCAL ROLE {GROUP_ROLE}")
        await conn.execute(_DDL)


async def _rows(conn: asyncpg.Connection, subjects: list[str]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT subject, key_id, master_id, wrapped_key FROM keyring.subject_keys WHERE subject = ANY($1::text[])",
        subjects,
    )


async def _create(conn: asyncpg.Connection, master: MasterKeys, subjects: list[str]) -> dict[str, SubjectKey]:
    """New keys for subjects without a row; returns those inserted (a row shredded or created meanwhile
    by another process is left as it is, and not returned)."""
    key_ids, masters, wrapped, data_keys = [], [], [], []
    for subject in subjects:
        data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        master_id, sealed = master.wrap(subject, data_key)
        data_keys.append(data_key)
        key_ids.append(os.urandom(4).hex())
        masters.append(master_id)
        wrapped.append(sealed)
    async with conn.transaction():
        # A subject being shredded by a transaction still open blocks the insert until it ends. The
        # publisher waiting here holds its own locks (outbox rows, the publishing lock) on another
        # connection, where PostgreSQL's deadlock detector cannot see them: give up instead (a
        # transient fault; the outbox keeps the rows and publishes them again).
        await conn.execute("SET LOCAL lock_timeout = '2s'")
        inserted = await conn.fetch(
            "INSERT INTO keyring.subject_keys (subject, key_id, master_id, wrapped_key)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[])"
            " ON CONFLICT (subject) DO NOTHING RETURNING subject",
            subjects,
            key_ids,
            masters,
            wrapped,
        )
    done = {r["subject"] for r in inserted}
    # The keys just made need no unwrapping (nor a second read): the common case on a hot path.
    return {
        subject: SubjectKey(subject, key_id, aead=AESGCM(data_key))
        for subject, key_id, data_key in zip(subjects, key_ids, data_keys, strict=True)
        if subject in done
    }


async def shred(conn: asyncpg.Connection, subjects: Iterable[str]) -> int:
    """Destroy the subjects' keys; returns how many keys were destroyed.

    The rows stay as markers (`shredded_at`), and subjects without a key get one, so no key is ever
    created for them again. Inside the caller's transaction: every process forgets the keys when it
    commits (NOTIFY). Idempotent.
    """
    wanted = sorted(set(subjects))
    if not wanted:
        return 0
    destroyed = await conn.fetchval(
        """
        WITH marked AS (
            INSERT INTO keyring.subject_keys AS k (subject, key_id, master_id, wrapped_key, shredded_at)
            SELECT s, NULL, NULL, NULL, now() FROM unnest($1::text[]) AS s
            ON CONFLICT (subject) DO UPDATE SET wrapped_key = NULL, master_id = NULL, shredded_at = now()
             WHERE k.shredded_at IS NULL
            RETURNING (xmax <> 0) AS had_key)
        SELECT count(*) FILTER (WHERE had_key) FROM marked
        """,
        wanted,
    )
    payload = "\n".join(wanted)
    # A NOTIFY payload must stay under 8000 bytes: a long list becomes "forget everything".
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload if len(payload.encode()) < 7900 else "*")
    return int(destroyed or 0)


async def shredded(conn: asyncpg.Connection, subjects: Iterable[str]) -> set[str]:
    """Which of the subjects have had their keys shredded."""
    rows = await conn.fetch(
        "SELECT subject FROM keyring.subject_keys WHERE subject = ANY($1::text[]) AND shredded_at IS NOT NULL",
        sorted(set(subjects)),
    )
    return {r["subject"] for r in rows}


async def rewrap(conn: asyncpg.Connection, master: MasterKeys, *, batch: int = 1000) -> int:
    """Re-wrap every live key not wrapped under the current master key (rotation); returns how many."""
    done = 0
    while True:
        async with conn.transaction():
            rows = await conn.fetch(
                "SELECT subject, master_id, wrapped_key FROM keyring.subject_keys"
                " WHERE wrapped_key IS NOT NULL AND master_id <> $1 LIMIT $2 FOR UPDATE SKIP LOCKED",
                master.current_id,
                batch,
            )
            if not rows:
                return done
            subjects, masters, wrapped = [], [], []
            for r in rows:
                data_key = master.unwrap(r["subject"], r["master_id"], bytes(r["wrapped_key"]))
                master_id, sealed = master.wrap(r["subject"], data_key)
                subjects.append(r["subject"])
                masters.append(master_id)
                wrapped.append(sealed)
            await conn.execute(
                "UPDATE keyring.subject_keys k SET master_id = u.m, wrapped_key = u.w"
                " FROM unnest($1::text[], $2::text[], $3::bytea[]) AS u(s, m, w)"
                " WHERE k.subject = u.s AND k.wrapped_key IS NOT NULL",
                subjects,
                masters,
                wrapped,
            )
            done += len(rows)


# --- the process's keyring ----------------------------------------------------------------------


class Keyring:
    """The keys of this process: fetched a batch at a time, cached, forgotten on a shred."""

    CACHE_SECONDS = 600.0
    MAX_CACHED = 100_000  # ~0.5 kB each; past it the cache starts over

    def __init__(self, pool: asyncpg.Pool, master: MasterKeys, *, cache_seconds: float = CACHE_SECONDS) -> None:
        """`cache_seconds`: 0 for a reader that does not listen for shreds (a tool, a test): it asks every time."""
        self._pool = pool
        self._master = master
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[SubjectKey, float]] = {}
        self._ready = False
        # Moves on every `forget`: keys read by a query that was in flight meanwhile may predate the
        # shred that caused it, so they serve the batch that asked but are not cached.
        self._generation = 0

    async def prepare(self) -> None:
        """Create the keyring's table if this is the first process to need it."""
        async with self._pool.acquire() as proxy:
            await self._ensure(cast(asyncpg.Connection, proxy))

    async def _ensure(self, conn: asyncpg.Connection) -> None:
        if not self._ready:
            await ensure_schema(conn)
            self._ready = True

    def _cached(self, subjects: Iterable[str]) -> tuple[dict[str, SubjectKey], list[str]]:
        now = time.monotonic()
        found: dict[str, SubjectKey] = {}
        missing: list[str] = []
        for subject in subjects:
            hit = self._cache.get(subject)
            if hit is not None and (hit[0].shredded or hit[1] > now):  # a shred is for ever
                found[subject] = hit[0]
            elif subject not in found:
                missing.append(subject)
        return found, list(dict.fromkeys(missing))

    def _remember(self, key: SubjectKey) -> None:
        if len(self._cache) >= self.MAX_CACHED:
            self._cache.clear()
        if key.error is None and self._cache_seconds > 0:  # an unusable key is looked up again (settings get fixed)
            self._cache[key.subject] = (key, time.monotonic() + self._cache_seconds)

    def _from_row(self, r: asyncpg.Record) -> SubjectKey:
        subject, key_id = r["subject"], r["key_id"] or ""
        if r["wrapped_key"] is None:
            return SubjectKey(subject, key_id, shredded=True)
        try:
            data_key = self._master.unwrap(subject, r["master_id"], bytes(r["wrapped_key"]))
        except KeyUnavailable as exc:
            return SubjectKey(subject, key_id, error=str(exc))
        return SubjectKey(subject, key_id, aead=AESGCM(data_key))

    async def keys(self, subjects: Iterable[str], *, create: bool) -> dict[str, SubjectKey]:
        """The subjects' keys, one query for all not cached; with `create`, subjects without a key get
        one (opening never creates: a sealed record whose subject has no key is a fault)."""
        found, missing = self._cached(subjects)
        if not missing:
            return found
        generation = self._generation
        async with self._pool.acquire() as proxy:
            conn = cast(asyncpg.Connection, proxy)  # the pool hands out a proxy of one
            await self._ensure(conn)
            rows = await _rows(conn, missing)
            created: dict[str, SubjectKey] = {}
            if create and len(rows) < len(missing):
                known = {r["subject"] for r in rows}
                absent = [s for s in missing if s not in known]
                created = await _create(conn, self._master, absent)
                lost = [s for s in absent if s not in created]  # made (or shredded) meanwhile elsewhere
                if lost:
                    rows = [*rows, *await _rows(conn, lost)]
        keys = [*map(self._from_row, rows), *created.values()]
        for key in keys:
            if generation == self._generation:
                self._remember(key)
            found[key.subject] = key
        return found

    def cached(self, subject: str) -> bool:
        """Whether this process holds the subject's key in memory now."""
        return subject in self._cache

    def forget(self, subjects: Iterable[str] | None = None) -> None:
        """Forget cached keys (all of them without `subjects`)."""
        self._generation += 1
        if subjects is None:
            self._cache.clear()
            return
        for subject in subjects:
            self._cache.pop(subject, None)

    def _on_notify(self, *args: object) -> None:
        payload = str(args[3])  # (connection, pid, channel, payload)
        self.forget(None if payload == "*" else payload.split("\n"))

    async def listen(self, worker: Worker | None = None) -> None:
        """Forget keys as they are shredded anywhere, until cancelled (the runtime supervises it; a
        broken connection ends it, and it starts again with a fresh one)."""
        conn = await self._pool.acquire()
        try:
            await conn.add_listener(CHANNEL, self._on_notify)
            self.forget()  # whatever was shredded while nobody listened
            while True:
                if worker is not None:
                    worker.progressed()
                await conn.fetchval("SELECT 1", timeout=10)  # notices a connection that went away
                await asyncio.sleep(5.0)
        finally:
            with contextlib.suppress(Exception):
                await conn.remove_listener(CHANNEL, self._on_notify)
            with contextlib.suppress(Exception):
                await self._pool.release(conn)
