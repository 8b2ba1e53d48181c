"""Set-based identity resolution: a batch of source records in, customers and events out.

One code path for every way records arrive: a batch of booking events from Kafka, a
single record over HTTP, or a chunk of a bulk import file. Each batch:

1. loads existing links and blocking candidates in two indexed queries, from what is
   committed, without locks;
2. decides record by record in memory (records earlier in the batch are candidates
   for later ones), scoring each candidate pair with the domain's match weights;
3. takes advisory locks on every record's source link and blocking keys (sorted), so
   concurrent batches holding records of the same traveller serialise and converge, and
   checks (blocking index only) that what step 1 read still holds; if another batch
   committed a record under one of its keys meanwhile, reads and decides again under the
   locks. Concurrent batches thus overlap their reads and decisions;
4. resolves companies (source link, legal-name alias, email domain);
5. writes customers, source records, blocking keys, reviews and bookings with one
   statement each, recomputes the golden records it touched, and queues the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import math
import uuid
from collections.abc import Collection, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from pydantic_core import to_json

from services.kit.contracts.customers import (
    BookingKind,
    CustomerCreatedV1,
    CustomerSnapshotV1,
    CustomerUpdatedV1,
    ResolvedBookingV1,
)
from services.kit.contracts.envelope import EncodedEnvelope, Envelope, encode_new
from services.profile.adapters import repository as repo
from services.profile.domain import matching
from services.profile.domain.companies import company_key, corporate_domain
from services.profile.domain.model import Correction, SourceRecord, StoredRecord, golden_record
from services.profile.domain.quality import assess
from services.profile.domain.restating import restate_all
from services.profile.domain.timezones import HOME_TIME_ZONE, source_of
from services.profile.service_layer.derived import business_contacts, home_time_zones, search_document

PRODUCER = "profile"
CUSTOMERS_TOPIC = "profile.customers.v1"
CUSTOMER_EVENTS_TOPIC = "profile.customer-events.v1"
RESOLVED_BOOKINGS_TOPIC = "profile.bookings.v1"

Outgoing = list[tuple[str, Envelope[Any] | EncodedEnvelope]]


@dataclass(frozen=True)
class ProfileConfig:
    phone_region: str | None
    passport_pepper: str
    source_trust: Mapping[str, int] = field(default_factory=dict)
    verified_trust: int = 80
    upper_threshold: float = matching.UPPER_THRESHOLD
    lower_threshold: float = matching.LOWER_THRESHOLD
    candidates_per_key: int = 40
    max_candidates: int = 120  # scored per record at most
    frequency_min_records: int = 1000  # name frequencies count once this many records are stored
    stale_after_days: int = 730


@dataclass(frozen=True)
class CompanyInput:
    name: str
    source_system: str
    source_company_id: str | None = None
    email_domain: str | None = None
    key: str = ""  # company_key(name), computed once where the record is normalised
    country: str | None = None  # ISO 3166-1 alpha-2, where the source says

    @property
    def alias(self) -> str:
        return self.key or company_key(self.name)


@dataclass(frozen=True)
class BookingInput:
    """The booking a record came with, re-published with the resolved customer id."""

    source_event: Envelope[Any]
    kind: BookingKind
    booking_id: str
    segments: tuple[Any, ...]
    total_price: Any
    currency: str | None
    trip_purpose: str | None


@dataclass(frozen=True)
class Incoming:
    record: SourceRecord
    company: CompanyInput | None = None
    booking: BookingInput | None = None
    caused_by: Envelope[Any] | None = None
    features: matching.MatchFeatures | None = None  # computed ahead (bulk import), else from the record


@dataclass(frozen=True)
class Outcome:
    source_system: str
    source_id: str
    customer_id: str
    rule: str
    created: bool
    score: float | None = None
    review_candidate: str | None = None


@dataclass
class _Decision:
    customer_id: str
    rule: str
    created: bool
    score: float | None = None
    evidence: dict[str, Any] | None = None
    matched_to: SourceKey | None = None
    reviews: list[tuple[str, matching.MatchResult]] = field(default_factory=list)


SourceKey = tuple[str, str]


def name_tokens(f: matching.MatchFeatures) -> list[str]:
    """The name parts a record adds to the frequency table."""
    out = [f"f:{f.family}"] if f.family else []
    if f.given:
        out.append(f"g:{f.given}")
    if f.given_first and f.given_first != f.given:
        out.append(f"g:{f.given_first}")
    return out


def new_customer_id() -> str:
    return f"cus_{uuid.uuid4().hex}"


def new_company_id() -> str:
    return f"com_{uuid.uuid4().hex}"


async def resolve_batch(
    conn: asyncpg.Connection, items: Sequence[Incoming], *, config: ProfileConfig, now: datetime | None = None
) -> tuple[list[Outcome], Outgoing]:
    """Resolve records to customers inside the caller's transaction; returns outcomes and the events to enqueue."""
    now = now or datetime.now(UTC)
    if not items:
        return [], []
    given = items
    record_keys = [it.record.key for it in items]
    # Records seen before are restated: what a record does not state, its earlier statements did.
    sources = await repo.stored_sources(conn, record_keys)
    links = {key: s.customer_id for key, s in sources.items()}
    items = restated(given, sources)
    features = [it.features or it.record.features() for it in items]
    keys = [matching.blocking_keys(f) for f in features]

    # Read and decide before locking, from what is committed; then lock and check that the read
    # still holds. Concurrent batches (other partitions, other workers) serialise only from their
    # locks on, so their reads and decisions overlap. If another batch committed a record under
    # one of this batch's keys (or one of its records) in between, what changed is read again
    # under the locks and what it affects decided again: the decisions are those of a read under
    # the locks (name frequencies, an estimate, are those of the first read).
    lookup_keys = candidate_keys(items, keys, links)
    read: dict[str, tuple[int, int]] = {}
    stored = await repo.candidates(conn, lookup_keys, per_key=config.candidates_per_key, digest=read)
    # Name frequencies as they will be once this batch's new records are counted (counted under the locks).
    all_tokens = [t for f in features for t in name_tokens(f)]
    fresh_tokens = new_name_tokens(items, features, links)
    freq = await repo.name_frequencies(conn, all_tokens, min_records=config.frequency_min_records, adding=fresh_tokens)
    decisions = decide_in_key_order(items, features, keys, links, stored, config, freq)

    await repo.lock_identities(conn, identity_keys(items, keys))
    # What another batch committed between the read and the locks: records under this batch's
    # keys (a digest of each key's candidates) and records of this batch itself (links, and
    # their statements: restated again over what that batch stored).
    sources_now = await repo.stored_sources(conn, record_keys)
    links_now = {key: s.customer_id for key, s in sources_now.items()}
    rewritten = {key for key, s in sources_now.items() if key not in sources or sources[key].version != s.version}
    relinked = {i for i, it in enumerate(items) if links_now.get(it.record.key) != links.get(it.record.key)}
    if rewritten:
        items = restated(given, sources_now)
        for i, it in enumerate(items):
            if it.record.key in rewritten:
                features[i] = it.features or it.record.features()
                keys[i] = matching.blocking_keys(features[i])
                relinked.add(i)
    company_ids = await _resolve_companies(conn, items)
    unread = set(candidate_keys(items, keys, links_now)) - set(lookup_keys)  # of records no longer linked
    now_hits = await repo.candidate_hits(conn, lookup_keys, per_key=config.candidates_per_key)
    changed = {k for k in lookup_keys if now_hits.get(k) != read.get(k)} | unread
    if changed:  # read those keys again
        stored = {k: v for k, v in stored.items() if k not in changed}
        stored.update(await repo.candidates(conn, sorted(changed), per_key=config.candidates_per_key))
    if changed or relinked:  # and decide again what they affect
        decisions = decide_in_key_order(
            items, features, keys, links_now, stored, config, freq, earlier=decisions, changed=changed, again=relinked
        )
        links = links_now
        fresh_tokens = new_name_tokens(items, features, links)
    await repo.count_names(conn, fresh_tokens)
    # Records seen before: their old blocking keys follow from the features they were stored with.
    before = await repo.stored_features(conn, list(links))
    return await write_batch(
        conn, items, features, keys, decisions, config=config, now=now, company_ids=company_ids, before=before
    )


