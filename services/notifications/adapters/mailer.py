"""Sending email over SMTP (aiosmtplib), with failures classified as temporary or permanent."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Protocol

import aiosmtplib

from services.notifications.domain.messages import RenderedMessage


class SendError(Exception):
    """The server did not take the message. `permanent`: retrying the same message cannot help (5xx).

    `recipient_refused`: what the server refused was the recipient (RCPT TO), not the message
    or the session - the one failure that says the address itself is bad.
    """

    def __init__(self, message: str, *, permanent: bool, recipient_refused: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.recipient_refused = recipient_refused


class Mailer(Protocol):
    """Hands one message to a mail server; raises SendError when it is not accepted."""

    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 30.0


class SmtpMailer:
    """One SMTP connection per message; 4xx and connection problems are temporary, 5xx permanent.

    A message the server cannot take as it is (an internationalised address to a server
    without SMTPUTF8) is a permanent failure too: sending it again changes nothing.
    """

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config

    async def send(self, message: EmailMessage) -> None:
        c = self._config
        try:
            refused, _ = await aiosmtplib.send(
                message,
                hostname=c.host,
                port=c.port,
                username=c.username,
                password=c.password,
                start_tls=c.starttls,
                timeout=c.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            permanent = all(_permanent(code) for code in codes)
            raise SendError(f"recipient refused: {detail}", permanent=permanent, recipient_refused=True) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            raise SendError(f"server cannot take this message: {exc}", permanent=True) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise SendError(f"{type(exc).__name__}: {exc.code} {exc.message}", permanent=_permanent(exc.code)) from exc
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            raise SendError(f"{type(exc).__name__}: {exc}", permanent=False) from exc
        if refused:
            # One recipient per message, so a partial refusal is a refusal.
            detail = "; ".join(f"{rcpt}: {resp.code} {resp.message}" for rcpt, resp in refused.items())
            permanent = all(_permanent(r.code) for r in refused.values())
            raise SendError(f"recipient refused: {detail}", permanent=permanent, recipient_refused=True)


def _permanent(code: int) -> bool:
    return 500 <= code < 600


def build_email(
    *, rendered: RenderedMessage, to: str, mail_from: str, delivery_id: str, correlation_id: str
) -> EmailMessage:
    """A multipart/alternative message (text first, HTML preferred) for one recipient.

    The Message-ID derives from the delivery id, so a resend after a crash is
    recognisably the same message.
    """
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "itinera.invalid"
    msg = EmailMessage()
    msg["Subject"] = rendered.subject
    msg["From"] = mail_from
    msg["To"] = to
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = f"<{delivery_id}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    msg["X-Itinera-Delivery-Id"] = delivery_id
    msg["X-Correlation-Id"] = correlation_id
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    # After the parts exist: making the message multipart moves Content-* headers into its first part.
    msg["Content-Language"] = rendered.language
    return msg
