"""Digests: non-urgent messages for a traveller within a window, combined into one message.

Pure Python. The first non-urgent message of a traveller opens a window (`window`, a setting);
every non-urgent message planned for them while it is open waits in it, and when it closes the
items go out as one message in the traveller's language (`digest` template), on one channel,
subject to consent and quiet hours like any message. A window that closes with a single item
left sends it as itself. Transactional messages (confirmations, changes, cancellations) are
never digested: they are what the traveller acts on now; nor are a gold-tier traveller's
messages (the value service's tier in the customer view): each of theirs goes as it comes.

A digest carries one purpose (a window per traveller and purpose), so the consent that decides
it decides each of its items alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.notifications.domain.model import Purpose, TemplateName

DIGEST: TemplateName = "digest"
DIGEST_WINDOW = "digest_window"  # hold reason of the digest itself while its window is open
IN_DIGEST = "digest"  # hold reason of an item waiting in a digest

# Messages that can wait for a digest besides every marketing message: survey invitations and
# questions about inferred preferences (asking, not telling).
NON_URGENT: frozenset[str] = frozenset({"survey_invitation", "preference_question"})


def digestible(template: str, purpose: Purpose) -> bool:
    """Whether a message may wait in a digest: non-urgent, never transactional."""
    if purpose == "transactional" or template == DIGEST:
        return False
    return purpose == "marketing" or template in NON_URGENT


@dataclass(frozen=True)
class DigestItem:
    """A message waiting in a digest."""

    delivery_id: str
    template: TemplateName
    purpose: Purpose
    context: Mapping[str, Any]
    created_at: datetime
    cause_event_id: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Composition:
    """What a closing window becomes: one message of `combined`, and items to `release` as themselves."""

    combined: tuple[DigestItem, ...]
    release: tuple[DigestItem, ...]


def compose(items: Iterable[DigestItem], *, now: datetime) -> Composition:
    """Combine the live items (two or more); expired items and a lone item go their own way.

    A released item is decided on its own: an expired one ends as expired, a lone one is sent
    as the message it is (a digest of one would only hide its subject).
    """
    ordered = sorted(items, key=lambda i: (i.created_at, i.delivery_id))
    live = tuple(i for i in ordered if i.expires_at is None or i.expires_at > now)
    expired = tuple(i for i in ordered if i not in live)
    if len(live) < 2:
        return Composition((), (*expired, *live))
    return Composition(live, expired)


def first_link(context: Mapping[str, Any]) -> str | None:
    """The link an item's traveller acts on (its survey or answer page), if it has one."""
    for key in ("survey_url", "answer_url", "url"):
        value = context.get(key)
        if isinstance(value, str) and value:
            return value
    return None
