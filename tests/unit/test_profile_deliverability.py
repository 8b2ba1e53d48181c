"""Only failures that show an address cannot receive mail make it undeliverable; consent is another fact."""

from __future__ import annotations

import pytest

from services.profile.domain.deliverability import address_failed

# Reasons as notifications writes them (domain.model.decide, after_failed_send and the mailer).
NOT_ABOUT_THE_ADDRESS = [
    "no consent for service messages by email",
    "no consent for marketing messages by email",
    "email address is marked undeliverable",
    "no email address on file",
    "expired: the message is no longer relevant",
    "could not render: 'segments' is undefined",
    "channel sms is not available yet",
    "rejected: SMTPSenderRefused: 553 5.7.1 sender address rejected",
    "rejected: SMTPDataError: 554 5.6.0 message content rejected",
    "rejected: server cannot take this message: SMTPUTF8 not supported",
]
ABOUT_THE_ADDRESS = [
    "rejected: recipient refused: ann@example.com: 550 5.1.1 mailbox unknown",
    "rejected: recipient refused: ann@example.com: 550 no such user here",
    "550 5.1.1 mailbox unknown",
    "bounced: 5.2.1 mailbox disabled",
    "rejected: SMTPResponseException: 551 user not local",
]


@pytest.mark.parametrize("reason", NOT_ABOUT_THE_ADDRESS)
def test_failures_that_say_nothing_about_the_address_leave_it_deliverable(reason: str) -> None:
    assert not address_failed(channel="email", permanent=True, reason=reason)


@pytest.mark.parametrize("reason", ABOUT_THE_ADDRESS)
def test_bounces_and_refused_recipients_make_it_undeliverable(reason: str) -> None:
    assert address_failed(channel="email", permanent=True, reason=reason)


def test_a_temporary_failure_or_another_channel_never_does() -> None:
    reason = ABOUT_THE_ADDRESS[0]
    assert not address_failed(channel="email", permanent=False, reason=reason)
    assert not address_failed(channel="sms", permanent=True, reason=reason)
