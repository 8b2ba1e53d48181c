"""Alerts to staff: who hears of an escalated case, and what the alert says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.notifications.domain.staff import Escalation, address_for, escalation_message

T0 = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
DIRECTORY = {"maria": "maria@agency.example", "team:emea": "emea-desk@agency.example"}


def _escalation(assignee: str | None = "maria", **overrides: object) -> Escalation:
    values: dict[str, object] = {
        "case_id": "cas_1",
        "customer_id": "cus_1",
        "kind": "complaint",
        "priority": "high",
        "assignee": assignee,
        "missed_targets": ("first_response",),
        "first_response_due": T0 - timedelta(hours=2),
        "resolution_due": T0 + timedelta(days=2),
        "escalated_at": T0,
        "booking_id": "ACME-1",
    }
    values.update(overrides)
    return Escalation(**values)  # type: ignore[arg-type]


def test_the_assignee_hears_at_the_directory_address() -> None:
    assert address_for("maria", DIRECTORY, "sup@agency.example") == ("maria", "maria@agency.example")
    assert address_for("team:emea", DIRECTORY, None) == ("team:emea", "emea-desk@agency.example")


def test_an_assignee_without_an_address_or_no_assignee_goes_to_the_supervisors() -> None:
    assert address_for("tom", DIRECTORY, "sup@agency.example") == ("supervisors", "sup@agency.example")
    assert address_for(None, DIRECTORY, "sup@agency.example") == ("supervisors", "sup@agency.example")


def test_nobody_to_tell_without_an_entry_or_a_fallback() -> None:
    assert address_for("tom", DIRECTORY, None) is None
    assert address_for(None, {}, "") is None


def test_the_alert_says_what_was_missed_for_whom_and_links_the_console() -> None:
    m = escalation_message(
        _escalation(), recipient="maria", email="maria@agency.example", customer_name="Ann Lee",
        console_url="https://console.agency.example/",
    )  # fmt: skip
    assert m.subject == "Escalated high complaint: first response overdue (Ann Lee)"
    assert "You are its assignee." in m.text
    assert "Booking:            ACME-1" in m.text
    assert "https://console.agency.example/#/customers/cus_1" in m.text


def test_a_supervisors_alert_says_why_it_came_to_them() -> None:
    unknown = escalation_message(
        _escalation("tom"), recipient="supervisors", email="s@x.example", customer_name=None, console_url="http://c"
    )
    assert "Its assignee (tom) has no address in the staff directory." in unknown.text
    assert "(cus_1)" in unknown.subject  # no name in the view yet: the id
    nobody = escalation_message(
        _escalation(None, missed_targets=("first_response", "resolution")),
        recipient="supervisors", email="s@x.example", customer_name="Ann Lee", console_url="http://c",
    )  # fmt: skip
    assert "It has no assignee and the traveller no account manager." in nobody.text
    assert "first response, resolution overdue" in nobody.subject
