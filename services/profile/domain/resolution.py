"""Identity resolution's decisions, in memory: which customer each source record belongs to.

The plan phase of the pipeline (`service_layer/planning.py`) reads what is stored and hands it
here; nothing here reads or writes. A record already linked keeps its customer; a new one is
scored against its blocking candidates (stored ones and the batch's earlier records) and is
linked, sent to review with a new customer, or made a new customer.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.kit.contracts.customers import BookingKind
from services.kit.contracts.envelope import Envelope
from services.profile.domain import matching
from services.profile.domain.companies import company_key
from services.profile.domain.identity_fields import address_tokens, national_ids_differ, passports_differ
from services.profile.domain.model import SourceRecord
from services.profile.domain.model_params import ParametersCache
from services.profile.domain.restating import restate_all

SourceKey = tuple[str, str]


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
    frequency_min_records: int = 1000  # value frequencies count once this many records are stored
    stale_after_days: int = 730
    parameters: ParametersCache = field(default_factory=ParametersCache, compare=False)  # the active model version


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
class Decision:
    customer_id: str
    rule: str
    created: bool
    score: float | None = None
    evidence: dict[str, Any] | None = None
    matched_to: SourceKey | None = None
    reviews: list[tuple[str, matching.MatchResult]] = field(default_factory=list)
    # Other customers the record also matches above the merge threshold: one traveller, joined
    # into `customer_id` (merge reason "automatic") unless their identifiers conflict.
    joins: list[tuple[str, matching.MatchResult]] = field(default_factory=list)


def frequency_tokens(f: matching.MatchFeatures) -> list[str]:
    """The name and address parts a record adds to the frequency table (each once)."""
    out = [f"f:{f.family}"] if f.family else []
    if f.given:
        out.append(f"g:{f.given}")
    if f.given_first and f.given_first != f.given:
        out.append(f"g:{f.given_first}")
    for address in (f.home, f.business):
        if address:
            out.extend(t for t in address_tokens(address) if t and t not in out)
    return out


def new_customer_id() -> str:
    return f"cus_{uuid.uuid4().hex}"


def restated(items: Sequence[Incoming], statements: Mapping[SourceKey, SourceRecord]) -> list[Incoming]:
    """The items with each record restated over its stored record and the batch's earlier statements of it."""
    records = restate_all([it.record for it in items], statements)
    return [
        it if record is it.record else dataclasses.replace(it, record=record, features=None)
        for it, record in zip(items, records, strict=True)
    ]


def candidate_keys(
    items: Sequence[Incoming], keys: Sequence[Sequence[str]], links: Mapping[SourceKey, str]
) -> list[str]:
    """The blocking keys whose stored records are candidates: those of the records not linked yet."""
    return sorted({k for it, ks in zip(items, keys, strict=True) if it.record.key not in links for k in ks})


def new_frequency_tokens(
    items: Sequence[Incoming], features: Sequence[matching.MatchFeatures], links: Mapping[SourceKey, str]
) -> list[str]:
    """The name and address parts of the records stored for the first time (they join the value frequencies):
    once per record, with the features of its last occurrence in the batch."""
    fresh = {it.record.key: f for it, f in zip(items, features, strict=True) if it.record.key not in links}
    return [t for f in fresh.values() for t in frequency_tokens(f)]


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
    earlier: Sequence[Decision] | None = None,
    changed: Collection[str] = (),
    again: Collection[int] = (),
) -> list[Decision]:
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
    earlier: Sequence[Decision] | None = None,
    changed: Collection[str] = (),
    again: Collection[int] = (),
) -> Iterator[Decision]:
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
            decision = Decision(linked, "source-link", created=False)
        elif earlier is not None and i not in again and dirty.isdisjoint(ks):
            decision = earlier[i]
        else:
            decision = decide_record(key, feats, ks, stored, batch_index, config, freq)
        if earlier is not None and decision.customer_id != earlier[i].customer_id:
            dirty.update(ks)
        batch_links[key] = decision.customer_id
        for k in ks:
            batch_index.setdefault(k, []).append((key, decision.customer_id, feats))
        yield decision


def decide_record(
    key: SourceKey,
    feats: matching.MatchFeatures,
    keys: Sequence[str],
    stored: Mapping[str, list[tuple[SourceKey, str, matching.MatchFeatures]]],
    batch_index: Mapping[str, list[tuple[SourceKey, str, matching.MatchFeatures]]],
    config: ProfileConfig,
    freq: matching.Frequencies | None = None,
) -> Decision:
    """Score a new record against its blocking candidates and decide: link, review or new customer.

    Candidates are scored without evidence (`quick_score`); the evidence is built only for
    the pairs kept (the chosen match or review and the reviews). A candidate that no strong
    identifier decides and whose score could not reach the review threshold nor the best
    score so far is left unscored: it could not change the decision, the reviews or the score kept.
    """
    params = config.parameters.cached()
    upper, lower = config.parameters.thresholds(upper=config.upper_threshold, lower=config.lower_threshold)
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
            quick = matching.quick_score(feats, cand, upper=upper, lower=lower, freq=freq, floor=floor, params=params)
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
        return matching.score_pair(feats, cand, upper=upper, lower=lower, freq=freq, params=params)

    if ranked and ranked[0][1][0][0] == _MATCH:
        customer_id, (_, cand_key, cand) = ranked[0]
        chosen = result(cand)
        # Other customers this record also matches are the same traveller: joined, unless the two
        # customers' records conflict on an identifier (then an agent decides). Those it only
        # nearly matches are probably duplicates of the chosen one: reviews.
        joins: list[tuple[str, matching.MatchResult]] = []
        reviews: list[tuple[str, matching.MatchResult]] = []
        for c, (r, _, f) in _non_distinct(ranked[1:]):
            if r[0] == _MATCH and not identifiers_conflict(cand, f) and not identifiers_conflict(feats, f):
                joins.append((c, result(f)))
            elif len(reviews) < 3:
                reviews.append((c, result(f)))
        return Decision(
            customer_id,
            chosen.rule,
            created=False,
            score=chosen.score,
            evidence=chosen.to_json(),
            matched_to=cand_key,
            reviews=reviews,
            joins=joins,
        )
    decision = Decision(new_customer_id(), "new", created=True)
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


def identifiers_conflict(a: matching.MatchFeatures, b: matching.MatchFeatures) -> bool:
    """Whether two records name different travellers by an identifier: two passports or two
    national ids (more than one edit apart), two birth dates, or two numbers in one loyalty
    programme. Such records are never joined through a third one that matches both (a father and
    his son both match a record without a birth date)."""
    if passports_differ(a, b):
        return True
    if national_ids_differ(a, b):
        return True
    if a.dob and b.dob and a.dob != b.dob:
        return True
    programmes_a = {lo.partition(":")[0]: lo for lo in a.loyalty}
    return any(programmes_a.get(lo.partition(":")[0], lo) != lo for lo in b.loyalty)


_MATCH, _REVIEW, _DISTINCT = (
    matching.quick_rank("match", 0.0)[0],
    matching.quick_rank("review", 0.0)[0],
    matching.quick_rank("distinct", 0.0)[0],
)


def _non_distinct(
    ranked: Sequence[tuple[str, tuple[tuple[int, float], SourceKey, matching.MatchFeatures]]],
) -> Iterator[tuple[str, tuple[tuple[int, float], SourceKey, matching.MatchFeatures]]]:
    return (entry for entry in ranked if entry[1][0][0] != _DISTINCT)
