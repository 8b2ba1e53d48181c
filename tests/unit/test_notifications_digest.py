"""Digests (which messages wait, how a closing window is composed) and one channel per event (pure domain)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import permutations
from typing import Any

import pytest

from services.notifications.domain.channels import CHANNELS_PER_TEMPLATE, channel_order
from services.notifications.domain.digest import DigestItem, compose, digestible, first_link
from services.notifications.domain.model import (
    CHANNELS,
    DEFAULT_QUIET_HOURS,
    PURPOSES,
    QUIET_HOURS,
    TEMPLATE_PURPOSE,
    TEMPLATES,
    CommunicationPreferences,
    ConsentRecord,
    Defer,
    DispatchRules,
    Drop,
    PendingDelivery,
    Purpose,
    Recipient,
    RetryPolicy,
    Send,
    TemplateName,
    decide,
)
from services.notifications.service_layer.digests import joins_digest

NOON = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
RULES = DispatchRules(
    quiet_hours=DEFAULT_QUIET_HOURS,
    contact_retry=RetryPolicy(base=timedelta(seconds=1), cap=timedelta(seconds=60), max_attempts=1_000_000),
    contact_wait=timedelta(hours=1),
)
ANN = Recipient(customer_id="cus_1", display_name="Ann Lee", email="ann@example.com", phone="+4915112345678")


def item(n: int, *, expires_in: timedelta | None = None, template: TemplateName = "survey_invitation") -> DigestItem:
    return DigestItem(
        delivery_id=f"dlv_{n}", template=template, purpose="service", context={"survey_url": f"https://s/{n}"},
        created_at=NOON + timedelta(minutes=n), cause_event_id=f"evt_{n}",
        expires_at=None if expires_in is None else NOON + expires_in,
    )  # fmt: skip


def test_only_non_urgent_messages_wait_for_a_digest() -> None:
    assert digestible("survey_invitation", "service")
    assert digestible("preference_question", "service")
    assert digestible("any_offer", "marketing")
    for template in ("booking_confirmation", "booking_changed", "booking_cancelled"):
        assert not digestible(template, TEMPLATE_PURPOSE[template]), "transactional: never digested"
    assert not digestible("survey_invitation", "transactional")
    assert not digestible("digest", "service")
    assert not digestible("case_update", "service"), "a service message not known to be able to wait goes at once"


def test_a_closing_window_combines_its_live_items_oldest_first() -> None:
    composed = compose([item(3), item(1), item(2)], now=NOON + timedelta(hours=4))
    assert [i.delivery_id for i in composed.combined] == ["dlv_1", "dlv_2", "dlv_3"]
    assert composed.release == ()


def test_expired_items_and_a_lone_item_go_on_their_own() -> None:
    now = NOON + timedelta(hours=4)
    composed = compose([item(1), item(2, expires_in=timedelta(hours=1)), item(3)], now=now)
    assert [i.delivery_id for i in composed.combined] == ["dlv_1", "dlv_3"]
    assert [i.delivery_id for i in composed.release] == ["dlv_2"], "decided alone: it ends as expired"
    lone = compose([item(1), item(2, expires_in=timedelta(hours=1))], now=now)
    assert lone.combined == ()
    assert {i.delivery_id for i in lone.release} == {"dlv_1", "dlv_2"}
    assert compose([], now=now) == compose([], now=now)
    assert compose([], now=now).combined == ()


def test_an_items_link_is_the_one_the_traveller_acts_on() -> None:
    assert first_link({"survey_url": "https://s/1", "booking_id": "B1"}) == "https://s/1"
    assert first_link({"answer_url": "https://p/c/t"}) == "https://p/c/t"
    assert first_link({"booking_id": "B1"}) is None


def due(**overrides: Any) -> PendingDelivery:
    values: dict[str, Any] = {
        "delivery_id": "dlv_1", "customer_id": "cus_1", "channel": "email", "template": "survey_invitation",
        "purpose": "service", "created_at": NOON,
    }  # fmt: skip
    return PendingDelivery(**(values | overrides))


SEND = Send(ANN, "ann@example.com", "en")


def test_which_due_messages_join_a_digest() -> None:
    assert joins_digest(due(), SEND, window_seconds=3600)
    assert joins_digest(due(), Defer(NOON, QUIET_HOURS), window_seconds=3600), "the digest keeps quiet hours too"
    assert not joins_digest(due(), SEND, window_seconds=0), "digests switched off"
    assert not joins_digest(due(send_now=True), SEND, window_seconds=3600), "an agent sent it now"
    assert not joins_digest(due(digest_id="dlv_d"), SEND, window_seconds=3600), "let out of a window: goes alone"
    assert not joins_digest(due(template="booking_confirmation", purpose="transactional"), SEND, window_seconds=3600)
    drop = Drop("suppressed", "no consent", permanent=False, code="no_consent")
    assert not joins_digest(due(), drop, window_seconds=3600), "a suppressed message waits for nothing"


# Never two messages about one event on two channels unless asked.

FAN_OUT: frozenset[str] = frozenset({"booking_changed", "booking_cancelled"})  # disruptions, deliberately


def test_only_disruptions_are_configured_to_go_on_more_than_one_channel() -> None:
    assert {t for t, n in CHANNELS_PER_TEMPLATE.items() if n > 1} == FAN_OUT


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("purpose", PURPOSES)
@pytest.mark.parametrize("stated", [(), *permutations(CHANNELS)])
def test_one_event_goes_on_one_channel_whatever_the_order_and_consents(
    template: TemplateName, purpose: Purpose, stated: tuple[str, ...]
) -> None:
    every = [ConsentRecord(p, c, True, NOON) for p in PURPOSES for c in CHANNELS]
    decision = decide(
        delivery=due(template=template, purpose=purpose), recipient=ANN, consents=every, quiet_hours=None,
        rules=RULES, now=NOON, preferences=CommunicationPreferences(channels=stated),
        available=frozenset(CHANNELS), itinerary=(),
    )  # fmt: skip
    if isinstance(decision, Defer):  # quiet hours at noon UTC do not hold, but keep the test honest
        pytest.fail(f"unexpected hold {decision}")
    assert isinstance(decision, Send)
    channels = (decision.channel, *decision.also)
    assert len(set(channels)) == len(channels)
    if template in FAN_OUT:
        assert len(channels) == 2
    else:
        assert len(channels) == 1, f"{template} ({purpose}) went on {channels}"
    assert decision.channel == channel_order(stated)[0], "the traveller's first channel, when it can carry it"


@pytest.mark.parametrize("purpose", PURPOSES)
def test_the_next_channel_is_used_only_when_the_first_has_no_consent(purpose: Purpose) -> None:
    no_sms = [ConsentRecord(purpose, "sms", False, NOON), ConsentRecord(purpose, "email", True, NOON)]
    decision = decide(
        delivery=due(purpose=purpose), recipient=ANN, consents=no_sms, quiet_hours=None, rules=RULES, now=NOON,
        preferences=CommunicationPreferences(channels=("sms", "email")), available=frozenset(CHANNELS),
    )  # fmt: skip
    assert isinstance(decision, Send)
    assert (decision.channel, decision.also) == ("email", ())
