"""Evaluate customers or companies from their ledgers and publish what changed.

Each function runs inside the caller's transaction and writes its events to the outbox in it.
Evaluations are done a set at a time (a consumer's batch, a review batch): the subjects are
locked in key order, and each step reads or writes for the whole set in one statement.
A snapshot is published only when something in it changed (its version goes up by one); a tier
change is also a fact on `value.changes.v1` with its reason, and a row of history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.kit.contracts.envelope import Envelope, Payload
from services.kit.contracts.value import (
    ChurnV1,
    CompanyValueSnapshotV1,
    CustomerValueSnapshotV1,
    RfmV1,
    TierChangedV1,
)
from services.kit.outbox import enqueue_many
from services.value.adapters import batches
from services.value.adapters.batches import Current, ValueRow
from services.value.adapters.repository import Subject
from services.value.domain.assessment import Assessment, evaluate
from services.value.domain.bookings import BookingFact
from services.value.domain.churn import ChurnPolicy
from services.value.domain.tiers import Tier, TierPolicy, tier_change_reason
from services.value.service_layer.rates import RateCache

PRODUCER = "value"
CUSTOMERS_TOPIC = "value.customers.v1"
COMPANIES_TOPIC = "value.companies.v1"
CHANGES_TOPIC = "value.changes.v1"
# Fields that change on every publication and say nothing new by themselves.
_VOLATILE = ("version", "updated_at")


@dataclass(frozen=True)
class ValueConfig:
    reporting_currency: str
    traveller_tiers: TierPolicy
    company_tiers: TierPolicy
    churn: ChurnPolicy
    company_delay: timedelta  # a company is evaluated this long after a traveller's booking (coalescing)
    # ... and a larger company proportionally longer: the delay per this many bookings in its ledger
    company_delay_bookings: int = 100
    rates: RateCache = field(default_factory=RateCache, compare=False)


def _rfm(a: Assessment, *, currency: str, window_days: int) -> RfmV1:
    r = a.rfm
    return RfmV1(
        recency_days=r.recency_days, frequency=r.frequency, monetary=r.monetary, currency=currency,
        window_days=window_days, r_score=r.r_score, f_score=r.f_score, m_score=r.m_score,
        unconverted_trips=r.unconverted_trips, unconverted_currencies=r.unconverted_currencies,
    )  # fmt: skip


def _churn(a: Assessment) -> ChurnV1:
    c = a.churn
    return ChurnV1(
        risk=c.risk, stage=c.stage, reason=c.reason, usual_interval_days=c.usual_interval_days,
        days_since_last_trip=c.days_since_last_trip, next_trip_at=c.next_trip_at,
    )  # fmt: skip


def _same(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    if old is None:
        return False
    return {k: v for k, v in old.items() if k not in _VOLATILE} == {k: v for k, v in new.items() if k not in _VOLATILE}


@dataclass
class _Changes:
    """What a set of evaluations writes, one statement per table."""

    subject: Subject
    values: list[ValueRow] = field(default_factory=list)
    events: list[tuple[str, Envelope[Any]]] = field(default_factory=list)
    history: list[tuple[Any, ...]] = field(default_factory=list)
    reviews: dict[str, datetime | None] = field(default_factory=dict)
    published: dict[str, Payload] = field(default_factory=dict)

    async def write(self, conn: asyncpg.Connection) -> None:
        await batches.save_values(conn, self.subject, self.values)
        await batches.add_history(conn, self.history)
        await enqueue_many(conn, self.events)
        await batches.set_next_reviews(conn, self.subject, self.reviews)


def _tier_change(
    changes: _Changes, *, subject_id: str, from_tier: Tier | None, a: Assessment, policy: TierPolicy,
    config: ValueConfig, now: datetime, cause: str | None,
) -> None:  # fmt: skip
    """A tier change: a row of history and a fact on the changes topic, with its reason."""
    if from_tier == a.tier or (from_tier is None and a.tier == "regular"):
        return
    reason = tier_change_reason(
        policy=policy, from_tier=from_tier, to_tier=a.tier, trips=a.rfm.frequency, spend=a.rfm.monetary,
        currency=config.reporting_currency, unconverted=a.rfm.unconverted_trips, on=now, cause=cause,
    )  # fmt: skip
    currency = config.reporting_currency
    changes.history.append(
        (changes.subject, subject_id, from_tier, a.tier, reason, a.rfm.frequency, a.rfm.monetary, currency, now)
    )
    changed = TierChangedV1(
        subject=changes.subject, subject_id=subject_id, from_tier=from_tier, to_tier=a.tier, reason=reason,
        frequency=a.rfm.frequency, monetary=a.rfm.monetary, currency=currency, changed_at=now,
    )  # fmt: skip
    changes.events.append((CHANGES_TOPIC, Envelope.new(changed, producer=PRODUCER, subject_id=subject_id)))


def _publish(
    changes: _Changes, *, subject_id: str, current: Current | None, build: Any, a: Assessment, policy: TierPolicy,
    config: ValueConfig, now: datetime, cause: str | None, company_id: str | None, bookings: int = 0,
    path: Sequence[tuple[Assessment, str | None]] = (),
) -> None:  # fmt: skip
    """Build the snapshot; if it differs from the last published one, save and publish it (and a tier change).

    `path`: the assessments after each earlier booking of the batch that touched the subject, with their
    causes; tiers it passed through are recorded as changes, as if each booking had been handled alone."""
    old = None if current is None else current.snapshot
    tier = None if current is None else current.tier
    changed_tier = False
    for step, step_cause in path:
        _tier_change(changes, subject_id=subject_id, from_tier=tier, a=step, policy=policy, config=config, now=now,
                     cause=step_cause)  # fmt: skip
        changed_tier = changed_tier or step.tier != tier
        tier = step.tier
    tier_since = now if changed_tier or tier != a.tier else (old or {}).get("tier_since")
    version = 1 if current is None or old is None else current.version + 1
    payload: Payload = build(version=version, tier_since=tier_since)
    snapshot = payload.model_dump(mode="json")
    changes.reviews[subject_id] = a.next_review_at
    if _same(old, snapshot):
        return
    changes.values.append(ValueRow(subject_id, snapshot, company_id, bookings))
    topic = CUSTOMERS_TOPIC if changes.subject == "customer" else COMPANIES_TOPIC
    changes.events.append((topic, Envelope.new(payload, producer=PRODUCER, subject_id=subject_id)))
    changes.published[subject_id] = payload
    _tier_change(changes, subject_id=subject_id, from_tier=tier, a=a, policy=policy, config=config, now=now,
                 cause=cause)  # fmt: skip


@dataclass(frozen=True)
class LedgerStep:
    """One booking event of a batch that changed the ledger, in stream order: the booking's fact before and after."""

    before: BookingFact | None
    after: BookingFact
    cause: str