def restated(items: Sequence[Incoming], sources: Mapping[SourceKey, repo.StoredSource]) -> list[Incoming]:
    """The items with each record restated over its stored record and the batch's earlier statements of it."""
    records = restate_all([it.record for it in items], {key: s.record for key, s in sources.items()})
    return [
        it if record is it.record else dataclasses.replace(it, record=record, features=None)
        for it, record in zip(items, records, strict=True)
    ]


def candidate_keys(
    items: Sequence[Incoming], keys: Sequence[Sequence[str]], links: Mapping[SourceKey, str]
) -> list[str]:
    """The blocking keys whose stored records are candidates: those of the records not linked yet."""
    return sorted({k for it, ks in zip(items, keys, strict=True) if it.record.key not in links for k in ks})


def new_name_tokens(
    items: Sequence[Incoming], features: Sequence[matching.MatchFeatures], links: Mapping[SourceKey, str]
) -> list[str]:
    """The name parts of the records stored for the first time (they join the name frequencies):
    once per record, with the features of its last occurrence in the batch."""
    fresh = {it.record.key: f for it, f in zip(items, features, strict=True) if it.record.key not in links}
    return [t for f in fresh.values() for t in name_tokens(f)]


def identity_keys(items: Sequence[Incoming], keys: Sequence[Sequence[str]]) -> list[str]:
    """What a batch locks (before it writes): its records' source links, blocking keys and company keys."""
    company_lock_keys = [f"co:{it.company.alias}" for it in items if it.company]
    return (
        [f"src:{it.record.source_system}:{it.record.source_id}" for it in items]
        + [k for ks in keys for k in ks]
        + company_lock_keys
    )


