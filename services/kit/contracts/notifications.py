"""What the notifications service publishes: what happened to each message."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from services.kit.contracts.envelope import Payload

Channel = Literal["email", "sms", "push", "chat"]
Purpose = Literal["transactional", "service", "marketing"]

# Why a message did not go out, for machines (`reason` is for people). Only
# `recipient_rejected` says anything about the address itself: the receiving mail server
# refused the recipient for good (a hard failure, 5xx). Everything else - the traveller's
# choice (`no_consent`), a message that lost its point (`expired`, `cancelled`), our own
# trouble (`render_failed`, `gave_up`) - leaves the address as good as it was.
FailureCode = Literal[
    "no_consent",
    "recipient_rejected",
    "address_undeliverable",
    "no_address",
    "no_contact_data",
    "message_rejected",
    "channel_unavailable",
    "render_failed",
    "expired",
    "cancelled",
    "gave_up",
]
ADDRESS_FAILURES: frozenset[str] = frozenset({"recipient_rejected"})


class DeliverySentV1(Payload):
    """A message was accepted by the channel's server."""

    event_type = "delivery.sent"
    schema_version = 1

    delivery_id: str
    customer_id: str
    channel: Channel
    template: str
    purpose: Purpose
    sent_at: AwareDatetime
    cause_event_id: str | None = Field(
        default=None, description="The event that called for the message (e.g. a SurveyInvitedV1's event_id)"
    )


class DeliveryFailedV1(Payload):
    """A message did not go out and will not: it failed, or it was suppressed by the traveller's choice.

    `status` tells the two apart: `suppressed` (no consent for the purpose and channel) is a
    decision of the traveller, never a fault of the address. Only a failure with
    `reason_code` `recipient_rejected` (the server refused the recipient for good) means
    the address is undeliverable. `permanent` says whether sending the same message
    again could succeed (an outage: yes); a suppression is never permanent, since a later
    consent lifts it.
    """

    event_type = "delivery.failed"
    schema_version = 1

    delivery_id: str
    customer_id: str
    channel: Channel
    template: str
    reason: str
    permanent: bool
    failed_at: AwareDatetime
    status: Literal["failed", "suppressed"] = "failed"
    reason_code: FailureCode | None = None
    purpose: Purpose | None = None
    cause_event_id: str | None = Field(
        default=None, description="The event that called for the message (e.g. a SurveyInvitedV1's event_id)"
    )

    @property
    def address_failed(self) -> bool:
        """Whether this outcome proves the address undeliverable (the recipient was refused for good)."""
        return self.status == "failed" and self.reason_code in ADDRESS_FAILURES


class DeliveryHeldV1(Payload):
    """A message waits on purpose: the traveller's quiet hours (in their current time zone)."""

    event_type = "delivery.held"
    schema_version = 1

    delivery_id: str
    customer_id: str
    channel: Channel
    template: str
    purpose: Purpose
    reason: Literal["quiet_hours"]
    held_until: AwareDatetime
    time_zone: str | None = Field(default=None, description="The IANA zone the quiet hours were applied in")
    cause_event_id: str | None = None
