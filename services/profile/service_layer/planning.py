"""The plan phase of resolution: read what is stored and decide, in memory, nothing written.

Two ways to plan, one for each way batches meet:

- `plan` (streaming and HTTP): reads and decides before locking, from what is committed; then
  takes the batch's identity locks (exclusive) and checks that the read still holds. If another
  batch committed a record under one of its keys (or one of its own records) meanwhile, what
  changed is read again under the locks and what it affects decided again. Concurrent batches
  thus overlap their reads and decisions.
- `plan_locked` (bulk import): takes the identity locks first (shared, in the import's own
  transaction) and reads under them; what the previous chunk has not committed yet comes from
  memory (`Carry`), so a chunk is read and decided while the previous one writes.

Either way the decisions are `domain/resolution.py`'s, and the `Plan` goes to `writing.write`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from services.kit.db import Connection
from services.profile.adapters import blocking as blocking_db
from services.profile.adapters import identity as identity_db
from services.profile.domain import matching
from services.profile.domain.model import SourceRecord
from services.profile.domain.resolution import (
    Decision,
    Incoming,
    ProfileConfig,
    SourceKey,
    candidate_keys,
    decide_all,
    decide_in_key_order,
    frequency_tokens,
    identity_keys,
    new_frequency_tokens,
    restated,
)
from services.profile.service_layer.parameters import current_parameters

_DECIDE_SLICE = 50  # records decided between two turns of the event loop (bulk import)


@dataclass
class Plan:
    """A batch decided in memory: everything the write phase needs."""

    items: list[Incoming]  # with their records restated over what was stored
    features: list[matching.MatchFeatures]
    keys: list[list[str]]
    decisions: list[Decision]
    new_names: list[str] = field(default_factory=list)  # name and address parts the write phase counts (none: counted)
    # Stored features of the records seen before, as read under the locks; else read when writing.
    before: Mapping[SourceKey, matching.MatchFeatures] | None = None
    linked: list[SourceKey] = field(default_factory=list)  # records seen before (when `before` is None)


def features_and_keys(items: Sequence[Incoming]) -> tuple[list[matching.MatchFeatures], list[list[str]]]:
    """Each record's match features (computed ahead by the bulk importer, else now) and blocking keys."""
    features = [it.features or it.record.features() for it in items]
    return features, [matching.blocking_keys(f) for f in features]


async def plan(conn: Connection, items: Sequence[Incoming], *, config: ProfileConfig) -> Plan:
    """Read and decide, then lock and check the read (see the module's docstring); inside the caller's transaction."""
    await current_parameters(conn, config.parameters)
    given = items
    record_keys = [it.record.key for it in items]
    # Records seen before are restated: what a record does not state, its earlier statements did.
    sources = await identity_db.stored_sources(conn, record_keys)
    links = {key: s.customer_id for key, s in sources.items()}
    items = restated(given, {key: s.record for key, s in sources.items()})
    features, keys = features_and_keys(items)

    # Read and decide before locking, from what is committed; then lock and check that the read
    # still holds. Concurrent batches (other partitions, other workers) serialise only from their
    # locks on, so their reads and decisions overlap. If another batch committed a record under
    # one of this batch's keys (or one of its records) in between, what changed is read again
    # under the locks and what it affects decided again: the decisions are those of a read under
    # the locks (value frequencies, an estimate, are those of the first read).
    lookup_keys = candidate_keys(items, keys, links)
    read: dict[str, tuple[int, int]] = {}
    stored = await blocking_db.candidates(conn, lookup_keys, per_key=config.candidates_per_key, digest=read)
    # Name frequencies as they will be once this batch's new records are counted (counted when it writes).
    all_tokens = [t for f in features for t in frequency_tokens(f)]
    fresh_tokens = new_frequency_tokens(items, features, links)
    freq = await identity_db.value_frequencies(
        conn, all_tokens, min_records=config.frequency_min_records, adding=fresh_tokens
    )
    decisions = decide_in_key_order(items, features, keys, links, stored, config, freq)

    await identity_db.lock_identities(conn, identity_keys(items, keys))
    # What another batch committed between the read and the locks: records under this batch's
    # keys (a digest of each key's candidates) and records of this batch itself (links, and
    # their statements: restated again over what that batch stored).
    sources_now = await identity_db.stored_sources(conn, record_keys)
    links_now = {key: s.customer_id for key, s in sources_now.items()}
    rewritten = {key for key, s in sources_now.items() if key not in sources or sources[key].version != s.version}
    relinked = {i for i, it in enumerate(items) if links_now.get(it.record.key) != links.get(it.record.key)}
    if rewritten:
        items = restated(given, {key: s.record for key, s in sources_now.items()})
        for i, it in enumerate(items):
            if it.record.key in rewritten:
                features[i] = it.features or it.record.features()
                keys[i] = matching.blocking_keys(features[i])
                relinked.add(i)
    unread = set(candidate_keys(items, keys, links_now)) - set(lookup_keys)  # of records no longer linked
    now_hits = await blocking_db.candidate_hits(conn, lookup_keys, per_key=config.candidates_per_key)
    changed = {k for k in lookup_keys if now_hits.get(k) != read.get(k)} | unread
    if changed:  # read those keys again
        stored = {k: v for k, v in stored.items() if k not in changed}
        stored.update(await blocking_db.candidates(conn, sorted(changed), per_key=config.candidates_per_key))
    if changed or relinked:  # and decide again what they affect
        decisions = decide_in_key_order(
            items, features, keys, links_now, stored, config, freq, earlier=decisions, changed=changed, again=relinked
        )
        links = links_now
        fresh_tokens = new_frequency_tokens(items, features, links)
    # Records seen before: their old blocking keys follow from the features they were stored with.
    before = await identity_db.stored_features(conn, list(links))
    return Plan(list(items), features, keys, decisions, new_names=fresh_tokens, before=before)


