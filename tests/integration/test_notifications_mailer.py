"""The SMTP mailer against real SMTP servers: what is accepted, what fails and how."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from services.notifications.adapters.mailer import SendError, SmtpConfig, SmtpMailer, build_email
from services.notifications.domain.messages import RenderedMessage
from tests.harness import SmtpServer

pytestmark = pytest.mark.integration

RENDERED = RenderedMessage(subject="Your trip to Zürich", text="Hello", html="<p>Hello</p>", language="de")


def _message(to: str) -> EmailMessage:
    return build_email(
        rendered=RENDERED,
        to=to,
        mail_from="Itinera <trips@itinera.example>",
        delivery_id="dlv_test",
        correlation_id="cor_test",
    )


def _running(*, smtputf8: bool) -> Iterator[SmtpServer]:
    server = SmtpServer(smtputf8=smtputf8)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_plain() -> Iterator[SmtpServer]:
    """A server without SMTPUTF8."""
    yield from _running(smtputf8=False)


@pytest.fixture
def smtp_utf8() -> Iterator[SmtpServer]:
    yield from _running(smtputf8=True)


async def test_internationalised_address_is_delivered_where_the_server_supports_smtputf8(
    smtp_utf8: SmtpServer,
) -> None:
    mailer = SmtpMailer(SmtpConfig(host="127.0.0.1", port=smtp_utf8.port, timeout=5))
    await mailer.send(_message("jürgen@bücher.example"))
    received = await smtp_utf8.wait_for(lambda m: m["Message-ID"] == "<dlv_test@itinera.example>")
    assert received["To"] == "jürgen@bücher.example"
    assert smtp_utf8.collector.envelopes[-1][1] == ["jürgen@bücher.example"]


async def test_internationalised_address_to_a_server_without_smtputf8_fails_permanently(
    smtp_plain: SmtpServer,
) -> None:
    mailer = SmtpMailer(SmtpConfig(host="127.0.0.1", port=smtp_plain.port, timeout=5))
    with pytest.raises(SendError) as caught:
        await mailer.send(_message("jürgen@bücher.example"))
    assert caught.value.permanent, "retrying cannot help: the server does not take SMTPUTF8"
    assert "SMTPUTF8" in str(caught.value)
    assert smtp_plain.messages == []


async def test_ascii_address_to_a_server_without_smtputf8_is_delivered(smtp_plain: SmtpServer) -> None:
    mailer = SmtpMailer(SmtpConfig(host="127.0.0.1", port=smtp_plain.port, timeout=5))
    await mailer.send(_message("ann.lee@example.com"))
    await smtp_plain.wait_for(lambda m: m["To"] == "ann.lee@example.com")


async def test_unreachable_server_is_a_temporary_failure() -> None:
    server = SmtpServer()
    server.start()
    port = server.port
    server.stop()
    mailer = SmtpMailer(SmtpConfig(host="127.0.0.1", port=port, timeout=2))
    with pytest.raises(SendError) as caught:
        await mailer.send(_message("ann.lee@example.com"))
    assert not caught.value.permanent
