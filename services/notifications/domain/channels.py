"""Which channels a message goes on, and how a text message is cut to size.

Pure Python. A message goes on exactly one channel: the first in the traveller's order
(`comms.channels`, then the others as fallbacks) that is available here, has the traveller's
consent for the message's purpose, and an address. The next such channel is used only when
sending on that one failed for good (`fallbacks`). A template may ask for more
(`CHANNELS_PER_TEMPLATE`): a disruption to a trip goes on up to two, so it is not missed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from services.notifications.domain.model import (
    CHANNELS,
    Channel,
    ConsentRecord,
    Purpose,
    Recipient,
    TemplateName,
    consent_allows,
)

# The order used where the traveller stated none: email first (every traveller has a mailbox
# for their bookings; a text is more intrusive).
DEFAULT_ORDER: tuple[Channel, ...] = ("email", "sms")

# How many channels a message may use. Only a disruption (a booking changed or cancelled) asks
# for more than one: it goes on the traveller's first two usable channels (e.g. SMS and email).
CHANNELS_PER_TEMPLATE: dict[TemplateName, int] = {"booking_changed": 2, "booking_cancelled": 2}

# Why a channel was passed over, for machines (the reason text says it for people).
NOT_AVAILABLE = "channel_unavailable"
NO_CONSENT = "no_consent"
NO_ADDRESS = "no_address"
UNDELIVERABLE = "address_undeliverable"


@dataclass(frozen=True)
class PassedOver:
    channel: Channel
    code: str  # NOT_AVAILABLE | NO_CONSENT | NO_ADDRESS | UNDELIVERABLE
    reason: str


@dataclass(frozen=True)
class ChannelChoice:
    """The channels a message goes on (first is this delivery's; the rest get deliveries of their own)."""

    channels: tuple[Channel, ...]
    addresses: tuple[str, ...]
    passed_over: tuple[PassedOver, ...]
    order: tuple[Channel, ...]
    fallbacks: tuple[Channel, ...] = ()  # usable channels after the chosen ones: tried only if a send fails

    @property
    def note(self) -> str:
        """The decision in words, as agents see it next to the message."""
        parts = []
        if self.channels:
            parts.append(f"{' and '.join(self.channels)} (order: {', '.join(self.order)})")
        parts += [f"not {p.channel}: {p.reason}" for p in self.passed_over]
        return "; ".join(parts)


def channel_order(stated: Iterable[str] = ()) -> tuple[Channel, ...]:
    """The traveller's order of channels this service knows, followed by the others as fallbacks."""
    order: list[Channel] = []
    for name in stated:
        if name in CHANNELS and name not in order:
            order.append(name)  # type: ignore[arg-type]  # checked against CHANNELS
    return (*order, *(c for c in DEFAULT_ORDER if c not in order))


def address_of(recipient: Recipient, channel: Channel) -> PassedOver | str:
    """The recipient's address on a channel, or why there is none."""
    if channel == "sms":
        if not recipient.phone:
            return PassedOver(channel, NO_ADDRESS, "no mobile number on file")
        return recipient.phone
    if not recipient.email:
        return PassedOver(channel, NO_ADDRESS, "no email address on file")
    if not recipient.email_deliverable:
        return PassedOver(channel, UNDELIVERABLE, "email address is marked undeliverable")
    return recipient.email


def choose_channels(
    *,
    purpose: Purpose,
    template: TemplateName,
    order: tuple[Channel, ...],
    consents: Iterable[ConsentRecord],
    recipient: Recipient,
    available: frozenset[Channel],
    limit: int | None = None,
) -> ChannelChoice:
    """The channels a message goes on, in the traveller's order; `limit` overrides the template's rule."""
    records = list(consents)
    wanted = limit if limit is not None else CHANNELS_PER_TEMPLATE.get(template, 1)
    chosen: list[Channel] = []
    addresses: list[str] = []
    passed: list[PassedOver] = []
    fallbacks: list[Channel] = []
    for channel in order:
        if len(chosen) >= wanted:
            usable = channel in available and consent_allows(purpose, channel, records)
            if usable and not isinstance(address_of(recipient, channel), PassedOver):
                fallbacks.append(channel)
            continue
        if channel not in available:
            passed.append(PassedOver(channel, NOT_AVAILABLE, f"channel {channel} is not available"))
            continue
        if not consent_allows(purpose, channel, records):
            passed.append(PassedOver(channel, NO_CONSENT, f"no consent for {purpose} messages by {channel}"))
            continue
        address = address_of(recipient, channel)
        if isinstance(address, PassedOver):
            passed.append(address)
            continue
        chosen.append(channel)
        addresses.append(address)
    return ChannelChoice(tuple(chosen), tuple(addresses), tuple(passed), order, tuple(fallbacks))


# Text messages. GSM 03.38's default alphabet (7 bits a character, 160 in one message, 153 per
# part of a longer one); the extension table's characters take two. Anything else makes the
# whole message UCS-2 (70 in one, 67 per part).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")
_LINK = re.compile(r"https?://\S+")
ELLIPSIS = "…"


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # "GSM-7" | "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def sms_length(text: str) -> SmsLength:
    """How a text is encoded and how many messages it takes."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text):
        units = sum(2 if c in _GSM_EXTENDED else 1 for c in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else -(-units // part)
    return SmsLength(encoding, units, segments)


def first_link(text: str) -> str | None:
    match = _LINK.search(text)
    return match.group(0) if match else None


def sms_text(*, brand: str, subject: str, body: str, max_segments: int) -> str:
    """The short form of a message: `<brand>: <subject>` and its first link, in at most `max_segments` parts.

    Too long (a long subject, or one non-GSM character turning it all into UCS-2) is truncated at a
    word with an ellipsis; the link is kept whole, since it is what the traveller acts on.
    """
    link = first_link(body)
    tail = f" {link}" if link else ""
    head = f"{brand}: {subject}".strip()
    if sms_length(head + tail).segments <= max_segments:
        return head + tail
    words = head.split(" ")
    while len(words) > 1:
        words.pop()
        candidate = " ".join(words).rstrip(".,;:") + ELLIPSIS + tail
        if sms_length(candidate).segments <= max_segments:
            return candidate
    # Not even the first word fits beside the link: characters, then.
    text = head
    while text and sms_length(text + ELLIPSIS + tail).segments > max_segments:
        text = text[:-1]
    return (text + ELLIPSIS + tail) if text else (link or ELLIPSIS)