def decide_in_key_order(
    items: Sequence[Incoming],
    features: Sequence[matching.MatchFeatures],
    keys: Sequence[Sequence[str]],
    links: Mapping[SourceKey, str],
    stored: Mapping[str, list[tuple[SourceKey, str, matching.MatchFeatures]]],
    config: ProfileConfig,
    freq: matching.Frequencies | None,
    *,
    earlier: Sequence[_Decision] | None = None,
    changed: Collection[str] = (),
    again: Collection[int] = (),
) -> list[_Decision]:
    """`decide_all` in the order of the records' keys, whatever order the batch arrived in (the
    decisions come back in the items' order).

    Records decided earlier in a batch are candidates for later ones, so the order decides which
    record creates a customer and which pairs go to review. The order of a fetched batch varies
    from run to run (partitions interleave), the order of the keys does not: the same records
    decide alike. Several events of one record keep their order (the sort is stable).
    """
    order = sorted(range(len(items)), key=lambda i: items[i].record.key)
    position = {i: p for p, i in enumerate(order)}
    decided = list(
        decide_all(
            [items[i] for i in order],
            [features[i] for i in order],
            [keys[i] for i in order],
            links,
            stored,
            config,
            freq,
            earlier=[earlier[i] for i in order] if earlier is not None else None,
            changed=changed,
            again={position[i] for i in again},
        )
    )
    return [decided[position[i]] for i in range(len(items))]


def decide_all(
    items: Sequence[Incoming],
    features: Sequence[matching.MatchFeatures],
    keys: Sequence[Sequence[str]],
    links: Mapping[SourceKey, str],
    stored: Mapping[str, list[tuple[SourceKey, str, matching.MatchFeatures]]],
    config: ProfileConfig,
    freq: matching.Frequencies | None,
    *,
    earlier: Sequence[_Decision] | None = None,
    changed: Collection[str] = (),
    again: Collection[int] = (),
) -> Iterator[_Decision]:
    """Each record's decision, in memory: existing source link, else scored against its candidates.

    A generator: the bulk importer lets the previous chunk's writes go on between records.
    `earlier`: the decisions of the same records from an earlier read, of which only the keys in
    `changed` read differently now, and the links of only the records at the indexes `again`
    (same frequencies). A record none of whose keys changed, whose link did not change, and under
    none of whose keys an earlier record of the batch changed customer, keeps its decision:
    scoring it again would give the same one.
    """
    # Decide in order; records decided earlier in the batch are candidates for later ones.
    batch_index: dict[str, list[tuple[SourceKey, str, matching.MatchFeatures]]] = {}
    batch_links: dict[SourceKey, str] = {}
    dirty = set(changed)
    for i, (it, feats, ks) in enumerate(zip(items, features, keys, strict=True)):
        key = it.record.key
        linked = batch_links.get(key) or links.get(key)
        if linked is not None:
            decision = _Decision(linked, "source-link", created=False)
        elif earlier is not None and i not in again and dirty.isdisjoint(ks):
            decision = earlier[i]
        else:
            decision = _decide(key, feats, ks, stored, batch_index, config, freq)
        if earlier is not None and decision.customer_id != earlier[i].customer_id:
            dirty.update(ks)
        batch_links[key] = decision.customer_id
        for k in ks:
            batch_index.setdefault(k, []).append((key, decision.customer_id, feats))
        yield decision