def _path(
    customer_id: str, final: list[BookingFact], mine: Sequence[LedgerStep], *, policy: TierPolicy,
    config: ValueConfig, now: datetime,
) -> list[tuple[Assessment, str | None]]:  # fmt: skip
    """The traveller's assessments after each of their batch's steps (`mine`) but the last (the final ledger's)."""
    if len(mine) < 2:
        return []  # the usual case: one booking of theirs in the batch
    first: dict[tuple[str, str], BookingFact | None] = {}
    for s in mine:
        first.setdefault(s.after.key, s.before)
    ledger = {f.key: f for f in final if f.key not in first}
    ledger.update({k: f for k, f in first.items() if f is not None and f.customer_id == customer_id})
    out: list[tuple[Assessment, str | None]] = []
    for s in mine[:-1]:
        ours = s.after.customer_id == customer_id
        if ours:
            ledger[s.after.key] = s.after
        else:
            ledger.pop(s.after.key, None)
        a = evaluate(ledger.values(), rates=config.rates.cached(), tiers=policy, churn=config.churn, as_of=now)
        out.append((a, s.cause if ours else None))
    return out


def _latest(facts: Iterable[BookingFact]) -> BookingFact | None:
    return max(facts, key=lambda f: f.last_event_at, default=None)


def _booked_company(facts: list[BookingFact]) -> str | None:
    """The company of the traveller's newest booking that names one (else of their newest booking)."""
    latest = _latest(facts)
    if latest is None:
        return None
    return max((f for f in facts if f.company_id), key=lambda f: f.last_event_at, default=latest).company_id


