"""Channel choice, text message length rules, webhook signatures and endpoint addresses (pure domain)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notifications.domain.channels import channel_order, choose_channels, sms_length, sms_text
from services.notifications.domain.model import (
    DEFAULT_QUIET_HOURS,
    Channel,
    CommunicationPreferences,
    ConsentRecord,
    DispatchRules,
    Drop,
    PendingDelivery,
    Recipient,
    RetryPolicy,
    Send,
    decide,
)
from services.notifications.domain.webhooks import signature, url_problem, verify

NOON = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
RULES = DispatchRules(
    quiet_hours=DEFAULT_QUIET_HOURS,
    contact_retry=RetryPolicy(base=timedelta(seconds=1), cap=timedelta(seconds=60), max_attempts=1_000_000),
    contact_wait=timedelta(hours=1),
)
BOTH: frozenset[Channel] = frozenset({"email", "sms"})
SMS_OK = ConsentRecord("transactional", "sms", True, NOON)


def ann(**overrides: Any) -> Recipient:
    values: dict[str, Any] = {
        "customer_id": "cus_1",
        "display_name": "Ann Lee",
        "email": "ann@example.com",
        "phone": "+4915112345678",
    }
    return Recipient(**(values | overrides))


def due(**overrides: Any) -> PendingDelivery:
    values: dict[str, Any] = {
        "delivery_id": "dlv_1",
        "customer_id": "cus_1",
        "channel": "email",
        "template": "booking_confirmation",
        "purpose": "transactional",
        "created_at": NOON,
    }
    return PendingDelivery(**(values | overrides))


def prefers(*channels: str) -> CommunicationPreferences:
    return CommunicationPreferences(channels=channels)


def test_the_order_puts_the_travellers_channels_first_and_keeps_the_others_as_fallbacks() -> None:
    assert channel_order(["sms"]) == ("sms", "email")
    assert channel_order(["push", "sms", "sms"]) == ("sms", "email")  # unknown here, repeated: ignored
    assert channel_order([]) == ("email", "sms")


def test_a_traveller_who_prefers_sms_and_consented_gets_one_text() -> None:
    decision = decide(
        delivery=due(), recipient=ann(), consents=[SMS_OK], quiet_hours=None, rules=RULES, now=NOON,
        preferences=prefers("sms", "email"), available=BOTH,
    )  # fmt: skip
    assert isinstance(decision, Send)
    assert (decision.channel, decision.address, decision.also) == ("sms", "+4915112345678", ())


def test_sms_without_an_opt_in_falls_back_to_email_and_says_why() -> None:
    decision = decide(
        delivery=due(), recipient=ann(), consents=[], quiet_hours=None, rules=RULES, now=NOON,
        preferences=prefers("sms"), available=BOTH,
    )  # fmt: skip
    assert isinstance(decision, Send)
    assert decision.channel == "email"
    assert "not sms: no consent for transactional messages by sms" in decision.note


def test_no_consent_on_any_channel_is_suppressed_with_the_reasons() -> None:
    revoked = [ConsentRecord("transactional", "email", False, NOON)]
    decision = decide(
        delivery=due(), recipient=ann(), consents=revoked, quiet_hours=None, rules=RULES, now=NOON,
        preferences=prefers("sms"), available=BOTH,
    )  # fmt: skip
    assert decision == Drop(
        "suppressed",
        "no consent for transactional messages by sms; no consent for transactional messages by email",
        permanent=False,
        code="no_consent",
    )


def test_a_missing_mobile_number_is_a_failure_not_a_suppression() -> None:
    decision = decide(
        delivery=due(), recipient=ann(phone=None, email=None), consents=[SMS_OK], quiet_hours=None, rules=RULES,
        now=NOON, preferences=prefers("sms"), available=BOTH,
    )  # fmt: skip
    assert isinstance(decision, Drop)
    assert (decision.status, decision.code) == ("failed", "no_address")
    assert "no mobile number on file" in decision.reason


def test_sms_is_not_chosen_where_no_provider_is_configured() -> None:
    decision = decide(
        delivery=due(), recipient=ann(), consents=[SMS_OK], quiet_hours=None, rules=RULES, now=NOON,
        preferences=prefers("sms"), available=frozenset[Channel]({"email"}),
    )  # fmt: skip
    assert isinstance(decision, Send)
    assert decision.channel == "email"


def test_a_disruption_goes_on_two_channels_every_other_message_on_one() -> None:
    common: dict[str, Any] = {"purpose": "transactional", "consents": [SMS_OK], "recipient": ann(), "available": BOTH}
    order = channel_order(["sms"])
    assert choose_channels(template="booking_cancelled", order=order, **common).channels == ("sms", "email")
    assert choose_channels(template="booking_changed", order=order, **common).channels == ("sms", "email")
    assert choose_channels(template="booking_confirmation", order=order, **common).channels == ("sms",)
    # The text consent was for transactional messages: a survey (service) goes by email.
    service = common | {"purpose": "service"}
    assert choose_channels(template="survey_invitation", order=order, **service).channels == ("email",)


def test_an_extra_leg_goes_only_on_its_own_channel() -> None:
    decision = decide(
        delivery=due(leg="email", channel="email", template="booking_cancelled"), recipient=ann(), consents=[SMS_OK],
        quiet_hours=None, rules=RULES, now=NOON, preferences=prefers("sms"), available=BOTH,
    )  # fmt: skip
    assert isinstance(decision, Send)
    assert (decision.channel, decision.also) == ("email", ())


def test_sms_length_counts_gsm7_septets_and_ucs2_units() -> None:
    assert sms_length("a" * 160) == sms_length("a" * 160).__class__("GSM-7", 160, 1)
    assert sms_length("a" * 161).segments == 2  # 153 a part once concatenated
    assert sms_length("€" * 80).units == 160  # the extension table takes two septets
    assert sms_length("Zürich ä ö ü é").encoding == "GSM-7"
    assert sms_length("Kraków").encoding == "UCS-2"  # ó is not in GSM 03.38
    assert sms_length("ł" * 70).segments == 1
    assert sms_length("ł" * 71).segments == 2


def test_a_text_is_brand_subject_and_link() -> None:
    text = sms_text(
        brand="Itinera", subject="How was your trip?", body="Hello\n\nhttps://f.example/s/1?t=x\n\nBye", max_segments=2
    )
    assert text == "Itinera: How was your trip? https://f.example/s/1?t=x"


@pytest.mark.parametrize("subject", ["word " * 100, "Kraków " * 40])
def test_a_long_text_is_cut_at_a_word_keeping_its_link(subject: str) -> None:
    link = "https://f.example/s/" + "x" * 60
    text = sms_text(brand="Itinera", subject=subject, body=f"see {link}", max_segments=2)
    assert text.endswith(f"… {link}")
    assert sms_length(text).segments <= 2
    assert sms_length(text + "w").segments <= 3  # it uses the room it has, not far less


def test_a_signature_verifies_and_a_changed_body_or_old_timestamp_does_not() -> None:
    body = b'{"event_type":"delivery.sent"}'
    header = signature("whsec_x", 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=")
    assert verify("whsec_x", header, body, now=1_700_000_100)
    assert not verify("whsec_x", header, body + b" ", now=1_700_000_100)
    assert not verify("whsec_y", header, body, now=1_700_000_100)
    assert not verify("whsec_x", header, body, now=1_700_000_000 + 301)
    assert not verify("whsec_x", "garbage", body, now=1_700_000_000)


@pytest.mark.parametrize(
    ("url", "production", "problem"),
    [
        ("https://hooks.example.com/itinera", True, None),
        ("http://hooks.example.com/itinera", True, "an endpoint must use https"),
        ("https://127.0.0.1/x", True, "an endpoint must be a public address"),
        ("https://10.1.2.3/x", True, "an endpoint must be a public address"),
        ("https://169.254.169.254/latest", True, "an endpoint must be a public address"),
        ("https://[::1]/x", True, "an endpoint must be a public address"),
        ("https://localhost/x", True, "an endpoint must be a public address"),
        ("https://hooks.example.com:6379/x", True, "an endpoint must use port 443 or 8443"),
        ("https://user:pw@hooks.example.com/", True, "an endpoint URL may not carry credentials"),
        ("http://127.0.0.1:1080/webhooks/dev", False, None),
        ("ftp://hooks.example.com/", False, "an endpoint must be an http(s) URL with a host"),
    ],
)
def test_endpoint_addresses(url: str, production: bool, problem: str | None) -> None:
    assert url_problem(url, production=production) == problem