async def write_batch(
    conn: asyncpg.Connection,
    items: Sequence[Incoming],
    features: Sequence[matching.MatchFeatures],
    keys: Sequence[Sequence[str]],
    decisions: list[_Decision],
    *,
    config: ProfileConfig,
    now: datetime,
    company_ids: list[str | None] | None = None,
    before: Mapping[SourceKey, matching.MatchFeatures] | None = None,
    linked: Sequence[SourceKey] = (),
) -> tuple[list[Outcome], Outgoing]:
    """Write a decided batch: customers, source records, keys, reviews, history, golden records, events.

    Companies and the stored features of `linked` records are resolved here unless given
    (the bulk importer decides a chunk before the previous one has committed).
    """
    if company_ids is None:
        company_ids = await _resolve_companies(conn, items)
    if before is None:
        before = await repo.stored_features(conn, list(linked))
    # Customers chosen from the database may have been merged since: lock them and follow redirects.
    new_ids = {d.customer_id for d in decisions if d.created}
    redirect, locked = await _lock_and_redirect(conn, {d.customer_id for d in decisions} - new_ids)
    for d in decisions:
        d.customer_id = redirect.get(d.customer_id, d.customer_id)

    # Agents' "different people" verdicts keep pairs out of the review queue.
    review_pairs = [tuple(sorted((d.customer_id, c))) for d in decisions for c, _ in d.reviews]
    declared = await repo.distinct_pairs(conn, [(p[0], p[1]) for p in review_pairs])

    first_of: dict[SourceKey, int] = {}
    last_of: dict[SourceKey, int] = {}
    for i, it in enumerate(items):
        first_of.setdefault(it.record.key, i)
        last_of[it.record.key] = i

    created_at = {d.customer_id: i for i, d in enumerate(decisions) if d.created and first_of[items[i].record.key] == i}
    source_rows: list[dict[str, Any]] = []
    # New customers are written once, golden record included, from the batch's own records.
    new_records: dict[str, list[tuple[StoredRecord, int]]] = {}
    for key, i in last_of.items():
        it, d0 = items[i], decisions[first_of[key]]
        fields = it.record.normalized_fields()
        # A record that names no company now keeps the company an earlier statement named.
        kept_company = it.company is None and it.record.company_id is not None
        fields["company_id"] = it.record.company_id if kept_company else company_ids[i]
        problems = it.record.problems()
        seen_at = it.record.seen_at.astimezone(UTC)
        if d0.customer_id in created_at:
            new_records.setdefault(d0.customer_id, []).append(
                (StoredRecord(key[0], key[1], fields, seen_at, it.record.stated_at), len(problems))
            )
        source_rows.append(
            {
                "source_system": key[0],
                "source_id": key[1],
                "customer_id": d0.customer_id,
                "raw": dict(it.record.raw),
                "normalized": fields,
                "problems": problems,
                "passport_hash": it.record.passport_hash,
                "match_rule": d0.rule,
                "match_score": d0.score,
                "features": features[i].to_json(),
                "match_evidence": d0.evidence,
                "matched_to": {"source_system": d0.matched_to[0], "source_id": d0.matched_to[1]}
                if d0.matched_to
                else None,
                "seen_at": seen_at,
                "stated_at": {k: t.isoformat() for k, t in it.record.stated_at.items()},
            }
        )
    new_rows, new_tasks, new_snapshots = await prepare_new_customers(
        conn,
        {d.customer_id: items[i].caused_by for i, d in enumerate(decisions) if d.customer_id in created_at},
        company_ids={cid: company_ids[i] for cid, i in created_at.items()},
        records=new_records,
        config=config,
        now=now,
    )
    # From here to the refresh of existing customers only writes follow: each is sent while the
    # next one's rows and the batch's events are built.
    writes = _Writes()
    try:
        await writes.send(repo.insert_customers_full(conn, new_rows))
        outgoing: Outgoing = []
        history: list[tuple[str, str, str | None, dict[str, Any]]] = []
        for i, d in enumerate(decisions):
            it = items[i]
            if first_of[it.record.key] != i:
                continue
            detail: dict[str, Any] = {
                "source_system": it.record.source_system,
                "source_id": it.record.source_id,
                "rule": d.rule,
            }
            if d.score is not None:
                detail["score"] = round(d.score, 3)
            if d.created:
                history.append((d.customer_id, "created", None, detail))
                outgoing.append(created_event(d.customer_id, it.record.key, it.caused_by))
            elif d.rule != "source-link":
                history.append((d.customer_id, "source-record-linked", None, detail))
        await writes.send(repo.insert_quality_tasks(conn, new_tasks))
        await writes.send(repo.upsert_source_records(conn, source_rows))
        outgoing += _snapshot_events(new_snapshots, now)
        await writes.send(
            repo.replace_blocking_keys(
                conn,
                [(key, keys[i]) for key, i in last_of.items()],
                stored_before={key: matching.blocking_keys(f) for key, f in before.items()},
            )
        )
        reviews: dict[tuple[str, str], dict[str, Any]] = {}
        for i, d in enumerate(decisions):
            for candidate, result in d.reviews:
                pair = (min(d.customer_id, candidate), max(d.customer_id, candidate))
                if pair in declared or candidate == d.customer_id:
                    continue
                # One item per pair, either way round: the best-scored evidence (then the first record).
                kept = reviews.get(pair)
                if kept is not None and (-kept["score"], kept["source_system"], kept["source_id"]) <= (
                    -result.score,
                    *items[i].record.key,
                ):
                    continue
                reviews[pair] = (
                    {
                        "review_id": f"rev_{uuid.uuid4().hex}",
                        "customer_id": d.customer_id,
                        "candidate_id": candidate,
                        "source_system": items[i].record.source_system,
                        "source_id": items[i].record.source_id,
                        "score": result.score,
                        "evidence": result.to_json(),
                    }
                )
        await writes.send(repo.insert_reviews(conn, list(reviews.values())))
        await writes.send(repo.add_history_many(conn, history))
        await writes.flush()
    except BaseException:
        await writes.abandon()
        raise

    touched: dict[str, Envelope[Any] | None] = {}
    for i, d in enumerate(decisions):
        if d.customer_id not in created_at:
            touched[d.customer_id] = items[i].caused_by
    # Their rows as locked above: nothing in this batch has written them since.
    outgoing += await refresh_customers(conn, touched, config=config, now=now, rows=locked)

    bookings: dict[tuple[str, str], dict[str, Any]] = {}
    for i, d in enumerate(decisions):
        b = items[i].booking
        if b is None:
            continue
        status = {"created": "confirmed", "changed": "confirmed", "cancelled": "cancelled"}.get(b.kind, b.kind)
        summary: dict[str, Any] = (
            {
                "segments": [s.model_dump(mode="json") for s in b.segments],
                "total_price": str(b.total_price) if b.total_price else None,
                "currency": b.currency,
            }
            if b.segments
            else {}
        )
        key = (items[i].record.source_system, b.booking_id)
        if not summary and key in bookings:
            # Trip started/completed and cancellations name no segments: the itinerary an earlier
            # event of this batch stated stands (as the upsert keeps the stored one).
            summary = bookings[key]["summary"]
        bookings[key] = {
            "source_system": items[i].record.source_system,
            "booking_id": b.booking_id,
            "customer_id": d.customer_id,
            "status": status,
            "summary": summary,
            "traveller_source_id": items[i].record.source_id,
            "at": now,
        }
        outgoing.append(resolved_event(d.customer_id, company_ids[i], items[i].record.source_system, b))
    await repo.upsert_bookings(conn, list(bookings.values()))

    outcomes = [
        Outcome(
            source_system=it.record.source_system,
            source_id=it.record.source_id,
            customer_id=d.customer_id,
            rule=d.rule,
            created=d.created and first_of[it.record.key] == i,
            score=d.score,
            review_candidate=d.reviews[0][0] if d.reviews else None,
        )
        for i, (it, d) in enumerate(zip(items, decisions, strict=True))
    ]
    return outcomes, outgoing


