"""The fault harness's own logic, without engines: the stream, the comparison, the judgement of stalls."""

from __future__ import annotations

import json

from bench.faults.faults import SCALES, chunks, faults_of
from bench.faults.observe import Monitor, Sample, quiet
from bench.faults.poison import OVERSIZED_BYTES, PASSPORT, poison_records
from bench.faults.processes import Email
from bench.faults.report import judge, markdown
from bench.faults.scenario import Recovery, ScenarioResult
from bench.faults.state import Clusters, Deliveries, compare, email_counts
from bench.faults.stream import booking_stream

SERVICES = ("profile", "preferences", "feedback", "notifications")


def test_the_stream_is_the_same_every_time_and_keeps_each_bookings_order() -> None:
    first, again = booking_stream(30, seed=5), booking_stream(30, seed=5)
    assert [e.value for e in first] == [e.value for e in again]
    assert len({e.event_id for e in first}) == len(first)
    seen: dict[bytes, list[str]] = {}
    for e in first:
        seen.setdefault(e.key, []).append(e.event.event_type)
    for types in seen.values():
        assert types[0] == "booking.created"
        if "trip.completed" in types:
            assert types.index("trip.started") < types.index("trip.completed")
    kinds = {e.event.event_type for e in first}
    assert {"booking.created", "booking.changed", "booking.cancelled", "trip.completed"} <= kinds
    travellers = {json.loads(e.value)["payload"]["source_traveller_id"].rsplit("-T", 1)[1] for e in first}
    assert len(travellers) == 30
    assert len({e.event.payload.source_system for e in first}) == 3  # travellers come from several desks


def test_chunks_keep_order_and_never_hold_a_key_twice() -> None:
    stream = booking_stream(20, seed=1)
    parts = chunks(stream, size=7)
    assert [e for part in parts for e in part] == stream
    for part in parts:
        assert len(part) <= 7
        assert len({e.key for e in part}) == len(part)


def test_compare_tells_lost_extra_and_changed_entries() -> None:
    baseline = {"bookings": {"a": 1, "b": 2, "c": 3}}
    run = {"bookings": {"a": 1, "c": 4, "d": 5}}
    diff = compare(baseline, run)["bookings"]
    assert (diff.missing, diff.extra, diff.changed) == (["b"], ["d"], ["c"])


def test_clusters_follow_merges_to_the_surviving_customer() -> None:
    clusters = Clusters({"c1": ["x/2", "x/1"], "c3": ["y/9"]}, merged_into={"c2": "c1", "c4": "c2"})
    assert clusters.of("c4") == clusters.of("c1") == "x/1"
    assert clusters.of("c3") == "y/9"
    assert clusters.of("nobody") == "unresolved"


def test_emails_tell_a_resent_message_from_a_cause_sent_twice() -> None:
    deliveries = Deliveries(by_delivery_id={"d1": "confirmation|e1", "d2": "confirmation|e2", "d3": "confirmation|e2"})
    emails = [Email(f"<{d}@itinera.example>", "a@b", "s", 0.0) for d in ("d1", "d1", "d2", "d3")]
    per_key, per_message_id = email_counts(emails, deliveries)
    assert per_message_id["<d1@itinera.example>"] == 2  # the same email twice: the documented window
    assert per_key == {"confirmation|e1": 1, "confirmation|e2": 2}  # one cause, two emails


def test_poison_records_are_what_they_claim_to_be() -> None:
    stream = booking_stream(10, seed=3)
    records = {(p.kind, p.topic): p for p in poison_records(stream)}
    deep = records["deeply-nested-json", "booking.events.v1"]
    assert deep.value == b"[" * 100_000
    big = records["oversized-1.5MB-gzip", "booking.events.v1"]
    assert big.value is not None
    assert len(big.value) > OVERSIZED_BYTES
    assert big.compress
    conflict = records["same-id-other-body", "booking.events.v1"]
    original = next(e for e in stream if e.key == conflict.key)
    assert conflict.value is not None
    assert json.loads(conflict.value)["event_id"] == original.event_id
    assert conflict.value != original.value
    assert b"\\u0000" in (records["nul-in-name", "booking.events.v1"].value or b"")
    assert records["null-value", "booking.events.v1"].value is None
    assert PASSPORT.encode() in (records["schema-invalid", "booking.events.v1"].value or b"")
    for poison in records.values():
        assert poison.consumers(), poison.kind  # somebody must dead-letter it


