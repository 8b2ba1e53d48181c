"""What the dispatcher tells others about a delivery (`notifications.deliveries.v1`)."""

from __future__ import annotations

from datetime import datetime

from services.kit.contracts.notifications import DeliveryFailedV1, DeliveryHeldV1, DeliverySentV1
from services.notifications.domain.model import QUIET_HOURS, Channel, Decision, Defer, Drop, PendingDelivery, Send

DeliveryReport = DeliverySentV1 | DeliveryHeldV1 | DeliveryFailedV1


def delivery_report(
    d: PendingDelivery,
    decision: Decision,
    *,
    customer_id: str,
    cause_event_id: str,
    at: datetime,
    channel: Channel | None = None,
) -> DeliveryReport | None:
    """The event a decision calls for: sent, held for quiet hours, failed or suppressed; none for other waits.

    A hold is reported so that others (the agent console, feedback's survey list) can tell a
    held message from a sent one; waiting for contact data or a retry is the service's own business.
    `channel`: the one the message was decided for (a delivery's channel is chosen when it is sent).
    """
    common = {
        "delivery_id": d.delivery_id,
        "customer_id": customer_id,
        "channel": channel or d.channel,
        "template": d.template,
    }
    if isinstance(decision, Send):
        return DeliverySentV1(**common, purpose=d.purpose, sent_at=at, cause_event_id=cause_event_id)
    if isinstance(decision, Defer):
        if decision.reason != QUIET_HOURS:
            return None
        return DeliveryHeldV1(
            **common, purpose=d.purpose, reason="quiet_hours", held_until=decision.until, time_zone=decision.zone,
            cause_event_id=cause_event_id,
        )  # fmt: skip
    assert isinstance(decision, Drop)
    return DeliveryFailedV1(
        **common, reason=decision.reason, permanent=decision.permanent, failed_at=at, status=decision.status,
        reason_code=decision.code, purpose=d.purpose, cause_event_id=cause_event_id,
    )  # fmt: skip