def _decide(
    key: SourceKey,
    feats: matching.MatchFeatures,
    keys: Sequence[str],
    stored: Mapping[str, list[tuple[SourceKey, str, matching.MatchFeatures]]],
    batch_index: Mapping[str, list[tuple[SourceKey, str, matching.MatchFeatures]]],
    config: ProfileConfig,
    freq: matching.Frequencies | None = None,
) -> _Decision:
    """Score a new record against its blocking candidates and decide: link, review or new customer.

    Candidates are scored without evidence (`quick_score`); the evidence is built only for
    the pairs kept (the chosen match or review and the reviews). A candidate that no strong
    identifier decides and whose score could not reach the review threshold nor the best
    score so far is left unscored: it could not change the decision, the reviews or the score kept.
    """
    upper, lower = config.upper_threshold, config.lower_threshold
    best_by_customer: dict[str, tuple[tuple[int, float], SourceKey, matching.MatchFeatures]] = {}
    seen: set[SourceKey] = {key}
    best = floor = -math.inf
    for k in keys:  # strongest keys first: the scoring budget goes to the likeliest candidates
        for cand_key, customer_id, cand in (*stored.get(k, ()), *batch_index.get(k, ())):
            if cand_key in seen:
                continue
            if len(seen) > config.max_candidates:
                break
            seen.add(cand_key)
            quick = matching.quick_score(feats, cand, upper=upper, lower=lower, freq=freq, floor=floor)
            if quick is None:
                continue
            score, decided, _rule = quick
            if score > best:
                best = score
                floor = min(lower, best)
            ranking = matching.quick_rank(decided, score)
            current = best_by_customer.get(customer_id)
            if current is None or ranking > current[0]:
                best_by_customer[customer_id] = (ranking, cand_key, cand)
    ranked = sorted(best_by_customer.items(), key=lambda kv: (kv[1][0], kv[0]), reverse=True)

    def result(cand: matching.MatchFeatures) -> matching.MatchResult:
        return matching.score_pair(feats, cand, upper=upper, lower=lower, freq=freq)

    if ranked and ranked[0][1][0][0] == _MATCH:
        customer_id, (_, cand_key, cand) = ranked[0]
        chosen = result(cand)
        # Other customers this record also matches are probably duplicates of the chosen one.
        reviews = [(c, result(f)) for c, (r, _, f) in itertools.islice(_non_distinct(ranked[1:]), 3)]
        return _Decision(
            customer_id,
            chosen.rule,
            created=False,
            score=chosen.score,
            evidence=chosen.to_json(),
            matched_to=cand_key,
            reviews=reviews,
        )
    decision = _Decision(new_customer_id(), "new", created=True)
    if ranked and ranked[0][1][0][0] == _REVIEW:
        _candidate, (_, cand_key, cand) = ranked[0]
        chosen = result(cand)
        decision.score = chosen.score
        decision.evidence = chosen.to_json()
        decision.matched_to = cand_key
        decision.rule = "new:review"
        decision.reviews = [(c, result(f)) for c, (_, _, f) in itertools.islice(_non_distinct(ranked), 3)]
    elif ranked:
        decision.score = ranked[0][1][0][1]
    return decision


_MATCH, _REVIEW, _DISTINCT = (
    matching.quick_rank("match", 0.0)[0],
    matching.quick_rank("review", 0.0)[0],
    matching.quick_rank("distinct", 0.0)[0],
)


def _non_distinct(
    ranked: Sequence[tuple[str, tuple[tuple[int, float], SourceKey, matching.MatchFeatures]]],
) -> Iterator[tuple[str, tuple[tuple[int, float], SourceKey, matching.MatchFeatures]]]:
    return (entry for entry in ranked if entry[1][0][0] != _DISTINCT)


async def _lock_and_redirect(
    conn: asyncpg.Connection, ids: set[str]
) -> tuple[dict[str, str], dict[str, asyncpg.Record]]:
    """Row-lock the existing customers a batch writes to; map merged ones to their survivor.

    Returns the redirects and the rows of every customer locked (survivors included)."""
    redirect: dict[str, str] = {}
    locked: dict[str, asyncpg.Record] = {}
    pending = set(ids)
    for _ in range(10):
        rows = await repo.lock_customers(conn, pending)
        locked.update(rows)
        nxt: set[str] = set()
        for cid, row in rows.items():
            if row["status"] == "merged" and row["merged_into"]:
                nxt.add(row["merged_into"])
                for src, dst in list(redirect.items()):
                    if dst == cid:
                        redirect[src] = row["merged_into"]
                redirect.setdefault(cid, row["merged_into"])
        if not nxt:
            break
        pending = nxt
    return redirect, locked