def test_bounded_scale_kills_every_service_at_once_and_full_scale_one_at_a_time() -> None:
    bounded = faults_of("sigkill", SCALES["bounded"], SERVICES, [])
    assert [f.label for f in bounded] == ["sigkill every service"]
    full = faults_of("sigkill", SCALES["full"], SERVICES, [])
    assert len(full) == 3 * len(SERVICES)


def _monitor() -> Monitor:
    return Monitor(broker=None, dsn="", processes=list, started=0.0, stall_seconds=10, services=SERVICES)  # type: ignore[arg-type]


def _sample(at: float, committed: int, behind: int, ready: bool) -> Sample:
    return Sample(
        at=at,
        ready={"profile-1": ready},
        behind={s: behind if s == "profile" else 0 for s in SERVICES},
        committed={s: committed if s == "profile" else 0 for s in SERVICES},
        outbox=dict.fromkeys(SERVICES, 0),
        jobs={"notifications": (0, 0, 0)},
    )


def test_a_service_with_work_and_no_progress_is_stuck_and_a_ready_answer_then_is_a_lie() -> None:
    monitor = _monitor()
    for at in range(0, 25, 5):  # 20 s without progress, 5 behind
        monitor._judge(_sample(at, committed=100, behind=5, ready=True))
    assert monitor.stuck() == ["profile"]
    assert monitor.watch["profile"].lie_seconds == 10  # from the threshold (10 s) on
    monitor._judge(_sample(25, committed=105, behind=0, ready=True))
    assert monitor.stuck() == []


def test_an_idle_service_is_never_stuck_and_an_honest_503_is_no_lie() -> None:
    idle = _monitor()
    for at in range(0, 60, 5):
        idle._judge(_sample(at, committed=100, behind=0, ready=True))
    assert idle.stuck() == []
    honest = _monitor()
    for at in range(0, 30, 5):
        honest._judge(_sample(at, committed=100, behind=5, ready=False))
    assert honest.stuck() == ["profile"]
    assert honest.watch["profile"].lie_seconds == 0
    assert not quiet(_sample(0, committed=100, behind=5, ready=True))
    assert quiet(_sample(0, committed=100, behind=0, ready=True))
    waiting = _sample(0, committed=100, behind=0, ready=True)
    waiting.jobs["notifications"] = (0, 1, 0)  # a message not sent yet (a lease, a retry)
    assert not quiet(waiting)


def test_the_report_counts_manual_actions_and_shows_stalls() -> None:
    baseline = ScenarioResult(name="baseline", faults=[], stores={"profile.bookings": {"a": 1, "b": 2}})
    baseline.settled_after = 3.0
    run = ScenarioResult(
        name="sigkill",
        faults=["sigkill profile"],
        recoveries=[Recovery(fault="sigkill profile", at=10.0, took=0.1), Recovery("resend", 50.0, 0.0, skipped=True)],
        stuck_at_end=["profile"],
        stores={"profile.bookings": {"a": 1}},
    )
    judged = [judge(baseline, None), judge(run, baseline)]
    assert judged[1]["lost"] == 1
    assert judged[1]["manual_actions"] == 1  # restart the stuck service
    assert judged[1]["stalls"] == ["sigkill profile", "settle"]
    assert judged[1]["not_run"] == ["resend"]
    table = markdown(judged)
    assert "| sigkill | 1 | 0 / 0 |" in table
    assert "not run (time budget)" in table
