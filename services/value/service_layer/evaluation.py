"""Evaluate a customer or a company from its ledger and publish what changed.

Each function runs inside the caller's transaction and writes its events to the outbox in it.
A snapshot is published only when something in it changed (its version goes up by one); a tier
change is also a fact on `value.changes.v1` with its reason, and a row of history.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from services.kit.outbox import enqueue
from services.kit.view import lookup
from services.value.adapters import repository as repo
from services.value.adapters.repository import Subject
from services.value.domain.assessment import Assessment, evaluate
from services.value.domain.churn import ChurnPolicy
from services.value.domain.tiers import TierPolicy, tier_change_reason

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


async def _publish(
    conn: asyncpg.Connection, *, subject: Subject, subject_id: str, build: Any, a: Assessment, policy: TierPolicy,
    config: ValueConfig, now: datetime, cause: str | None, company_id: str | None,
) -> Payload | None:  # fmt: skip
    """Build the snapshot; if it differs from the last published one, save and publish it (and a tier change)."""
    current = await repo.current_value(conn, subject, subject_id)
    old: dict[str, Any] | None = None if current is None else current["snapshot"]
    old_tier = None if current is None else current["tier"]
    tier_since = now if old_tier != a.tier else (old or {}).get("tier_since")
    version = 1 if current is None else current["version"] + 1
    payload: Payload = build(version=version, tier_since=tier_since)
    snapshot = payload.model_dump(mode="json")
    if _same(old, snapshot):
        return None
    await repo.save_value(conn, subject, subject_id, snapshot=snapshot, company_id=company_id)
    topic = CUSTOMERS_TOPIC if subject == "customer" else COMPANIES_TOPIC
    await enqueue(conn, topic=topic, envelope=Envelope.new(payload, producer=PRODUCER, subject_id=subject_id))
    if old_tier != a.tier and not (old_tier is None and a.tier == "regular"):
        reason = tier_change_reason(
            policy=policy, from_tier=old_tier, to_tier=a.tier, trips=a.rfm.frequency, spend=a.rfm.monetary,
            currency=config.reporting_currency, unconverted=a.rfm.unconverted_trips, on=now, cause=cause,
        )  # fmt: skip
        await repo.add_history(
            conn, subject=subject, subject_id=subject_id, from_tier=old_tier, to_tier=a.tier, reason=reason,
            frequency=a.rfm.frequency, monetary=a.rfm.monetary, currency=config.reporting_currency, at=now,
        )  # fmt: skip
        changed = TierChangedV1(
            subject=subject, subject_id=subject_id, from_tier=old_tier, to_tier=a.tier, reason=reason,
            frequency=a.rfm.frequency, monetary=a.rfm.monetary, currency=config.reporting_currency, changed_at=now,
        )  # fmt: skip
        await enqueue(
            conn, topic=CHANGES_TOPIC, envelope=Envelope.new(changed, producer=PRODUCER, subject_id=subject_id)
        )
    return payload


async def _assess(
    conn: asyncpg.Connection, subject: Subject, subject_id: str, policy: TierPolicy, config: ValueConfig, now: datetime
) -> tuple[Assessment, str | None]:
    facts = await repo.facts_of(conn, subject, subject_id)
    rates = await repo.rate_table(conn, config.reporting_currency, {c for f in facts for c in f.amounts})
    a = evaluate(facts, rates=rates, tiers=policy, churn=config.churn, as_of=now)
    latest = max(facts, key=lambda f: f.last_event_at, default=None)
    company_id = None
    if subject == "customer" and latest is not None:
        company_id = max((f for f in facts if f.company_id), key=lambda f: f.last_event_at, default=latest).company_id
    return a, company_id


async def evaluate_customer(
    conn: asyncpg.Connection, customer_id: str, *, config: ValueConfig, now: datetime, cause: str | None = None
) -> Payload | None:
    """Re-evaluate one traveller; returns the snapshot published, if anything changed."""
    await repo.lock(conn, "customer", customer_id)
    policy = config.traveller_tiers
    a, company_id = await _assess(conn, "customer", customer_id, policy, config, now)
    if company_id is None:  # no booking says; the golden record may
        entry = await lookup(conn, "customer", customer_id)
        found = None if entry is None else entry.snapshot.get("company_id")
        company_id = found if isinstance(found, str) else None
    manager = await repo.effective_manager(conn, customer_id, company_id)

    def build(*, version: int, tier_since: Any) -> CustomerValueSnapshotV1:
        return CustomerValueSnapshotV1(
            customer_id=customer_id, version=version, company_id=company_id, tier=a.tier,
            tier_label=policy.label(a.tier), tier_since=tier_since,
            rfm=_rfm(a, currency=config.reporting_currency, window_days=policy.window_days), churn=_churn(a),
            account_manager=manager, updated_at=now, last_event_at=a.last_event_at,
        )  # fmt: skip

    published = await _publish(
        conn, subject="customer", subject_id=customer_id, build=build, a=a, policy=policy, config=config, now=now,
        cause=cause, company_id=company_id,
    )  # fmt: skip
    await repo.set_next_review(conn, "customer", customer_id, a.next_review_at)
    return published


async def evaluate_company(
    conn: asyncpg.Connection, company_id: str, *, config: ValueConfig, now: datetime, cause: str | None = None
) -> Payload | None:
    """Re-evaluate one company from all its travellers' bookings."""
    await repo.lock(conn, "company", company_id)
    policy = config.company_tiers
    a, _ = await _assess(conn, "company", company_id, policy, config, now)
    manager = await repo.manager(conn, "company", company_id)
    name = await repo.company_name(conn, company_id)

    def build(*, version: int, tier_since: Any) -> CompanyValueSnapshotV1:
        return CompanyValueSnapshotV1(
            company_id=company_id, version=version, company_name=name, tier=a.tier, tier_label=policy.label(a.tier),
            tier_since=tier_since, travellers=a.travellers,
            rfm=_rfm(a, currency=config.reporting_currency, window_days=policy.window_days), churn=_churn(a),
            account_manager=manager, updated_at=now, last_event_at=a.last_event_at,
        )  # fmt: skip

    published = await _publish(
        conn, subject="company", subject_id=company_id, build=build, a=a, policy=policy, config=config, now=now,
        cause=cause, company_id=company_id,
    )  # fmt: skip
    await repo.set_next_review(conn, "company", company_id, a.next_review_at)
    return published
