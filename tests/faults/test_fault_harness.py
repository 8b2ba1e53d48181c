"""The bounded fault-injection run: a few hundred booking events through all four services while
each service is SIGKILLed, the broker and PostgreSQL restart, one of two processes of each
service dies, poison records arrive and the whole stream is sent again, compared with the same
stream undisturbed (`python -m bench.faults run --scale bounded`; README, "Fault-injection
harness").

The harness starts its own Kafka broker and PostgreSQL cluster (free ports, a throwaway state
directory) so that restarting them disturbs nothing else, and stops everything it started.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.faults.harness import Options, Outcome, run_harness

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
async def outcome() -> Outcome:
    """The baseline and the disturbed run (the harness cleans up after itself, also on failure)."""
    return await run_harness(Options(scale="bounded", plan="together"))


def _disturbed(outcome: Outcome) -> dict[str, Any]:
    [together] = [j for j in outcome.judged if j["scenario"] == "together"]
    return together


def test_the_undisturbed_run_holds_the_whole_stream(outcome: Outcome) -> None:
    # Guards the comparison itself: an empty or partial baseline would make every run look right.
    [baseline] = [j for j in outcome.judged if j["scenario"] == "baseline"]
    stream = outcome.meta["stream"]
    bookings = stream["booking.created"]
    sizes = baseline["sizes"]
    assert sizes["profile.bookings"] == bookings
    assert sizes["feedback.trips"] == bookings
    assert 0 < sizes["feedback.surveys"] <= stream["trip.completed"]  # one survey per trip, not per booking
    assert sizes["emails"] >= bookings - stream["booking.cancelled"]
    assert baseline["settled_after"] is not None, baseline["stuck_at_end"]


def test_every_fault_ran_and_the_system_recovered_from_each_without_help(outcome: Outcome) -> None:
    run = _disturbed(outcome)
    assert not run["not_run"], f"faults left out (time budget): {run['not_run']}"
    assert not run["stalls"], [r for r in run["recoveries"] if r["recovered_after"] is None]
    assert run["manual_actions"] == 0, (run["stuck_at_end"], run["died"], run["not_ready_at_end"])


def test_nothing_is_lost_and_nothing_applied_twice(outcome: Outcome) -> None:
    run = _disturbed(outcome)
    assert (run["lost"], run["extra"], run["changed"]) == (0, 0, 0), run["by_store"]
    assert run["stream_records_dead_lettered"] == {}
    # One cause, two different emails, is never right; the same email twice (one Message-ID) is the
    # documented window of a process killed between the SMTP server's acceptance and its commit.
    assert run["emails"]["cause_sent_twice"] == 0, run["emails"]["copies"]


def test_every_poison_record_is_dead_lettered_with_a_reason_and_without_personal_data(outcome: Outcome) -> None:
    run = _disturbed(outcome)
    not_dead_lettered = [(p["record"], p["topic"], p["missing"]) for p in run["poison"] if p["missing"]]
    assert not not_dead_lettered
    assert all(p["with_reason"] for p in run["poison"]), run["poison"]
    assert run["dead_letters_with_personal_data"] == 0


def test_readyz_never_says_ready_while_a_service_is_stuck(outcome: Outcome) -> None:
    run = _disturbed(outcome)
    assert not any(run["ready_while_stuck_seconds"].values()), run["ready_while_stuck_seconds"]