async def _resolve_companies(conn: asyncpg.Connection, items: Sequence[Incoming]) -> list[str | None]:
    """Each item's company id: by the source's company id, the legal-name alias, or the email domain."""
    sources = sorted(
        {(c.source_system, c.source_company_id) for it in items if (c := it.company) and c.source_company_id}
    )
    aliases = sorted({it.company.alias for it in items if it.company} - {""})
    domains: set[str] = set()
    for it in items:
        if it.company and (d := corporate_domain(it.company.email_domain)):
            domains.add(d)
        if it.record.email.value and (d := corporate_domain(it.record.email.value)):
            domains.add(d)
    by_source, by_alias, by_domain = await repo.company_lookup(
        conn, sources=[(s, str(i)) for s, i in sources], aliases=aliases, domains=sorted(domains)
    )
    new: list[tuple[str, str, str, str | None]] = []
    countries: dict[str, str] = {}
    new_aliases: list[tuple[str, str, str]] = []
    new_domains: list[tuple[str, str]] = []
    new_sources: list[tuple[str, str, str]] = []
    out: list[str | None] = []
    for it in items:
        c = it.company
        traveller_domain = corporate_domain(it.record.email.value) if it.record.email.value else None
        if c is None:
            out.append(by_domain.get(traveller_domain) if traveller_domain else None)
            continue
        alias = c.alias
        domain = corporate_domain(c.email_domain)
        src = (c.source_system, c.source_company_id) if c.source_company_id else None
        cid = (
            (by_source.get(src) if src else None)
            or (by_alias.get(alias) if alias else None)
            or (by_domain.get(domain) if domain else None)
        )
        if cid is None:
            if not alias:
                out.append(None)
                continue
            cid = new_company_id()
            new.append((cid, c.name, alias, domain))
        if c.country:
            countries[cid] = c.country
        if alias and alias not in by_alias:
            by_alias[alias] = cid
            new_aliases.append((alias, cid, c.name))
        if domain and domain not in by_domain:
            by_domain[domain] = cid
            new_domains.append((domain, cid))
        if src and src not in by_source:
            by_source[src] = cid
            new_sources.append((src[0], str(src[1]), cid))
        out.append(cid)
    await repo.save_companies(
        conn, new=new, aliases=new_aliases, domains=new_domains, sources=new_sources, countries=countries
    )
    return out


def _encoded(
    model: type[CustomerSnapshotV1 | CustomerCreatedV1 | CustomerUpdatedV1 | ResolvedBookingV1],
    payload: Mapping[str, Any],
    subject: str,
    caused_by: Envelope[Any] | None,
) -> EncodedEnvelope:
    """`Envelope.new(model(**payload), producer=PRODUCER, ...)` in its wire form, from the payload's
    fields (in the model's field order, every field present, values as the model holds them:
    pydantic-core writes them as `model_dump_json` does)."""
    return encode_new(model, to_json(payload), producer=PRODUCER, subject_id=subject, caused_by=caused_by)


def created_event(customer_id: str, record: SourceKey, caused_by: Envelope[Any] | None) -> tuple[str, EncodedEnvelope]:
    """customer.created for a customer made from `record` (source system, source id)."""
    payload = {"customer_id": customer_id, "source_system": record[0], "source_record_id": record[1]}
    return CUSTOMER_EVENTS_TOPIC, _encoded(CustomerCreatedV1, payload, customer_id, caused_by)


def resolved_event(
    customer_id: str, company_id: str | None, source_system: str, b: BookingInput
) -> tuple[str, EncodedEnvelope]:
    """booking.resolved: the booking re-published with its customer (its values validated already)."""
    payload = {
        "customer_id": customer_id,
        "company_id": company_id,
        "kind": b.kind,
        "source_event_id": str(b.source_event.event_id),
        "source_system": source_system,
        "booking_id": b.booking_id,
        "segments": b.segments,
        "total_price": b.total_price,
        "currency": b.currency,
        "trip_purpose": b.trip_purpose,
        "occurred_at": b.source_event.occurred_at,
    }
    # Why a booking changed or was cancelled, as its system said (for the traveller's email); absent
    # when unknown, as the model writes it.
    source = b.source_event.payload
    reason = getattr(source, "change_reason", None) or getattr(source, "reason", None)
    if reason is not None:
        payload["reason"] = reason
    trip_reference = getattr(source, "trip_reference", None)
    if trip_reference is not None:
        payload["trip_reference"] = trip_reference
    return RESOLVED_BOOKINGS_TOPIC, _encoded(ResolvedBookingV1, payload, customer_id, b.source_event)


async def refresh_customers(
    conn: asyncpg.Connection,
    customers: Mapping[str, Envelope[Any] | None],
    *,
    config: ProfileConfig,
    now: datetime,
    force: frozenset[str] = frozenset(),
    min_versions: Mapping[str, int] | None = None,
    rows: Mapping[str, asyncpg.Record] | None = None,
) -> Outgoing:
    """Recompute golden records and quality of active customers; returns snapshot/update events for changes.

    `force` bumps the version and republishes even when no value changed (merges, unmerges);
    `min_versions` makes a customer's next version exceed the given one. `rows`: the customers'
    rows as the caller read them under their row locks, if nothing has written them since (the
    others are read here).
    """
    ids = sorted(customers)
    if not ids:
        return []
    known = rows or {}
    current = {cid: known[cid] for cid in ids if cid in known}
    if missing := [cid for cid in ids if cid not in known]:
        current.update(await repo.customer_rows(conn, missing))
    records = await repo.records_of(conn, ids)
    corrections = await repo.corrections_of(conn, ids)
    saves, tasks, pending = await _recompute(
        conn,
        ids,
        customers,
        rows=current,
        records=records,
        corrections=corrections,
        config=config,
        now=now,
        force=force,
        min_versions=min_versions,
    )
    await repo.save_customers(conn, saves)
    await repo.sync_quality_tasks(conn, tasks)
    return _snapshot_events(pending, now)


