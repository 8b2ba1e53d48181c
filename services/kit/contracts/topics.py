"""The topic catalogue: every topic, its owner, its key and the payloads it carries.

Names follow `<owner>.<entity>.v<major>`; only the owner writes. A deployment may
prefix every name (`ITINERA_TOPIC_PREFIX`) so that several environments share a broker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.kit.contracts.bookings import BOOKING_PAYLOADS
from services.kit.contracts.customers import (
    CustomerCreatedV1,
    CustomerMergedV1,
    CustomerRedirectV1,
    CustomerSnapshotV1,
    CustomerUnmergedV1,
    CustomerUpdatedV1,
    ResolvedBookingV1,
)
from services.kit.contracts.envelope import Payload
from services.kit.contracts.feedback import (
    CaseChangedV1,
    CaseEscalatedV1,
    CaseOpenedV1,
    SurveyAnsweredV1,
    SurveyInvitedV1,
)
from services.kit.contracts.notifications import DeliveryFailedV1, DeliveryHeldV1, DeliverySentV1
from services.kit.contracts.preferences import (
    PreferenceChangedV1,
    PreferenceConfirmationRequestedV1,
    PreferenceSnapshotV1,
)
from services.kit.contracts.privacy import CustomerErasedV1, ErasureRequestedV1, ErasureStepDoneV1
from services.kit.contracts.trips import JourneyCaseRequestedV1, JourneyMessageRequestedV1, TripUpdatedV1
from services.kit.contracts.value import (
    AccountManagerAssignedV1,
    CompanyValueSnapshotV1,
    CustomerValueSnapshotV1,
    TierChangedV1,
)

SERVICES = ("profile", "preferences", "feedback", "notifications", "value", "privacy", "trips")


@dataclass(frozen=True)
class TopicSpec:
    name: str
    owner: str
    key: str
    description: str
    payloads: tuple[type[Payload], ...]
    compacted: bool = False
    # Values carry personal data: sealed under the record key's data key on the way out (crypto-shredding,
    # see services.kit.sealed). Dead-letter topics are sealed whatever this says.
    personal: bool = False
    # Whose data key seals a value, when the record key is not the data subject (a compacted topic keyed
    # by another entity, e.g. a trip): the payload field naming the traveller. By default the record key.
    subject_field: str | None = None
    partitions: int = 6
    retention_ms: int | None = None
    configs: dict[str, str] = field(default_factory=dict)

    def physical(self, prefix: str) -> str:
        """The name on the broker for a deployment using `prefix`."""
        return f"{prefix}{self.name}"

    def topic_configs(self) -> dict[str, str]:
        configs = dict(self.configs)
        if self.compacted:
            configs.setdefault("cleanup.policy", "compact")
            configs.setdefault("min.compaction.lag.ms", "60000")
        if self.retention_ms is not None:
            configs.setdefault("retention.ms", str(self.retention_ms))
        return configs


_WEEK_MS = 7 * 24 * 3600 * 1000

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        name="booking.events.v1",
        owner="booking-systems",
        key="`<source_system>:<booking_id>`: all events of one booking stay in order",
        description="Booking lifecycle events emitted by booking systems (the published contract).",
        payloads=BOOKING_PAYLOADS,
        # Not sealed: booking systems write it in clear. What profile consumed is trimmed from it on
        # erasure (`services.kit.kafka.trim_consumed`); profile.bookings.v1 carries it on, sealed.
    ),
    TopicSpec(
        name="profile.customers.v1",
        owner="profile",
        key="customer_id",
        description=(
            "Golden customer records (log-compacted). A merged-away id carries a redirect; "
            "an erased customer a tombstone."
        ),
        payloads=(CustomerSnapshotV1, CustomerRedirectV1),
        compacted=True,
        personal=True,
    ),
    TopicSpec(
        name="profile.customer-events.v1",
        owner="profile",
        key="customer_id (survivor id for merges)",
        description="Changes to customers: created, updated, merged, unmerged.",
        payloads=(CustomerCreatedV1, CustomerUpdatedV1, CustomerMergedV1, CustomerUnmergedV1),
        retention_ms=4 * _WEEK_MS,
        personal=True,
    ),
    TopicSpec(
        name="profile.bookings.v1",
        owner="profile",
        key="customer_id: a customer's bookings stay in order",
        description="Every booking event re-published with the customer it resolved to.",
        payloads=(ResolvedBookingV1,),
        retention_ms=4 * _WEEK_MS,
        personal=True,
    ),
    TopicSpec(
        name="preferences.snapshots.v1",
        owner="preferences",
        key="customer_id",
        description="Effective travel preferences per customer (log-compacted).",
        payloads=(PreferenceSnapshotV1,),
        compacted=True,
        personal=True,
    ),
    TopicSpec(
        name="preferences.changes.v1",
        owner="preferences",
        key="customer_id",
        description="Preference change events.",
        payloads=(PreferenceChangedV1, PreferenceConfirmationRequestedV1),
        personal=True,
    ),
    TopicSpec(
        name="feedback.surveys.v1",
        owner="feedback",
        key="customer_id",
        description="Post-trip survey invitations and answers.",
        payloads=(SurveyInvitedV1, SurveyAnsweredV1),
        personal=True,
    ),
    TopicSpec(
        name="feedback.cases.v1",
        owner="feedback",
        key="customer_id",
        description="Complaint and request cases: opened, changed, escalated past their SLA.",
        payloads=(CaseOpenedV1, CaseChangedV1, CaseEscalatedV1),
        personal=True,
    ),
    TopicSpec(
        name="notifications.deliveries.v1",
        owner="notifications",
        key="customer_id",
        description="What happened to each message: sent, held for quiet hours, failed or suppressed.",
        payloads=(DeliverySentV1, DeliveryHeldV1, DeliveryFailedV1),
        personal=True,
    ),
    TopicSpec(
        name="value.customers.v1",
        owner="value",
        key="customer_id",
        description=(
            "Customer value per traveller (log-compacted): RFM, tier, churn risk, stage, account manager. "
            "A traveller merged away or erased gets a tombstone."
        ),
        payloads=(CustomerValueSnapshotV1,),
        compacted=True,
        personal=True,
    ),
    TopicSpec(
        name="value.companies.v1",
        owner="value",
        key="company_id",
        description="Customer value per company, from its travellers' trips and spend (log-compacted).",
        payloads=(CompanyValueSnapshotV1,),
        compacted=True,
        # Not sealed: a company's aggregates (trips, spend, tier) relate to no one person.
    ),
    TopicSpec(
        name="value.changes.v1",
        owner="value",
        key="customer_id or company_id",
        description="Tier changes with their reason, and account-manager assignments.",
        payloads=(TierChangedV1, AccountManagerAssignedV1),
        retention_ms=52 * _WEEK_MS,
        personal=True,
    ),
    TopicSpec(
        name="trips.trips.v1",
        owner="trips",
        key="trip_id (sealed under the traveller's key: `customer_id`)",
        description=(
            "Trips (log-compacted): a traveller's bookings of one journey, its dates and status. A trip merged "
            "into another names it (`merged_into`)."
        ),
        payloads=(TripUpdatedV1,),
        compacted=True,
        personal=True,
        # Compacted per trip, but the data is the traveller's: sealed under their key, so that shredding
        # it on erasure makes every trip of theirs unreadable (the erasure also tombstones each trip).
        subject_field="customer_id",
    ),
    TopicSpec(
        name="trips.journeys.v1",
        owner="trips",
        key="customer_id",
        description="What journeys ask of other services: a message to the traveller, a case or a call-back task.",
        payloads=(JourneyMessageRequestedV1, JourneyCaseRequestedV1),
        retention_ms=4 * _WEEK_MS,
        personal=True,
    ),
    # Erasure: the request, profile's expansion into ids, and every service's step. Ids and counts only.
    TopicSpec(
        name="privacy.erasures.v1",
        owner="privacy",
        key="erasure_id",
        description="Erasure requests (GDPR art. 17): who asked, why, and which traveller id.",
        payloads=(ErasureRequestedV1,),
        retention_ms=4 * _WEEK_MS,
    ),
    TopicSpec(
        name="profile.erasures.v1",
        owner="profile",
        key="erasure_id",
        description=(
            "A traveller erased by profile (every id they had, their booking record keys), and profile's step done."
        ),
        payloads=(CustomerErasedV1, ErasureStepDoneV1),
        retention_ms=4 * _WEEK_MS,
    ),
    *(
        TopicSpec(
            name=f"{service}.erasures.v1",
            owner=service,
            key="erasure_id",
            description=f"The {service} service finished its part of an erasure.",
            payloads=(ErasureStepDoneV1,),
            retention_ms=4 * _WEEK_MS,
        )
        for service in ("preferences", "feedback", "notifications", "value", "trips")
    ),
    *(
        TopicSpec(
            name=f"{service}.deadletters.v1",
            owner=service,
            key="the original record's key",
            description=(
                f"Records the {service} service could not process: original key, value and headers, "
                "plus dlq.* headers with the reason, source topic/partition/offset and service."
            ),
            payloads=(),
            partitions=1,
            retention_ms=4 * _WEEK_MS,
        )
        for service in SERVICES
    ),
)

_BY_NAME = {spec.name: spec for spec in TOPICS}


def topic_spec(name: str) -> TopicSpec:
    """Look up a topic by its logical name."""
    return _BY_NAME[name]


def dead_letter_topic(service: str) -> str:
    return f"{service}.deadletters.v1"