# --- planning under locks taken first (bulk import) --------------------------------------------


@dataclass
class Carry:
    """What a decided chunk hands the next one while its own transaction still writes."""

    links: dict[SourceKey, str]
    records: dict[SourceKey, tuple[str, matching.MatchFeatures]]
    by_key: dict[str, list[tuple[SourceKey, str, matching.MatchFeatures]]]
    statements: dict[SourceKey, SourceRecord]  # each record as restated by the chunk (its last occurrence)


def carry_of(planned: Plan) -> Carry:
    """What `planned` will have stored once written, as the next chunk's read would find it."""
    first: dict[SourceKey, int] = {}
    last: dict[SourceKey, int] = {}
    for i, it in enumerate(planned.items):
        first.setdefault(it.record.key, i)
        last[it.record.key] = i
    # Stored as the write phase stores them: the customer of the first, features of the last.
    links = {key: planned.decisions[i].customer_id for key, i in first.items()}
    records: dict[SourceKey, tuple[str, matching.MatchFeatures]] = {}
    by_key: dict[str, list[tuple[SourceKey, str, matching.MatchFeatures]]] = {}
    for key, i in last.items():
        records[key] = (links[key], planned.features[i])
        for k in planned.keys[i]:
            by_key.setdefault(k, []).append((key, links[key], planned.features[i]))
    return Carry(links, records, by_key, {key: planned.items[i].record for key, i in last.items()})


async def plan_locked(
    conn: Connection, items: Sequence[Incoming], *, config: ProfileConfig, carry: Carry | None
) -> Plan:
    """Lock (shared), read and decide, in the caller's open transaction; the new records' name and address parts
    must have been counted already (`writing.count_new_names`, before the transaction)."""
    features, keys = features_and_keys(items)
    record_keys = [it.record.key for it in items]
    carried = carry.links if carry else {}
    await identity_db.lock_identities(conn, identity_keys(items, keys), shared=True)
    await current_parameters(conn, config.parameters)
    sources = await identity_db.stored_sources(conn, record_keys)
    links = {**{key: s.customer_id for key, s in sources.items()}, **carried}
    # Records seen before are restated over their earlier statements (the carried chunk's
    # from memory: it may not have committed yet).
    statements = {key: s.record for key, s in sources.items()} | (carry.statements if carry else {})
    restated_items = restated(items, statements)
    if changed := [i for i, (r, it) in enumerate(zip(restated_items, items, strict=True)) if r is not it]:
        items = restated_items
        again, again_keys = features_and_keys([items[i] for i in changed])  # the others' are as computed
        for i, f, ks in zip(changed, again, again_keys, strict=True):
            features[i], keys[i] = f, ks
    freq = await identity_db.value_frequencies(
        conn,
        [t for f in features for t in frequency_tokens(f)],
        min_records=config.frequency_min_records,
        pending=carry.records.keys() if carry else (),
    )
    lookup_keys = candidate_keys(items, keys, links)
    stored = await _candidates_with_carry(conn, lookup_keys, config, carry)
    decisions = []
    for decision in decide_all(items, features, keys, links, stored, config, freq):
        decisions.append(decision)
        if len(decisions) % _DECIDE_SLICE == 0:
            # Deciding is the longest stretch of Python here: let the previous chunk's write
            # phase send its next statement, so the database is not idle meanwhile.
            await asyncio.sleep(0)
    linked = [key for key in dict.fromkeys(record_keys) if key in links]
    return Plan(list(items), features, keys, decisions, linked=linked)


async def _candidates_with_carry(
    conn: Connection, lookup_keys: list[str], config: ProfileConfig, carry: Carry | None
) -> dict[str, list[tuple[SourceKey, str, matching.MatchFeatures]]]:
    """Stored candidates as they are once the carried chunk has committed, whether or not it has."""
    per_key = config.candidates_per_key
    stored = await blocking_db.candidates(conn, lookup_keys, per_key=per_key)
    if carry is None:
        return stored
    limits = {k: matching.lookup_limit(k, per_key) for k in lookup_keys}  # as blocking_db.candidates reads
    # The carried chunk's records are dropped from what was read (present if it has committed
    # already, or older versions of records it rewrites) and merged back in. A key that lost
    # rows of a full result is read again with that many more, until none is short.
    extra: dict[str, int] = {}
    while True:
        short = {}
        for k, rows in stored.items():
            if len(rows) >= limits[k] + extra.get(k, 0):
                dropped = sum(1 for r in rows if r[0] in carry.records)
                if dropped > extra.get(k, 0):
                    short[k] = dropped
        if not short:
            break
        extra.update(short)
        stored.update(await blocking_db.candidates(conn, list(short), per_key=per_key, extra=short))
    for k in lookup_keys:
        rows = stored.get(k, [])
        added = carry.by_key.get(k)
        if not added and not any(r[0] in carry.records for r in rows):
            continue
        rows = [r for r in rows if r[0] not in carry.records]
        if added:
            # The index's order, (source_system, source_id): code point order under the clusters'
            # C.UTF-8 collation (deploy/local/postgres.sh, docker-compose.yml).
            rows = sorted(rows + added, key=lambda r: r[0])
        rows = rows[: limits[k]]
        if rows:
            stored[k] = rows
        else:
            stored.pop(k, None)
    return stored