async def prepare_new_customers(
    conn: asyncpg.Connection,
    customers: Mapping[str, Envelope[Any] | None],
    *,
    company_ids: Mapping[str, str | None],
    records: Mapping[str, list[tuple[StoredRecord, int]]],
    config: ProfileConfig,
    now: datetime,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, dict[str, Any]]], list[_PendingSnapshot]]:
    """Rows (golden record included, version 1), quality tasks and snapshots of customers a batch creates.

    Written once: the golden record comes from the batch's own records (a new customer has no
    other records, corrections or history yet), so there is no insert-then-update and no read-back.
    """
    ids = sorted(customers)
    if not ids:
        return [], {}, []
    rows: dict[str, Mapping[str, Any]] = {
        cid: {"status": "active", "version": 0, "golden": {}, "company_id": company_ids.get(cid), "quality": {}}
        for cid in ids
    }
    return await _recompute(conn, ids, customers, rows=rows, records=records, corrections={}, config=config, now=now)


async def _recompute(
    conn: asyncpg.Connection,
    ids: Sequence[str],
    customers: Mapping[str, Envelope[Any] | None],
    *,
    rows: Mapping[str, Mapping[str, Any]] | Mapping[str, asyncpg.Record],
    records: Mapping[str, list[tuple[StoredRecord, int]]],
    corrections: Mapping[str, list[Correction]],
    config: ProfileConfig,
    now: datetime,
    force: frozenset[str] = frozenset(),
    min_versions: Mapping[str, int] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, dict[str, Any]]], list[_PendingSnapshot]]:
    """Golden records, quality and the snapshots/update events to build, from customers' rows and records."""
    goldens = {}
    for cid in ids:
        recs = [r for r, _ in records.get(cid, [])]
        goldens[cid] = golden_record(
            recs, trust=config.source_trust, corrections=corrections.get(cid, ()), verified_trust=config.verified_trust
        )
    company_for: dict[str, str | None] = {}
    for cid in ids:
        row = rows.get(cid)
        if row is None:
            continue
        chosen = None
        g = goldens[cid]
        if "company_name" in g:
            src = (g["company_name"].source_system, g["company_name"].source_id)
            chosen = next(
                (r.fields.get("company_id") for r, _ in records.get(cid, []) if (r.source_system, r.source_id) == src),
                None,
            )
        if chosen is None:
            chosen = next(
                (r.fields.get("company_id") for r, _ in records.get(cid, []) if r.fields.get("company_id")), None
            )
        company_for[cid] = chosen or row["company_id"]
    await business_contacts(conn, goldens, records, company_for, trust=config.source_trust)
    await home_time_zones(conn, goldens, company_for)
    emails = [g["email"].value for g in goldens.values() if "email" in g]
    bounced = await repo.undeliverable(conn, emails)
    # Company names are needed only for snapshots whose records do not name the company.
    names = await repo.company_names(
        conn, [company_for[cid] for cid in company_for if "company_name" not in goldens[cid]]
    )

    saves: list[dict[str, Any]] = []
    tasks: dict[str, dict[str, dict[str, Any]]] = {}
    events: list[_PendingSnapshot] = []
    for cid in ids:
        row = rows.get(cid)
        if row is None or row["status"] != "active":
            continue
        golden = goldens[cid]
        recs_p = records.get(cid, [])
        deliverable = not ("email" in golden and golden["email"].value in bounced)
        report = assess(
            golden,
            [r for r, _ in recs_p],
            problems=sum(p for _, p in recs_p),
            email_deliverable=deliverable,
            now=now,
            stale_after=timedelta(days=config.stale_after_days),
        )
        golden_json = repo.golden_to_json(golden)
        new_values = {k: v["value"] for k, v in golden_json.items()}
        # The name as the traveller's sources write it; company_id links to the resolved account.
        company_name = new_values.get("company_name") or names.get(company_for[cid] or "")
        quality = {**report.to_json(), "source_records": len(recs_p)}
        changed = _changed_fields(row, new_values, report.email_deliverable, len(recs_p), company_for[cid])
        if not changed and row["version"] >= 1 and cid not in force:
            # The same values: no new version, no event. But where and when each was last stated
            # (the view shows it) and the quality are kept current.
            if quality != (row["quality"] or {}) or golden_json != (row["golden"] or {}):
                saves.append(
                    {
                        "customer_id": cid,
                        "golden": golden_json,
                        "company_id": row["company_id"],
                        "version": row["version"],
                        "quality": quality,
                        "at": now,
                        "search_doc": search_document(recs_p, new_values, company_name),
                    }
                )
                tasks[cid] = report.tasks()
            continue
        version = max(row["version"], (min_versions or {}).get(cid, 0)) + 1
        saves.append(
            {
                "customer_id": cid,
                "golden": golden_json,
                "company_id": company_for[cid],
                "version": version,
                "quality": quality,
                "at": now,
                "search_doc": search_document(recs_p, new_values, company_name),
            }
        )
        tasks[cid] = report.tasks()
        events.append(
            _PendingSnapshot(
                cid,
                version,
                new_values,
                company_for[cid],
                company_name,
                len(recs_p),
                report.score,
                report.email_deliverable,
                tuple(changed) if row["version"] >= 1 else None,
                customers[cid],
                source_of(golden.get(HOME_TIME_ZONE)),
            )
        )
    return saves, tasks, events


