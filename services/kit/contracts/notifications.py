"""What the notifications service publishes: what happened to each message."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from services.kit.contracts.envelope import Payload

Channel = Literal["email", "sms", "push", "chat"]


class DeliverySentV1(Payload):
    """A message was accepted by the channel's server."""

    event_type = "delivery.sent"
    schema_version = 1

    delivery_id: str
    customer_id: str
    channel: Channel
    template: str
    purpose: Literal["transactional", "service", "marketing"]
    sent_at: AwareDatetime


class DeliveryFailedV1(Payload):
    """A message could not be delivered (permanent failures include bounces)."""

    event_type = "delivery.failed"
    schema_version = 1

    delivery_id: str
    customer_id: str
    channel: Channel
    template: str
    reason: str
    permanent: bool
    failed_at: AwareDatetime
