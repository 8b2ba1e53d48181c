"""Which delivery failures say that an email address cannot receive mail.

Consent and deliverability are different facts. A message suppressed because the traveller
opted out, one that expired, one that could not be rendered, or one not sent because the
address is already marked says nothing about the address. Only the receiving side saying
no does: a bounce, or the mail server refusing the recipient for good (a 5xx reply to the
recipient, or an enhanced status code of class 5.1 (address) or 5.2 (mailbox), RFC 3463).

Notifications publishes every permanent failure as `DeliveryFailedV1` with a free-text
reason (`permanent` only says that sending the same message again cannot help), so the
reason is what tells them apart; refusals it writes as "rejected: recipient refused: …".
"""

from __future__ import annotations

import re

# What an address failure's reason says: the recipient refused, a bounce, or an enhanced
# status code about the address or the mailbox. Plain 550/551/553 replies count when they
# speak of the mailbox or user (not the sender: a refused sender is our configuration).
_ADDRESS_FAILURE = re.compile(
    r"recipient refused"
    r"|\bbounced?\b"
    r"|(?<![\d.])5\.[12]\.\d{1,3}(?![\d.])"
    r"|\b55[013]\b(?!.*\bsender\b).*\b(mailbox|user|recipient|address)\b",
    re.IGNORECASE,
)


def address_failed(*, channel: str, permanent: bool, reason: str) -> bool:
    """True when a failed delivery shows that the email address itself cannot receive mail."""
    return channel == "email" and permanent and _ADDRESS_FAILURE.search(reason) is not None
