"""Notifications domain: quiet hours, consent, backoff, decisions and message rendering."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.kit.dates import long_date
from services.notifications.domain import formatting
from services.notifications.domain.languages import pick_language
from services.notifications.domain.messages import MessageRenderer, RenderError
from services.notifications.domain.model import (
    CHANNELS,
    DEFAULT_QUIET_HOURS,
    QUIET_HOURS,
    RETRY,
    WAITING_FOR_CONTACT,
    CommunicationPreferences,
    ConsentRecord,
    Defer,
    DispatchRules,
    Drop,
    PendingDelivery,
    Purpose,
    QuietHours,
    Recipient,
    RetryPolicy,
    Send,
    after_failed_send,
    consent_allows,
    decide,
    deciding_consent,
    effective_quiet_hours,
    quiet_hours_end,
    resolve_zone,
    send_not_before,
    template_for_booking,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# Quiet hours


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        # 23:30 UTC is 00:30 in Berlin (winter, UTC+1): quiet until 07:00 Berlin = 06:00 UTC.
        (utc(2026, 1, 15, 23, 30), BERLIN, utc(2026, 1, 16, 6, 0)),
        # 21:30 UTC is 22:30 in Berlin: evening part, the window ends tomorrow morning.
        (utc(2026, 1, 15, 21, 30), BERLIN, utc(2026, 1, 16, 6, 0)),
        # The same instant is 18:30 in New York and 08:30 in Tokyo: not quiet.
        (utc(2026, 1, 15, 23, 30), NEW_YORK, None),
        (utc(2026, 1, 15, 23, 30), TOKYO, None),
        # 04:00 UTC is 23:00 in New York (UTC-5): quiet until 07:00 New York = 12:00 UTC.
        (utc(2026, 1, 16, 4, 0), NEW_YORK, utc(2026, 1, 16, 12, 0)),
        # 21:59 local is before the window, 07:00 local is after it.
        (utc(2026, 1, 15, 20, 59), BERLIN, None),
        (utc(2026, 1, 16, 6, 0), BERLIN, None),
        # 22:00 local exactly starts the window.
        (utc(2026, 1, 15, 21, 0), BERLIN, utc(2026, 1, 16, 6, 0)),
        # Summer time: 07:00 Berlin is 05:00 UTC.
        (utc(2026, 7, 1, 1, 0), BERLIN, utc(2026, 7, 1, 5, 0)),
    ],
)
def test_quiet_hours_crossing_midnight_in_the_travellers_zone(
    now: datetime, zone: ZoneInfo, expected: datetime | None
) -> None:
    assert quiet_hours_end(now, DEFAULT_QUIET_HOURS, zone) == expected


def test_quiet_hours_across_the_dst_change() -> None:
    # The night clocks go forward in Berlin (29 Mar 2026): 23:00 CET to 07:00 CEST is 7 hours.
    now = utc(2026, 3, 28, 22, 0)
    assert quiet_hours_end(now, DEFAULT_QUIET_HOURS, BERLIN) == utc(2026, 3, 29, 5, 0)


def test_same_day_window_and_disabled_windows() -> None:
    lunch = QuietHours(start=time(12, 0), end=time(14, 0))
    assert quiet_hours_end(utc(2026, 5, 4, 12, 30), lunch, UTC) == utc(2026, 5, 4, 14, 0)
    assert quiet_hours_end(utc(2026, 5, 4, 14, 0), lunch, UTC) is None
    assert quiet_hours_end(utc(2026, 5, 4, 11, 59), lunch, UTC) is None
    off = QuietHours(start=time(22, 0), end=time(7, 0), enabled=False)
    assert quiet_hours_end(utc(2026, 5, 4, 23, 0), off, UTC) is None
    empty = QuietHours(start=time(7, 0), end=time(7, 0))
    assert quiet_hours_end(utc(2026, 5, 4, 7, 0), empty, UTC) is None


@pytest.mark.parametrize(("purpose", "deferred"), [("transactional", False), ("service", True), ("marketing", True)])
def test_only_non_transactional_messages_wait_for_quiet_hours_to_end(purpose: Purpose, deferred: bool) -> None:
    late = utc(2026, 1, 15, 23, 30)
    result = send_not_before(purpose=purpose, now=late, window=DEFAULT_QUIET_HOURS, zone=UTC)
    assert (result is not None) is deferred


def test_zone_falls_back_from_current_to_home_to_utc() -> None:
    assert resolve_zone("Asia/Tokyo", "Europe/Berlin") == TOKYO
    assert resolve_zone(None, "Europe/Berlin") == BERLIN
    assert resolve_zone("Not/AZone", "Europe/Berlin") == BERLIN
    assert resolve_zone("", None) is UTC
    assert resolve_zone("../../etc/passwd") is UTC


# Consent


def test_transactional_and_service_are_allowed_unless_revoked() -> None:
    assert consent_allows("transactional", "email", [])
    assert consent_allows("service", "email", [])
    assert not consent_allows("transactional", "email", [ConsentRecord("transactional", "email", granted=False)])
    assert not consent_allows("service", "email", [ConsentRecord("service", "email", granted=False)])
    # A revocation on another channel does not matter.
    assert consent_allows("service", "email", [ConsentRecord("service", "sms", granted=False)])


def test_marketing_needs_an_explicit_opt_in() -> None:
    assert not consent_allows("marketing", "email", [])
    assert not consent_allows("marketing", "email", [ConsentRecord("marketing", "sms", granted=True)])
    assert consent_allows("marketing", "email", [ConsentRecord("marketing", "email", granted=True)])


def test_a_revocation_wins_over_a_grant_of_a_merged_customer() -> None:
    records = [ConsentRecord("marketing", "email", granted=True), ConsentRecord("marketing", "email", granted=False)]
    assert not consent_allows("marketing", "email", records)


# Backoff


def test_backoff_doubles_up_to_the_cap_and_is_bounded() -> None:
    policy = RetryPolicy(base=timedelta(seconds=30), cap=timedelta(minutes=5), max_attempts=6)
    delays = [policy.delay(n).total_seconds() for n in range(1, 8)]
    assert delays == [30, 60, 120, 240, 300, 300, 300]
    assert not policy.exhausted(5)
    assert policy.exhausted(6)
    assert policy.delay(10_000) == timedelta(minutes=5)


def test_failed_sends_retry_then_give_up_and_5xx_is_final() -> None:
    policy = RetryPolicy(base=timedelta(seconds=10), cap=timedelta(hours=1), max_attempts=3)
    now = utc(2026, 1, 1, 12, 0)
    first = after_failed_send(attempts=1, error="421 busy", permanent=False, policy=policy, now=now)
    assert first == Defer(now + timedelta(seconds=10), RETRY)
    second = after_failed_send(attempts=2, error="421 busy", permanent=False, policy=policy, now=now)
    assert second == Defer(now + timedelta(seconds=20), RETRY)
    last = after_failed_send(attempts=3, error="421 busy", permanent=False, policy=policy, now=now)
    assert isinstance(last, Drop)
    assert last.status == "failed"
    assert not last.permanent
    assert "3 attempts" in last.reason
    rejected = after_failed_send(attempts=1, error="550 no such user", permanent=True, policy=policy, now=now)
    assert isinstance(rejected, Drop)
    assert rejected.permanent


# Decisions

RULES = DispatchRules(
    quiet_hours=DEFAULT_QUIET_HOURS,
    contact_retry=RetryPolicy(base=timedelta(seconds=1), cap=timedelta(seconds=60), max_attempts=1_000_000),
    contact_wait=timedelta(hours=1),
)
NOON = utc(2026, 1, 15, 12, 0)


def pending(**overrides: Any) -> PendingDelivery:
    values: dict[str, Any] = {
        "delivery_id": "dlv_1",
        "customer_id": "cus_1",
        "channel": "email",
        "template": "booking_confirmation",
        "purpose": "transactional",
        "created_at": NOON - timedelta(seconds=5),
    }
    values.update(overrides)
    return PendingDelivery(**values)


def recipient(**overrides: Any) -> Recipient:
    values: dict[str, Any] = {
        "customer_id": "cus_1",
        "display_name": "Ann Lee",
        "given_name": "Ann",
        "email": "ann@example.com",
        "language": "de-DE",
        "time_zone": "Europe/Berlin",
    }
    values.update(overrides)
    return Recipient(**values)


def test_a_customer_with_contact_data_gets_the_message_in_their_language() -> None:
    decision = decide(delivery=pending(), recipient=recipient(), consents=[], quiet_hours=None, rules=RULES, now=NOON)
    assert decision == Send(recipient(), "ann@example.com", "de")


def test_missing_contact_data_waits_with_backoff_then_fails() -> None:
    waiting = decide(delivery=pending(lookups=3), recipient=None, consents=[], quiet_hours=None, rules=RULES, now=NOON)
    assert waiting == Defer(NOON + timedelta(seconds=8), WAITING_FOR_CONTACT)
    late = NOON + timedelta(hours=2)
    given_up = decide(delivery=pending(), recipient=None, consents=[], quiet_hours=None, rules=RULES, now=late)
    assert isinstance(given_up, Drop)
    assert given_up.status == "failed"
    assert "no contact data" in given_up.reason


@pytest.mark.parametrize(
    ("contact", "reason"),
    [({"email": None}, "no email"), ({"email_deliverable": False}, "undeliverable")],
)
def test_unusable_email_fails_permanently(contact: dict[str, Any], reason: str) -> None:
    decision = decide(
        delivery=pending(), recipient=recipient(**contact), consents=[], quiet_hours=None, rules=RULES, now=NOON
    )
    assert isinstance(decision, Drop)
    assert decision.status == "failed"
    assert decision.permanent
    assert reason in decision.reason


def test_marketing_without_consent_is_suppressed() -> None:
    decision = decide(
        delivery=pending(purpose="marketing"),
        recipient=recipient(),
        consents=[],
        quiet_hours=None,
        rules=RULES,
        now=NOON,
    )
    assert isinstance(decision, Drop)
    assert decision.status == "suppressed"


def test_service_messages_wait_for_the_customers_own_quiet_hours() -> None:
    # 12:00 UTC is 13:00 in Berlin, inside a customer's 12:30-14:00 window.
    own = QuietHours(start=time(12, 30), end=time(14, 0))
    decision = decide(
        delivery=pending(purpose="service", template="survey_invitation"),
        recipient=recipient(),
        consents=[],
        quiet_hours=own,
        rules=RULES,
        now=NOON,
    )
    assert decision == Defer(utc(2026, 1, 15, 13, 0), QUIET_HOURS, zone="Europe/Berlin")
    transactional = decide(
        delivery=pending(), recipient=recipient(), consents=[], quiet_hours=own, rules=RULES, now=NOON
    )
    assert isinstance(transactional, Send)


def test_expired_messages_are_not_sent() -> None:
    decision = decide(
        delivery=pending(expires_at=NOON - timedelta(minutes=1)),
        recipient=recipient(),
        consents=[],
        quiet_hours=None,
        rules=RULES,
        now=NOON,
    )
    assert isinstance(decision, Drop)
    assert "expired" in decision.reason


def test_booking_kinds_map_to_templates() -> None:
    assert template_for_booking("created") == "booking_confirmation"
    assert template_for_booking("changed") == "booking_changed"
    assert template_for_booking("cancelled") == "booking_cancelled"
    assert template_for_booking("trip_completed") is None


@pytest.mark.parametrize(
    ("requested", "expected"),
    [("de", "de"), ("de-AT", "de"), ("DE_ch", "de"), ("en-GB", "en"), ("fr", "en"), (None, "en")],
)
def test_language_choice(requested: str | None, expected: str) -> None:
    assert pick_language(requested) == expected


# Rendering


def booking_context(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "booking_id": "ACME-123",
        "source_system": "acme-gds",
        "kind": "created",
        "total_price": "3617.00",
        "currency": "EUR",
        "segments": [
            {
                "kind": "flight",
                "carrier": "LH",
                "flight_number": "400",
                "origin": "FRA",
                "destination": "JFK",
                "departure_at": "2026-12-01T10:15:00+01:00",
                "arrival_at": "2026-12-01T13:05:00-05:00",
            },
            {
                "kind": "hotel",
                "hotel_name": "Marriott <Marquis>",
                "city": "New York",
                "country": "US",
                "check_in": "2026-12-01",
                "check_out": "2026-12-04",
            },
            {
                "kind": "car",
                "vendor": "ZE",
                "pickup_location": "JFK",
                "dropoff_location": "JFK",
                "pickup_at": "2026-12-01T14:00:00-05:00",
                "dropoff_at": "2026-12-04T09:00:00-05:00",
            },
            {
                "kind": "rail",
                "operator": "DB",
                "origin": "Berlin Hbf",
                "destination": "München Hbf",
                "departure_at": "2026-12-06T08:04:00+01:00",
                "arrival_at": "2026-12-06T12:02:00+01:00",
            },
        ],
    }
    values.update(overrides)
    return values


RENDERER = MessageRenderer(brand_name="Acme Travel")


def test_confirmation_in_english_lists_every_segment_in_local_time() -> None:
    msg = RENDERER.render(
        template="booking_confirmation", language="en", context=booking_context(), recipient=recipient()
    )
    assert msg.subject == "Your booking ACME-123 is confirmed"
    assert msg.language == "en"
    assert "Hello Ann," in msg.text
    # Segments without places (planned before places were known): the time as sent, with its offset.
    assert "Flight LH 400: FRA → JFK, departs Tue 1 Dec 2026, 10:15 (UTC+01:00)" in msg.text
    assert "local time" not in msg.text
    assert "Hotel: Marriott <Marquis>, New York, 1 Dec 2026 – 4 Dec 2026 (3 nights)" in msg.text
    assert "Car ZE: pick-up JFK Tue 1 Dec 2026, 14:00" in msg.text
    assert "Train DB: Berlin Hbf → München Hbf, departs Sun 6 Dec 2026, 08:04" in msg.text
    assert "3,617.00 EUR" in msg.text
    assert "Acme Travel" in msg.text


def test_confirmation_in_german() -> None:
    msg = RENDERER.render(
        template="booking_confirmation", language="de", context=booking_context(), recipient=recipient()
    )
    assert msg.subject == "Ihre Buchung ACME-123 ist bestätigt"
    assert "Guten Tag Ann," in msg.text
    assert "Flug LH 400: FRA → JFK, Abflug Di., 1. Dez. 2026, 10:15 Uhr (UTC+01:00)" in msg.text
    assert "(3 Nächte)" in msg.text
    assert "3.617,00 EUR" in msg.text
    assert '<html lang="de">' in msg.html


def test_html_is_escaped_and_text_is_not() -> None:
    evil = recipient(given_name="<script>alert(1)</script>")
    msg = RENDERER.render(template="booking_confirmation", language="en", context=booking_context(), recipient=evil)
    assert "<script>" not in msg.html
    assert "&lt;script&gt;" in msg.html
    assert "Marriott &lt;Marquis&gt;" in msg.html
    assert "Hello <script>alert(1)</script>," in msg.text


def test_subject_is_one_line_whatever_the_data() -> None:
    msg = RENDERER.render(
        template="booking_confirmation",
        language="en",
        context=booking_context(booking_id="X\r\nBcc: victim@example.com"),
        recipient=recipient(),
    )
    assert "\n" not in msg.subject
    assert "\r" not in msg.subject


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("template", ["booking_changed", "booking_cancelled"])
def test_change_and_cancellation_notices(template: str, language: str) -> None:
    context = booking_context(kind="cancelled", segments=[], total_price=None, currency=None)
    if template == "booking_changed":
        context = booking_context(kind="changed")
    msg = RENDERER.render(template=template, language=language, context=context, recipient=recipient())
    assert "ACME-123" in msg.subject
    assert "ACME-123" in msg.text
    assert "ACME-123" in msg.html


@pytest.mark.parametrize(("language", "phrase"), [("en", "open until 20 Dec 2026"), ("de", "bis zum 20. Dez. 2026")])
def test_survey_invitation_carries_the_link(language: str, phrase: str) -> None:
    context = {
        "survey_id": "srv_1",
        "booking_id": "ACME-123",
        "source_system": "acme-gds",
        "survey_url": "https://feedback.example/s/srv_1?t=a&b=1",
        "expires_at": "2026-12-20T00:00:00+00:00",
    }
    msg = RENDERER.render(template="survey_invitation", language=language, context=context, recipient=recipient())
    assert "https://feedback.example/s/srv_1?t=a&b=1" in msg.text
    assert 'href="https://feedback.example/s/srv_1?t=a&amp;b=1"' in msg.html
    assert phrase in msg.text


@pytest.mark.parametrize(("language", "phrase"), [("en", "works until 20 Dec 2026"), ("de", "bis zum 20. Dez. 2026")])
def test_preference_question_quotes_the_question_and_carries_the_answer_link(language: str, phrase: str) -> None:
    context = {
        "request_id": "5f0c1e55-0000-4000-8000-000000000001",
        "key": "air.seat.short_haul",
        "question": "Seat on short flights: is aisle right for you? <b>",
        "answer_url": "https://prefs.example/confirmations/tok_abc-DEF",
        "expires_at": "2026-12-20T00:00:00+00:00",
    }
    msg = RENDERER.render(template="preference_question", language=language, context=context, recipient=recipient())
    assert "Seat on short flights: is aisle right for you? <b>" in msg.text
    assert "is aisle right for you? &lt;b&gt;" in msg.html  # quoted values are escaped in HTML
    assert "https://prefs.example/confirmations/tok_abc-DEF" in msg.text
    assert 'href="https://prefs.example/confirmations/tok_abc-DEF"' in msg.html
    assert phrase in msg.text


def test_a_german_preference_question_asks_in_german_where_the_producer_wrote_it_in_german() -> None:
    context = {
        "request_id": "5f0c1e55-0000-4000-8000-000000000001",
        "key": "air.seat.short_haul",
        "question": "Seat on short flights: is aisle right for you?",
        "questions": {
            "en": "Seat on short flights: is aisle right for you?",
            "de": "Sitzplatz auf Kurzstreckenflügen: Ist „Gang“ richtig für Sie?",
        },
        "answer_url": "https://prefs.example/confirmations/tok_abc-DEF",
        "expires_at": "2026-12-20T00:00:00+00:00",
    }
    german = RENDERER.render(template="preference_question", language="de", context=context, recipient=recipient())
    assert "Sitzplatz auf Kurzstreckenflügen: Ist „Gang“ richtig für Sie?" in german.text
    assert "Sitzplatz auf Kurzstreckenflügen" in german.html
    assert "is aisle right for you" not in german.text
    assert "Englisch" not in german.text  # no note that the question is in English
    english = RENDERER.render(template="preference_question", language="en", context=context, recipient=recipient())
    assert "Seat on short flights: is aisle right for you?" in english.text
    # A producer that writes English only: the German email quotes it and says so.
    del context["questions"]
    older = RENDERER.render(template="preference_question", language="de", context=context, recipient=recipient())
    assert "Seat on short flights: is aisle right for you?" in older.text
    assert "nur auf Englisch" in older.text


def test_unsupported_language_falls_back_to_english() -> None:
    msg = RENDERER.render(
        template="booking_confirmation", language="fr", context=booking_context(), recipient=recipient()
    )
    assert msg.language == "en"


def test_missing_template_data_is_a_render_error() -> None:
    with pytest.raises(RenderError):
        RENDERER.render(template="survey_invitation", language="en", context={}, recipient=recipient())


def test_formatting_helpers() -> None:
    assert long_date(date(2026, 3, 5), "de") == "5. März 2026"
    assert formatting.local_datetime("2026-03-05T07:05:00Z", "en") == "Thu 5 Mar 2026, 07:05"
    assert formatting.money("1234567.5", "USD", "en") == "1,234,567.50 USD"
    assert formatting.money(None, "USD", "en") == ""


# The traveller's communication preferences (preferences snapshot in the shared view)


def pref(key: str, value: Any, *, source: str = "stated", last_seen: datetime = NOON) -> dict[str, Any]:
    return {
        "key": key,
        "value": value,
        "source": source,
        "confidence": 1.0,
        "evidence_count": 0,
        "first_seen": last_seen.isoformat(),
        "last_seen": last_seen.isoformat(),
    }


def stated(*prefs: dict[str, Any]) -> CommunicationPreferences:
    return CommunicationPreferences.from_snapshot({"customer_id": "cus_1", "version": 1, "preferences": list(prefs)})


def test_latest_consent_decision_wins_and_simultaneous_ones_resolve_to_revocation() -> None:
    earlier, later = NOON - timedelta(days=30), NOON
    revoked_then_granted = [
        ConsentRecord("service", "email", granted=False, decided_at=earlier),
        ConsentRecord("service", "email", granted=True, decided_at=later),
    ]
    assert consent_allows("service", "email", revoked_then_granted)
    granted_then_revoked = [
        ConsentRecord("marketing", "email", granted=True, decided_at=earlier),
        ConsentRecord("marketing", "email", granted=False, decided_at=later),
    ]
    assert not consent_allows("marketing", "email", granted_then_revoked)
    simultaneous = [
        ConsentRecord("marketing", "email", granted=True, decided_at=later),
        ConsentRecord("marketing", "email", granted=False, decided_at=later),
    ]
    assert not consent_allows("marketing", "email", simultaneous)
    undated_grant = [
        ConsentRecord("marketing", "email", granted=True),
        ConsentRecord("marketing", "email", granted=False, decided_at=earlier),
    ]
    assert not consent_allows("marketing", "email", undated_grant), "an undated record is older than a dated one"


def test_a_stated_withdrawal_in_preferences_suppresses_service_messages() -> None:
    survey = pending(purpose="service", template="survey_invitation")
    preferences = stated(pref("comms.consent.service", False))
    decision = decide(
        delivery=survey, recipient=recipient(), consents=[], quiet_hours=None, rules=RULES, now=NOON,
        preferences=preferences,
    )  # fmt: skip
    assert isinstance(decision, Drop)
    assert decision.status == "suppressed"
    # A later grant recorded through this service's own consent API wins over it.
    regranted = [ConsentRecord("service", "email", granted=True, decided_at=NOON + timedelta(minutes=1))]
    decision = decide(
        delivery=survey, recipient=recipient(), consents=regranted, quiet_hours=None, rules=RULES, now=NOON,
        preferences=preferences,
    )  # fmt: skip
    assert isinstance(decision, Send)


def test_only_the_travellers_own_consent_counts() -> None:
    for source in ("inferred", "policy"):
        preferences = stated(pref("comms.consent.marketing", True, source=source))
        assert preferences.consents == ()
    assert len(stated(pref("comms.consent.marketing", True, source="agent")).consents) == len(CHANNELS)


def test_stated_language_and_home_time_zone_come_before_the_profiles() -> None:
    preferences = stated(pref("comms.language", "en"), pref("comms.home_time_zone", "America/New_York"))
    no_current_zone = recipient(time_zone=None, home_time_zone="Europe/Berlin")
    # 06:30 UTC is 01:30 in New York (quiet) but 07:30 in Berlin (not quiet).
    at = utc(2026, 1, 15, 6, 30)
    survey = pending(purpose="service", template="survey_invitation")
    decision = decide(
        delivery=survey, recipient=no_current_zone, consents=[], quiet_hours=None, rules=RULES, now=at,
        preferences=preferences,
    )  # fmt: skip
    assert decision == Defer(utc(2026, 1, 15, 12, 0), QUIET_HOURS, zone="America/New_York"), "07:00 in New York"
    sent = decide(
        delivery=pending(), recipient=recipient(), consents=[], quiet_hours=None, rules=RULES, now=NOON,
        preferences=preferences,
    )  # fmt: skip
    assert isinstance(sent, Send)
    assert sent.language == "en", "the profile says de-DE, the traveller asked for English"


def test_quiet_hours_the_more_recent_of_own_record_and_stated_preference() -> None:
    own = QuietHours(start=time(12, 30), end=time(14, 0))
    preferences = stated(pref("comms.quiet_hours", {"start": "21:00", "end": "06:00"}, last_seen=NOON))
    assert preferences.quiet_hours == QuietHours(start=time(21, 0), end=time(6, 0))
    assert effective_quiet_hours(own, NOON - timedelta(days=1), preferences) == preferences.quiet_hours
    assert effective_quiet_hours(own, NOON + timedelta(days=1), preferences) == own
    assert effective_quiet_hours(None, None, preferences) == preferences.quiet_hours
    assert effective_quiet_hours(own, None, None) == own
    assert effective_quiet_hours(own, None, stated()) == own


def test_malformed_communication_preferences_are_ignored() -> None:
    preferences = stated(
        pref("comms.quiet_hours", {"start": "late"}),
        pref("comms.consent.telepathy", True),
        pref("comms.consent.service", "yes"),
        {"key": "comms.language"},
    )
    assert preferences == CommunicationPreferences()


def test_the_deciding_consent_is_the_one_consent_allows_follows() -> None:
    at = NOON
    grant = ConsentRecord("service", "email", granted=True, decided_at=at)
    revoke = ConsentRecord("service", "email", granted=False, decided_at=at)
    assert deciding_consent("service", "email", [grant, revoke]) == revoke
    assert deciding_consent("service", "email", [revoke, grant]) == revoke
    assert deciding_consent("service", "sms", [grant]) is None
    later = ConsentRecord("service", "email", granted=True, decided_at=at + timedelta(seconds=1))
    assert deciding_consent("service", "email", [revoke, later]) == later