async def evaluate_customers(
    conn: asyncpg.Connection, customer_ids: Iterable[str], *, config: ValueConfig, now: datetime,
    causes: Mapping[str, str] | None = None, steps: Sequence[LedgerStep] = (),
) -> dict[str, Payload]:  # fmt: skip
    """Re-evaluate travellers, each once; returns the snapshots published (those that changed).

    `steps`: a bookings batch's changes to the ledger, so the tiers a traveller passed through within the
    batch are recorded as when the bookings are handled one by one."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    await batches.lock(conn, "customer", ids)
    policy = config.traveller_tiers
    ledgers = await batches.facts_of(conn, "customer", ids)
    rates = await config.rates.table(conn, config.reporting_currency)
    companies = {cid: _booked_company(ledgers.get(cid, [])) for cid in ids}
    unbooked = [cid for cid, company in companies.items() if company is None]
    if unbooked:  # no booking says; the golden record may
        for cid, (_, record) in (await batches.view_customers(conn, unbooked)).items():
            found = record.get("company_id")
            companies[cid] = found if isinstance(found, str) else None
    current = await batches.current_customers(conn, companies)
    by_customer: dict[str, list[LedgerStep]] = {}
    for step in steps:
        for touched in {step.after.customer_id, step.before.customer_id if step.before else step.after.customer_id}:
            by_customer.setdefault(touched, []).append(step)
    changes = _Changes("customer")
    for cid in ids:
        a = evaluate(ledgers.get(cid, []), rates=rates, tiers=policy, churn=config.churn, as_of=now)
        company_id, manager = companies[cid], current[cid].manager

        def build(*, version: int, tier_since: Any, cid: str = cid, a: Assessment = a,
                  company_id: str | None = company_id, manager: Any = manager) -> CustomerValueSnapshotV1:  # fmt: skip
            return CustomerValueSnapshotV1(
                customer_id=cid, version=version, company_id=company_id, tier=a.tier,
                tier_label=policy.label(a.tier), tier_since=tier_since,
                rfm=_rfm(a, currency=config.reporting_currency, window_days=policy.window_days), churn=_churn(a),
                account_manager=manager, updated_at=now, last_event_at=a.last_event_at,
            )  # fmt: skip

        _publish(
            changes, subject_id=cid, current=current[cid], build=build, a=a, policy=policy, config=config, now=now,
            cause=(causes or {}).get(cid), company_id=company_id,
            path=_path(cid, ledgers.get(cid, []), by_customer.get(cid, ()), policy=policy, config=config, now=now),
        )  # fmt: skip
    await changes.write(conn)
    return changes.published


async def evaluate_companies(
    conn: asyncpg.Connection, company_ids: Iterable[str], *, config: ValueConfig, now: datetime
) -> dict[str, Payload]:
    """Re-evaluate companies from all their travellers' bookings, each once."""
    ids = sorted(set(company_ids))
    if not ids:
        return {}
    await batches.lock(conn, "company", ids)
    policy = config.company_tiers
    ledgers = await batches.facts_of(conn, "company", ids)
    rates = await config.rates.table(conn, config.reporting_currency)
    current = await batches.current_companies(conn, ids)
    newest = {c: latest.customer_id for c in ids if (latest := _latest(ledgers.get(c, []))) is not None}
    names = await batches.company_names(conn, newest) if newest else {}
    changes = _Changes("company")
    for company_id in ids:
        facts = ledgers.get(company_id, [])
        a = evaluate(facts, rates=rates, tiers=policy, churn=config.churn, as_of=now)
        manager, name = current[company_id].manager, names.get(company_id)

        def build(*, version: int, tier_since: Any, company_id: str = company_id, a: Assessment = a,
                  manager: Any = manager, name: str | None = name) -> CompanyValueSnapshotV1:  # fmt: skip
            return CompanyValueSnapshotV1(
                company_id=company_id, version=version, company_name=name, tier=a.tier,
                tier_label=policy.label(a.tier), tier_since=tier_since, travellers=a.travellers,
                rfm=_rfm(a, currency=config.reporting_currency, window_days=policy.window_days), churn=_churn(a),
                account_manager=manager, updated_at=now, last_event_at=a.last_event_at,
            )  # fmt: skip

        _publish(
            changes, subject_id=company_id, current=current[company_id], build=build, a=a, policy=policy,
            config=config, now=now, cause=None, company_id=company_id, bookings=len(facts),
        )  # fmt: skip
    await changes.write(conn)
    return changes.published


async def evaluate_customer(
    conn: asyncpg.Connection, customer_id: str, *, config: ValueConfig, now: datetime, cause: str | None = None
) -> Payload | None:
    """Re-evaluate one traveller; returns the snapshot published, if anything changed."""
    published = await evaluate_customers(
        conn, [customer_id], config=config, now=now, causes={customer_id: cause} if cause else None
    )
    return published.get(customer_id)


async def evaluate_company(
    conn: asyncpg.Connection, company_id: str, *, config: ValueConfig, now: datetime
) -> Payload | None:
    """Re-evaluate one company from all its travellers' bookings."""
    return (await evaluate_companies(conn, [company_id], config=config, now=now)).get(company_id)
