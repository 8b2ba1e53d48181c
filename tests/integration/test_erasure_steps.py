"""Each service's step of an erasure, on the real broker and database.

For preferences, feedback, notifications, value and trips: a traveller known to the service (their
snapshot in its customer view, a booking) is erased by profile's `CustomerErasedV1`. The service
removes its rows and the kit's (view, audit details), tombstones its compacted topic, logs the
erasure without the traveller and reports the step; the same request again erases nothing twice
but is reported again; a booking for the erased id that arrives afterwards leaves nothing behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from services.feedback.bootstrap import build_definition as feedback_definition
from services.feedback.settings import FeedbackSettings
from services.kit.contracts.customers import CustomerSnapshotV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.privacy import CustomerErasedV1, ErasureStepDoneV1
from services.kit.db import connection
from services.kit.erasure import subject_digest
from services.kit.runtime import ServiceDefinition, ServiceRuntime
from services.notifications.bootstrap import build_definition as notifications_definition
from services.notifications.settings import NotificationsSettings
from services.preferences.bootstrap import build_definition as preferences_definition
from services.preferences.settings import PreferencesSettings
from services.trips.bootstrap import build_definition as trips_definition
from services.trips.settings import TripsSettings
from services.value.bootstrap import build_definition as value_definition
from services.value.settings import ValueSettings
from tests.harness import SmtpServer, TestEnv, wait_until
from tests.integration.test_preferences_service import flight, new_customer, resolved

pytestmark = pytest.mark.integration

NAME = "Wilhelmina Zorkendorfer"


@dataclass(frozen=True)
class Case:
    service: str
    definition: Callable[[TestEnv, SmtpServer], ServiceDefinition]
    held: str  # what shows the service holds the traveller: SQL with $1 the customer id
    tables: tuple[tuple[str, str], ...]  # (table, customer id column) that must hold nothing of them
    compacted: str | None = None
    view: bool = True  # keeps a copy of the customer view (where names are found to redact audit details)
    # Keys of the compacted topic, when not the customer ids (SQL, $1 the ids), and (table, column) that
    # must hold none of those keys after the erasure.
    keys: str | None = None
    by_key: tuple[tuple[str, str], ...] = ()


CASES = [
    Case(
        "preferences",
        lambda env, smtp: preferences_definition(env.settings(PreferencesSettings)),
        "SELECT EXISTS (SELECT 1 FROM customers WHERE customer_id = $1 AND version > 0)",
        (("customers", "customer_id"), ("confirmation_requests", "customer_id")),
        compacted="preferences.snapshots.v1",
        view=False,
    ),
    Case(
        "feedback",
        lambda env, smtp: feedback_definition(env.settings(FeedbackSettings)),
        "SELECT EXISTS (SELECT 1 FROM trips WHERE customer_id = $1)",
        (("trips", "customer_id"), ("surveys", "customer_id"), ("cases", "customer_id")),
    ),
    Case(
        "notifications",
        lambda env, smtp: notifications_definition(
            env.settings(NotificationsSettings, smtp_port=smtp.port, dispatch_poll_seconds=0.2, digest_window_seconds=0)
        ),
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE customer_id = $1)",
        (
            ("deliveries", "customer_id"),
            ("deliveries", "resolved_customer_id"),
            ("bookings", "customer_id"),
            ("consents", "customer_id"),
            ("quiet_hours", "customer_id"),
        ),
    ),
    Case(
        "value",
        lambda env, smtp: value_definition(env.settings(ValueSettings)),
        "SELECT EXISTS (SELECT 1 FROM customer_value WHERE customer_id = $1)",
        (("bookings", "customer_id"), ("customer_value", "customer_id"), ("tier_history", "subject_id")),
        compacted="value.customers.v1",
    ),
    Case(
        "trips",
        lambda env, smtp: trips_definition(env.settings(TripsSettings)),
        "SELECT EXISTS (SELECT 1 FROM journey_runs WHERE customer_id = $1)",
        (("trips", "customer_id"), ("bookings", "customer_id"), ("journey_runs", "customer_id")),
        compacted="trips.trips.v1",
        keys="SELECT trip_id FROM trips WHERE customer_id = ANY($1::text[])",
        by_key=(("trips", "trip_id"), ("timeline", "trip_id"), ("journey_runs", "trip_id")),
    ),
]


def _snapshot(customer_id: str) -> Envelope[CustomerSnapshotV1]:
    snap = CustomerSnapshotV1(
        customer_id=customer_id, version=1, given_name="Wilhelmina", family_name="Zorkendorfer", display_name=NAME,
        email=f"wilhelmina.{customer_id}@example.com", language="en", updated_at=datetime.now(UTC),
    )  # fmt: skip
    return Envelope.new(snap, producer="profile", subject_id=customer_id)


def _erased(erasure_id: str, *ids: str) -> Envelope[CustomerErasedV1]:
    payload = CustomerErasedV1(
        erasure_id=erasure_id, requested_id=ids[0], customer_ids=ids, record_keys=("acme-gds:BK-1",),
        reason="data-subject-request", requested_by="dev-admin", erased_at=datetime.now(UTC),
    )  # fmt: skip
    return Envelope.new(payload, producer="profile", subject_id=erasure_id)


async def _steps(env: TestEnv, service: str, erasure_id: str, count: int) -> list[ErasureStepDoneV1]:
    def mine(events: list[Envelope[Any]]) -> list[ErasureStepDoneV1]:
        return [e.payload for e in events if isinstance(e.payload, ErasureStepDoneV1) and e.subject_id == erasure_id]

    return mine(await env.events(f"{service}.erasures.v1", until=lambda evs: len(mine(evs)) >= count, timeout=60))


async def _processed(runtime: ServiceRuntime, event_id: uuid.UUID) -> bool:
    async with connection(runtime.pool) as conn:
        return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM processed_events WHERE event_id = $1)", event_id))


@pytest.mark.parametrize("case", CASES, ids=[c.service for c in CASES])
async def test_a_service_erases_its_rows_reports_once_and_drops_late_events(
    env: TestEnv, smtp: SmtpServer, case: Case
) -> None:
    customer_id, absorbed = new_customer(), new_customer()
    async with env.running(case.definition(env, smtp)) as runtime:
        for cid in (customer_id, absorbed):
            await env.publish("profile.customers.v1", _snapshot(cid))
            await env.publish("profile.bookings.v1", resolved(cid, flight(seat="2A"), flight(seat="3A", days=20)))
        await wait_until(lambda: _holds(runtime, case.held, customer_id), timeout=60)
        await wait_until(lambda: _holds(runtime, case.held, absorbed), timeout=60)
        async with connection(runtime.pool) as conn:
            # An agent's read of the traveller and a search by name, as the audit keeps them.
            await conn.execute(
                "INSERT INTO audit_log (principal, role, action, subject_id, detail) VALUES"
                " ('dev-agent', 'agent', 'customer.read', $1, '{\"fields\": [\"email\"]}'),"
                " ('dev-agent', 'agent', 'customers.search', NULL, $2)",
                customer_id, {"q": NAME},
            )  # fmt: skip

        keys = [customer_id.encode(), absorbed.encode()]
        if case.keys is not None:
            async with connection(runtime.pool) as conn:
                keys = [r[0].encode() for r in await conn.fetch(case.keys, [customer_id, absorbed])]
            assert keys

        erasure_id = f"era_{uuid.uuid4().hex}"
        await env.publish("profile.erasures.v1", _erased(erasure_id, customer_id, absorbed))
        [done] = await _steps(env, case.service, erasure_id, 1)
        assert (done.service, done.customer_ids) == (case.service, 2)
        assert sum(done.rows.values()) > 0

        async with connection(runtime.pool) as conn:
            for table, column in case.tables:
                left = await conn.fetchval(
                    f"SELECT count(*) FROM {table} WHERE {column} = ANY($1::text[])", [customer_id, absorbed]
                )
                assert left == 0, f"{case.service}.{table} still holds the traveller"
            for table, column in case.by_key:
                left = await conn.fetchval(
                    f"SELECT count(*) FROM {table} WHERE {column} = ANY($1::text[])", [k.decode() for k in keys]
                )
                assert left == 0, f"{case.service}.{table} still holds the traveller's {column}"
            assert await conn.fetchval(
                "SELECT count(*) FROM customer_view WHERE customer_id = ANY($1::text[])", [customer_id, absorbed]
            ) == 0  # fmt: skip
            audit = await conn.fetch("SELECT action, subject_id, detail FROM audit_log WHERE action LIKE 'customer%'")
            assert case.view is False or all(NAME not in str(r["detail"]) for r in audit)
            assert [r for r in audit if r["action"] == "customer.read" and r["subject_id"] == customer_id]
            log = await conn.fetchrow("SELECT * FROM erasure_log WHERE erasure_id = $1", erasure_id)
            assert log is not None
            assert log["subjects"] == 2
            assert customer_id not in str(dict(log))
            assert NAME not in str(dict(log))
            key = runtime.settings.erasure_key.get_secret_value().encode()
            digests = {subject_digest(key, c) for c in (customer_id, absorbed)}
            assert await conn.fetchval(
                "SELECT count(*) FROM erased_subjects WHERE digest = ANY($1::text[])", sorted(digests)
            ) == 2  # fmt: skip
            erase_audits = await conn.fetchval(
                "SELECT count(*) FROM audit_log WHERE action = 'customer.erase' AND subject_id = $1", erasure_id
            )
            assert erase_audits == 1

        if case.compacted is not None:
            tombstones = await env.read_topic(
                case.compacted,
                until=lambda rs: {k for k, v, _ in rs if v is None} >= set(keys),
            )
            assert tombstones

        # The same request again (a redelivery with another event id): reported again, nothing erased twice.
        await env.publish("profile.erasures.v1", _erased(erasure_id, customer_id, absorbed))
        again = await _steps(env, case.service, erasure_id, 2)
        assert again[1].rows == done.rows
        # A booking for the erased id that was still on its way: dropped, nothing comes back.
        late = resolved(customer_id, flight(seat="4A", days=30))
        await env.publish("profile.bookings.v1", late)
        await wait_until(lambda: _processed(runtime, late.event_id), timeout=60)
        async with connection(runtime.pool) as conn:
            assert not await conn.fetchval(case.held, customer_id)
            assert await conn.fetchval(
                "SELECT count(*) FROM audit_log WHERE action = 'customer.erase' AND subject_id = $1", erasure_id
            ) == 1  # fmt: skip


async def _holds(runtime: ServiceRuntime, sql: str, customer_id: str) -> bool:
    async with connection(runtime.pool) as conn:
        return bool(await conn.fetchval(sql, customer_id))
