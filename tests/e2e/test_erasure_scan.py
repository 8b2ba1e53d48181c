"""Erasure reaches everything: after erasing a traveller, no table and no topic holds their personal values.

Two travellers with distinctive names, emails, phones, dates of birth, passport numbers and survey
comments book trips (the subject from two desks, as two records an agent then merges), get
confirmations, preferences and a survey they answer with a comment. An administrator erases the
subject through the privacy service, naming the id that was merged away; every service reports its
step. Then every row of every table of every schema, and every record of every topic (key, value,
headers), is searched for the subject's values (and the keyed hashes kept of their passport number
and its one-typo variants) — and for the other traveller's, which must still be
there, so that a scan that reads nothing cannot pass.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI

from services.feedback.entrypoints.api import create_feedback_app
from services.kit.contracts.bookings import BookingChangedV1
from services.kit.contracts.customers import ResolvedBookingV1
from services.kit.contracts.envelope import Envelope
from services.kit.contracts.feedback import SurveyInvitedV1
from services.kit.contracts.topics import TOPICS
from services.kit.runtime import ServiceRuntime
from services.privacy.entrypoints.api import create_privacy_app
from services.profile.domain.identifiers import passport_variants
from services.profile.domain.normalize import passport_hash
from services.profile.entrypoints.api import create_profile_app
from services.profile.settings import ProfileSettings
from tests import builders
from tests.e2e.system import every_service
from tests.harness import KAFKA, SmtpServer, TestEnv, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

AGENT = {"X-API-Key": "dev-agent-key"}
SUPERVISOR = {"X-API-Key": "dev-supervisor-key"}
ADMIN = {"X-API-Key": "dev-admin-key"}


@dataclass
class Person:
    given: str
    family: str
    emails: list[str]
    phones: list[str]  # as sent and in E.164
    date_of_birth: str
    passport: str
    comment: str
    customer_ids: list[str]

    def values(self, pepper: str) -> list[str]:
        """Every personal value the scan looks for (case-insensitively)."""
        hashed = passport_hash(self.passport, None, pepper=pepper)
        assert hashed is not None
        variants = sorted(passport_variants(self.passport, pepper=pepper))  # kept for one-typo matching
        assert variants
        return [self.given, self.family, *self.emails, *self.phones, self.date_of_birth, self.passport, hashed,
                *variants, self.comment]  # fmt: skip


def _person(given: str, family: str, date_of_birth: str) -> Person:
    tag = uuid.uuid4().hex[:8]
    local = [f"{random.randint(2_000_000, 9_999_999)}" for _ in range(2)]
    return Person(
        given=given,
        family=family,
        emails=[f"{given}.{family}.{tag}@erasure-test.example".lower(), f"{family}.{tag}@private-mail.example".lower()],
        phones=[f"+49 30 {n}" for n in local] + [f"+4930{n}" for n in local],
        date_of_birth=date_of_birth,
        passport=f"X{random.randint(10_000_000, 99_999_999)}",
        comment=f"The {family} transfer at gate {tag} was a disgrace",
        customer_ids=[],
    )


@dataclass
class Scenario:
    runtimes: dict[str, ServiceRuntime]
    subject: Person
    other: Person
    erasure: dict[str, Any]
    pepper: str


def _client(app: FastAPI, runtime: ServiceRuntime, name: str) -> httpx.AsyncClient:
    app.state.runtime = runtime
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")


async def _customer_id(profile: httpx.AsyncClient, email: str) -> str | None:
    r = await profile.get("/v1/customers", params={"email": email}, headers=AGENT)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    return str(items[0]["customer_id"]) if items else None


async def _answer_survey(env: TestEnv, feedback: httpx.AsyncClient, customer_id: str, comment: str) -> None:
    def invited(events: list[Envelope[Any]]) -> bool:
        return any(isinstance(e.payload, SurveyInvitedV1) and e.subject_id == customer_id for e in events)

    events = await env.events("feedback.surveys.v1", until=invited, timeout=60)
    [invitation] = [e.payload for e in events if isinstance(e.payload, SurveyInvitedV1) and e.subject_id == customer_id]
    token = builders.survey_link(invitation).rsplit("/surveys/", 1)[1]
    r = await feedback.post(f"/v1/surveys/{token}/answers", json={"csat": 1, "nps": 2, "comment": comment})
    assert r.status_code == 201, r.text


async def _book(env: TestEnv, person: Person, *, source_system: str, email: str, phone: str, dob: bool) -> Any:
    traveller = builders.traveller(
        given_name=person.given, family_name=person.family, email=email, phone=phone,
        date_of_birth=person.date_of_birth if dob else None, passport_number=person.passport if dob else None,
    )  # fmt: skip
    created = builders.booking_created(source_system=source_system, traveller=traveller)
    await env.publish("booking.events.v1", created)
    return created


@pytest.fixture(scope="module")
async def scenario(env: TestEnv, smtp: SmtpServer) -> AsyncIterator[Scenario]:
    """Both travellers' journeys, the merge, the erasure of the subject, and late events for erased ids."""
    subject = _person("Quirinella", "Zabrowskaya", "1971-02-28")
    other = _person("Ottoline", "Brackenridge", "1983-11-05")
    pepper = env.settings(ProfileSettings).passport_pepper.get_secret_value()
    async with every_service(env, smtp) as runtimes:
        profile = _client(create_profile_app(runtimes["profile"], workers=False), runtimes["profile"], "profile")
        feedback = _client(create_feedback_app(runtimes["feedback"], workers=False), runtimes["feedback"], "feedback")
        privacy = _client(create_privacy_app(runtimes["privacy"], workers=False), runtimes["privacy"], "privacy")
        async with profile, feedback, privacy:
            # The subject books from a flight desk with everything, and from a hotel desk with another
            # address and phone and no date of birth: two customers, which an agent merges.
            first = await _book(env, subject, source_system="flight-desk", email=subject.emails[0],
                                phone=subject.phones[0], dob=True)  # fmt: skip
            second = await _book(env, subject, source_system="hotel-desk", email=subject.emails[1],
                                 phone=subject.phones[1], dob=False)  # fmt: skip
            theirs = await _book(env, other, source_system="flight-desk", email=other.emails[0],
                                 phone=other.phones[0], dob=True)  # fmt: skip
            their_second = await _book(env, other, source_system="hotel-desk", email=other.emails[1],
                                       phone=other.phones[1], dob=False)  # fmt: skip
            for person in (subject, other):
                for email in person.emails:
                    person.customer_ids.append(await wait_until(lambda e=email: _customer_id(profile, e), timeout=60))
                survivor, absorbed = person.customer_ids
                assert survivor != absorbed, "the two records of one traveller were meant to stay apart until merged"
                r = await profile.post(
                    "/v1/merges", json={"survivor_id": survivor, "absorbed_id": absorbed}, headers=SUPERVISOR
                )
                assert r.status_code == 201, r.text
            # Confirmations are emailed; trips complete; each traveller answers the survey with a comment.
            for person in (subject, other):
                # To the golden address when it is sent: either of the two once the records are merged. It
                # waits for the address in the view with backoff (up to a minute): allow for a busy machine.
                await smtp.wait_for(lambda m, p=person: any(e in str(m["To"]) for e in p.emails), timeout=180)
            # Both bookings of each (one trip, after the merge) complete: the trip is over, its survey goes out.
            for bookings, person in (((first, second), subject), ((theirs, their_second), other)):
                for created in bookings:
                    await env.publish("booking.events.v1", builders.trip_completed(created))
                await _answer_survey(env, feedback, person.customer_ids[0], person.comment)
            admin = await env.admin_connect()
            try:
                await wait_until(
                    lambda: admin.fetchval(
                        "SELECT count(*) = 2 FROM value.customer_value WHERE customer_id = ANY($1::text[])",
                        [subject.customer_ids[0], other.customer_ids[0]],
                    ),
                    timeout=60,
                )
                # The administrator names the id that was merged away: the erasure reaches the survivor too.
                r = await privacy.post(
                    "/v1/erasures",
                    json={"customer_id": subject.customer_ids[1], "reason": "data-subject-request",
                          "note": "ticket DPO-4711"},
                    headers=ADMIN,
                )  # fmt: skip
                assert r.status_code == 202, r.text
                erasure_id = r.json()["erasure_id"]

                async def completed() -> dict[str, Any] | None:
                    got = await privacy.get(f"/v1/erasures/{erasure_id}", headers=ADMIN)
                    assert got.status_code == 200, got.text
                    return got.json() if got.json()["status"] == "completed" else None

                erasure = await wait_until(completed, timeout=90)
                await _late_events(env, admin, subject, first)
            finally:
                await admin.close()
        yield Scenario(runtimes, subject, other, erasure, pepper)