def _changed_fields(
    row: Mapping[str, Any] | asyncpg.Record,
    values: Mapping[str, Any],
    deliverable: bool,
    records: int,
    company_id: str | None,
) -> list[str]:
    """What changed against a customer's stored row (nothing to compare for a new customer, version 0)."""
    if row["version"] < 1:
        return []
    old_values = {k: v.get("value") for k, v in (row["golden"] or {}).items()}
    changed = sorted(k for k in set(old_values) | set(values) if old_values.get(k) != values.get(k))
    if (row["quality"] or {}).get("email_deliverable", True) != deliverable:
        changed.append("email_deliverable")
    if (row["quality"] or {}).get("source_records") != records:
        changed.append("source_record_count")
    if company_id != row["company_id"]:
        changed.append("company_id")
    return changed


@dataclass(frozen=True)
class _PendingSnapshot:
    """A customer snapshot (and update event) to build, possibly while the customer's row is being written."""

    customer_id: str
    version: int
    golden: Mapping[str, Any]
    company_id: str | None
    company_name: str | None
    record_count: int
    quality_score: float | None
    email_deliverable: bool
    changed: tuple[str, ...] | None  # None for a new customer (no update event)
    caused_by: Envelope[Any] | None
    home_time_zone_source: str | None = None


def _snapshot_events(pending: Sequence[_PendingSnapshot], now: datetime) -> Outgoing:
    """Snapshots and update events in their wire form: the bytes their models would give (pinned by
    the unit tests), without validating and dumping a model per event."""
    events: Outgoing = []
    for p in pending:
        snapshot = snapshot_json(
            p.customer_id,
            version=p.version,
            golden=p.golden,
            company_id=p.company_id,
            company_name=p.company_name,
            record_count=p.record_count,
            quality_score=p.quality_score,
            email_deliverable=p.email_deliverable,
            now=now,
            home_time_zone_source=p.home_time_zone_source,
        )
        events.append((CUSTOMERS_TOPIC, _encoded(CustomerSnapshotV1, snapshot, p.customer_id, p.caused_by)))
        if p.changed is not None:
            updated = {"customer_id": p.customer_id, "version": p.version, "changed_fields": p.changed}
            events.append((CUSTOMER_EVENTS_TOPIC, _encoded(CustomerUpdatedV1, updated, p.customer_id, p.caused_by)))
    return events


class _Writes:
    """Writes sent one at a time on the batch's connection while Python goes on with the next step.

    asyncpg runs one statement per connection at a time; a write is sent as a task and
    awaited only before the next statement, so the database executes it while this process
    builds what comes next (rows, events) instead of the two taking turns.
    """

    def __init__(self) -> None:
        self._pending: asyncio.Future[None] | None = None

    async def send(self, write: Coroutine[Any, Any, None]) -> None:
        await self.flush()
        self._pending = asyncio.ensure_future(write)
        await asyncio.sleep(0)  # let the task put its statement on the wire

    async def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending

    async def abandon(self) -> None:
        """After an error: wait for a write in flight, so the caller can roll the transaction back."""
        pending, self._pending = self._pending, None
        if pending is not None:
            with contextlib.suppress(BaseException):
                await pending


def snapshot_json(
    customer_id: str,
    *,
    version: int,
    golden: Mapping[str, Any],
    company_id: str | None,
    company_name: str | None,
    record_count: int,
    quality_score: float | None,
    email_deliverable: bool,
    now: datetime,
    home_time_zone_source: str | None = None,
) -> dict[str, Any]:
    """A golden record's compacted-topic snapshot (never carries passport data), as the JSON-ready
    fields `CustomerSnapshotV1(...).model_dump_json()` writes, in the model's order (a unit test
    pins this against the model).

    Golden values are the normalised strings of the source records and corrections (a date of
    birth in ISO form), which the model would keep as they are.
    """
    return {
        "customer_id": customer_id,
        "version": version,
        "given_name": golden.get("given_name"),
        "family_name": golden.get("family_name"),
        "display_name": golden.get("display_name") or "(unnamed)",
        "email": golden.get("email"),
        "email_deliverable": email_deliverable,
        "secondary_email": golden.get("secondary_email"),
        "phone": golden.get("phone"),
        "date_of_birth": golden.get("date_of_birth"),
        "nationality": golden.get("nationality"),
        "language": golden.get("language"),
        "time_zone": None,  # where the traveller is now: services with the itinerary know
        "home_time_zone": golden.get("home_time_zone"),
        "home_time_zone_source": home_time_zone_source if golden.get("home_time_zone") else None,
        "company_id": company_id,
        "company_name": company_name,
        "loyalty": [
            {"programme": p, "number": n} for p, _, n in (entry.partition(":") for entry in golden.get("loyalty") or [])
        ],
        "source_record_count": record_count,
        "quality_score": quality_score,
        "updated_at": now,
    }