async def _late_events(env: TestEnv, admin: Any, subject: Person, first: Any) -> None:
    """Events for the erased ids that arrive after the erasure: every consumer drops them."""
    changed = Envelope.new(
        BookingChangedV1(**{**first.payload.model_dump(), "change_reason": "late change"}),
        producer="flight-desk", subject_id=first.subject_id,
    )  # fmt: skip
    await env.publish("booking.events.v1", changed)
    resolved = Envelope.new(
        ResolvedBookingV1(
            customer_id=subject.customer_ids[0], kind="changed", source_event_id=str(changed.event_id),
            source_system="flight-desk", booking_id=first.payload.booking_id, segments=first.payload.segments,
            total_price=first.payload.total_price, currency="EUR", occurred_at=datetime.now(UTC),
        ),
        producer="profile", subject_id=subject.customer_ids[0],
    )  # fmt: skip
    await env.publish("profile.bookings.v1", resolved)
    # Every consumer of them has recorded them as handled (so whatever they did is visible now).
    downstream = ("preferences", "feedback", "notifications", "value")
    checks = [("profile", changed.event_id)] + [(s, resolved.event_id) for s in downstream]
    for schema, event_id in checks:
        await wait_until(
            lambda s=schema, e=event_id: admin.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM {s}.processed_events WHERE event_id = $1)", e
            ),
            timeout=60,
        )


def _found(text: str, values: list[str]) -> set[str]:
    lowered = text.lower()
    return {v for v in values if v.lower() in lowered}


async def test_every_service_reports_its_step_and_the_request_is_kept_without_personal_data(
    scenario: Scenario,
) -> None:
    steps = {s["service"]: s for s in scenario.erasure["steps"]}
    assert set(steps) == {"profile", "preferences", "feedback", "notifications", "value", "trips"}
    assert all(s["status"] == "done" for s in steps.values())
    # Profile reached both ids (the merged-away one asked for, and the survivor).
    assert steps["profile"]["customer_ids"] >= 2
    assert scenario.erasure["requested_by"] == "dev-admin"
    assert (scenario.erasure["reason"], scenario.erasure["note"]) == ("data-subject-request", "ticket DPO-4711")


async def test_no_table_of_any_schema_holds_a_personal_value_of_the_erased_traveller(
    env: TestEnv, scenario: Scenario
) -> None:
    admin = await env.admin_connect()
    try:
        tables = await admin.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        )
        subject, other = scenario.subject.values(scenario.pepper), scenario.other.values(scenario.pepper)
        left: dict[str, set[str]] = {}
        kept: set[str] = set()
        for t in tables:
            rows = await admin.fetch(f'SELECT t::text AS row FROM "{t["table_schema"]}"."{t["table_name"]}" t')
            for r in rows:
                if hits := _found(r["row"], subject):
                    left.setdefault(f"{t['table_schema']}.{t['table_name']}", set()).update(hits)
                kept |= _found(r["row"], other)
    finally:
        await admin.close()
    assert {t["table_schema"] for t in tables} >= {"profile", "preferences", "feedback", "notifications", "value",
                                                   "privacy", "trips"}  # fmt: skip
    assert left == {}, f"tables still holding the subject's values: {sorted(left)}"
    # The scan can see: the other traveller's values are all still there (but the passport number, never stored).
    assert kept == set(other) - {scenario.other.passport}


async def _every_record(env: TestEnv) -> list[tuple[str, bytes, bytes]]:
    """Every record of every topic of this environment: (topic, the bytes the broker holds — key, value
    and headers —, the same record as a consumer holding the keys reads it)."""
    by_name = {spec.physical(env.topic_prefix): spec.name for spec in TOPICS}
    consumer = AIOKafkaConsumer(
        *by_name, bootstrap_servers=KAFKA, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    fetched: dict[str, list[Any]] = {}
    try:
        # Without a group, the consumer takes every partition of the topics once it has their metadata.
        await wait_until(lambda: len({tp.topic for tp in consumer.assignment()}) == len(by_name), timeout=30)
        partitions = sorted(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                fetched.setdefault(tp.topic, []).extend(messages)
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    out: list[tuple[str, bytes, bytes]] = []
    for physical, messages in fetched.items():
        raw = [(m.key, m.value, {k: v or b"" for k, v in (m.headers or ())}) for m in messages]
        opened = await env.open_records(by_name[physical], list(raw))
        for (key, value, headers), (_, clear, clear_headers) in zip(raw, opened, strict=True):
            out.append((physical, _bytes(key, value, headers), _bytes(key, clear, clear_headers)))
    return out


def _bytes(key: bytes | None, value: bytes | None, headers: dict[str, bytes]) -> bytes:
    return (key or b"") + b"\n" + (value or b"") + b"\n" + b"".join(k.encode() + b"=" + v for k, v in headers.items())


async def _landing_topic_trimmed(env: TestEnv) -> bool:
    """The trim of the landing topic that follows an erasure has run (profile's job)."""
    admin = await env.admin_connect()
    try:
        return bool(await admin.fetchval("SELECT count(*) = 0 FROM profile.shred_requests WHERE trimmed_at IS NULL"))
    finally:
        await admin.close()


async def test_no_record_of_any_topic_holds_a_personal_value_of_the_erased_traveller(
    env: TestEnv, scenario: Scenario
) -> None:
    subject, other = scenario.subject.values(scenario.pepper), scenario.other.values(scenario.pepper)
    # Those of the other traveller's values that travel at all (the passport number never does).
    travelling = [v for v in other if v != scenario.other.passport]
    await wait_until(lambda: _landing_topic_trimmed(env), timeout=60)
    left: dict[str, set[str]] = {}
    kept: set[str] = set()
    for topic, record, opened in await _every_record(env):
        # Neither as the broker holds it nor as a consumer holding every key still kept reads it.
        for text in (record.decode("utf-8", "replace"), opened.decode("utf-8", "replace")):
            if hits := _found(text, subject):
                left.setdefault(topic, set()).update(hits)
        kept |= _found(opened.decode("utf-8", "replace"), travelling)
    assert kept >= {scenario.other.family, scenario.other.emails[0], scenario.other.comment}
    assert left == {}, f"topics still holding the subject's values: {sorted(left)}"
