"""The notifications domain: what to send, to whom, when, and whether at all.

Pure Python: no database, no broker, no mail server. The service layer loads the facts
(the pending delivery, the customer's entry in the view, consents, quiet hours), asks
`decide()` what to do, and carries the decision out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal, cast, get_args

from services.kit.contracts.notifications import FailureCode
from services.kit.dates import aware_instant
from services.notifications.domain.quiet_hours import (
    DEFAULT_QUIET_HOURS,
    QuietHours,
    quiet_hours_end,
    send_not_before,
)
from services.notifications.domain.zones import Mark, Whereabouts, resolve_zone, zone_label

__all__ = [
    "DEFAULT_QUIET_HOURS",
    "QuietHours",
    "quiet_hours_end",
    "resolve_zone",
    "send_not_before",
]

Purpose = Literal["transactional", "service", "marketing"]
Channel = Literal["email", "sms"]
Status = Literal["pending", "sending", "sent", "failed", "suppressed"]
TemplateName = Literal[
    "booking_confirmation",
    "booking_changed",
    "booking_cancelled",
    "survey_invitation",
    "preference_question",
    "digest",  # several non-urgent messages in one (see `digest`)
]

PURPOSES: tuple[Purpose, ...] = get_args(Purpose)
CHANNELS: tuple[Channel, ...] = get_args(Channel)
STATUSES: tuple[Status, ...] = get_args(Status)
TEMPLATES: tuple[TemplateName, ...] = get_args(TemplateName)
LANGUAGES = ("en", "de", "zh")  # every template exists in each (a unit test holds them to it)

# The purpose a template is sent for unless the plan says otherwise.
TEMPLATE_PURPOSE: dict[TemplateName, Purpose] = {
    "booking_confirmation": "transactional",
    "booking_changed": "transactional",
    "booking_cancelled": "transactional",
    "survey_invitation": "service",
    "preference_question": "service",
}
_BOOKING_TEMPLATES: dict[str, TemplateName] = {
    "created": "booking_confirmation",
    "changed": "booking_changed",
    "cancelled": "booking_cancelled",
}

# Why a pending delivery is not sent yet.
WAITING_FOR_CONTACT = "waiting_for_contact"
QUIET_HOURS = "quiet_hours"
RETRY = "retry"

PRIMARY = "primary"  # the leg of a delivery whose channel is chosen when it is sent


def template_for_booking(kind: str) -> TemplateName | None:
    """The message a booking event of `kind` calls for; trip start/end call for none."""
    return _BOOKING_TEMPLATES.get(kind)


@dataclass(frozen=True)
class DeliveryPlan:
    """A message the service has decided should reach a customer (planned, not yet sent).

    `cause_id` identifies the fact that caused it (the booking system's event id, the
    survey invitation's event id); one cause yields at most one message per template
    and channel, however often the event is delivered or re-published.
    """

    delivery_id: str
    customer_id: str
    template: TemplateName
    purpose: Purpose
    cause_id: str
    cause_event_id: str
    cause_event_type: str
    correlation_id: str
    context: Mapping[str, Any]
    channel: Channel = "email"
    expires_at: datetime | None = None


@dataclass(frozen=True)
class PendingDelivery:
    """A planned delivery as the dispatcher sees it when it comes due."""

    delivery_id: str
    customer_id: str
    channel: Channel
    template: TemplateName
    purpose: Purpose
    created_at: datetime
    attempts: int = 0  # send attempts made so far
    lookups: int = 0  # times the customer was not in the view yet
    expires_at: datetime | None = None
    send_now: bool = False  # an agent released it: quiet hours no longer hold it (consent still applies)
    # PRIMARY: the message itself, its channel chosen when it is sent; else the extra channel
    # (`channel`) a disruption also goes on.
    leg: str = "primary"
    digest_id: str | None = None  # the digest window it waited in (let out of it: it goes on its own)


@dataclass(frozen=True)
class Recipient:
    """Contact data of a customer, as the shared customer view holds it."""

    customer_id: str
    display_name: str
    given_name: str | None = None
    email: str | None = None
    email_deliverable: bool = True
    phone: str | None = None  # E.164, as profile normalised it
    company_id: str | None = None
    language: str | None = None
    time_zone: str | None = None  # profile's zone for the traveller: their home (it knows no itineraries)
    home_time_zone: str | None = None

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any]) -> Recipient:
        """Read the fields this service needs from a customer snapshot (unknown fields ignored)."""
        return cls(
            customer_id=str(snapshot["customer_id"]),
            display_name=str(snapshot.get("display_name") or ""),
            given_name=snapshot.get("given_name"),
            email=snapshot.get("email"),
            email_deliverable=bool(snapshot.get("email_deliverable", True)),
            phone=snapshot.get("phone"),
            company_id=snapshot.get("company_id"),
            language=snapshot.get("language"),
            time_zone=snapshot.get("time_zone"),
            home_time_zone=snapshot.get("home_time_zone"),
        )

    @property
    def salutation_name(self) -> str:
        return self.given_name or self.display_name


@dataclass(frozen=True)
class ConsentRecord:
    """An explicit consent decision of a customer for one purpose on one channel.

    `decided_at` orders decisions made in different places (this service's consent API,
    the traveller's stated communication preferences); a record without it counts as
    older than any dated one.
    """

    purpose: Purpose
    channel: Channel
    granted: bool
    decided_at: datetime | None = None


_NEVER = datetime.min.replace(tzinfo=UTC)


def deciding_consent(purpose: Purpose, channel: Channel, records: Iterable[ConsentRecord]) -> ConsentRecord | None:
    """The decision that counts for a purpose and channel: the latest; at the same time (or
    undated, e.g. from customers that were merged) a revocation before a grant. None: no decision."""
    relevant = [r for r in records if r.purpose == purpose and r.channel == channel]
    return max(relevant, key=lambda r: (r.decided_at or _NEVER, not r.granted), default=None)


def consent_allows(purpose: Purpose, channel: Channel, records: Iterable[ConsentRecord]) -> bool:
    """Whether a message may be sent.

    Transactional and service emails are allowed unless the customer's deciding decision
    (`deciding_consent`) revoked them; marketing needs it to be an opt-in, and so does every text
    message: a phone number given for a booking is not consent to be texted.
    """
    decision = deciding_consent(purpose, channel, records)
    if decision is None:
        return purpose != "marketing" and channel == "email"
    return decision.granted


@dataclass(frozen=True)
class CommunicationPreferences:
    """What the traveller's preferences snapshot (shared customer view) says about messages.

    Only consents the traveller stated, or an agent recorded for them, count as consent:
    an inferred or policy-imposed value is never a decision of the traveller.
    """

    consents: tuple[ConsentRecord, ...] = ()
    quiet_hours: QuietHours | None = None
    quiet_hours_at: datetime | None = None
    language: str | None = None
    home_time_zone: str | None = None
    channels: tuple[str, ...] = ()  # the traveller's channels in order of preference (comms.channels)
    language_source: str | None = None  # `stated`/`agent`: the traveller's word; `policy`: their company's default

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any]) -> CommunicationPreferences:
        channels: tuple[str, ...] = ()
        consents: list[ConsentRecord] = []
        quiet: QuietHours | None = None
        quiet_at: datetime | None = None
        language: str | None = None
        language_source: str | None = None
        home_zone: str | None = None
        for pref in snapshot.get("preferences") or ():
            key, value, source = pref.get("key"), pref.get("value"), pref.get("source")
            seen = aware_instant(pref.get("last_seen"))
            if isinstance(key, str) and key.startswith("comms.consent.") and isinstance(value, bool):
                purpose = key.removeprefix("comms.consent.")
                if purpose in PURPOSES and source in ("stated", "agent"):
                    consents += [ConsentRecord(purpose, ch, value, seen) for ch in CHANNELS]  # type: ignore[arg-type]  # checked against PURPOSES
            elif key == "comms.quiet_hours" and isinstance(value, dict):
                try:
                    quiet = QuietHours(start=time.fromisoformat(value["start"]), end=time.fromisoformat(value["end"]))
                    quiet_at = seen
                except (KeyError, TypeError, ValueError):
                    continue
            elif key == "comms.language" and isinstance(value, str):
                language, language_source = value, str(source) if source else None
            elif key == "comms.home_time_zone" and isinstance(value, str):
                home_zone = value
            elif key == "comms.channels" and isinstance(value, list):
                channels = tuple(str(v) for v in value)
        return cls(tuple(consents), quiet, quiet_at, language, home_zone, channels, language_source)


def effective_quiet_hours(
    own: QuietHours | None, own_at: datetime | None, preferences: CommunicationPreferences | None
) -> QuietHours | None:
    """The customer's quiet hours: the more recent of this service's record and the stated preference."""
    if preferences is None or preferences.quiet_hours is None:
        return own
    if own is None:
        return preferences.quiet_hours
    if (own_at or _NEVER) >= (preferences.quiet_hours_at or _NEVER):
        return own
    return preferences.quiet_hours


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: base, 2*base, 4*base, ... capped; at most `max_attempts` tries."""

    base: timedelta
    cap: timedelta
    max_attempts: int

    def delay(self, attempt: int) -> timedelta:
        """The wait after the `attempt`-th failed try (1-based)."""
        factor = 1 << max(0, min(attempt - 1, 32))
        return min(self.base * factor, self.cap)

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


# Decisions the dispatcher carries out.


@dataclass(frozen=True)
class Send:
    recipient: Recipient
    address: str
    language: str
    channel: Channel = "email"
    also: tuple[Channel, ...] = ()  # further channels the message goes on (deliveries of their own)
    fallbacks: tuple[Channel, ...] = ()  # the next usable channels, tried only if sending on `channel` fails for good
    note: str = field(default="", compare=False)  # the channel decision in words (for people, not for equality)
    language_note: str = field(default="", compare=False)  # where the language came from (`zh (profile)`)
    where: Whereabouts | None = field(default=None, compare=False)  # the traveller's zone over time, for times


@dataclass(frozen=True)
class Defer:
    until: datetime
    reason: str  # WAITING_FOR_CONTACT | QUIET_HOURS | RETRY
    zone: str | None = None  # for QUIET_HOURS: the zone the traveller's window was read in


@dataclass(frozen=True)
class Drop:
    """The delivery ends without a message: `failed`, or `suppressed` by the customer's choice.

    `permanent` tells consumers of DeliveryFailedV1 whether retrying the same message
    later could succeed (an outage, a consent given again) or not (a rejected address);
    `code` says why for machines: only `recipient_rejected` is a fault of the address.
    """

    status: Literal["failed", "suppressed"]
    reason: str
    permanent: bool
    code: FailureCode


Decision = Send | Defer | Drop


@dataclass(frozen=True)
class DispatchRules:
    quiet_hours: QuietHours
    contact_retry: RetryPolicy
    contact_wait: timedelta
    default_language: str = "en"


def decide(
    *,
    delivery: PendingDelivery,
    recipient: Recipient | None,
    consents: Iterable[ConsentRecord],
    quiet_hours: QuietHours | None,
    rules: DispatchRules,
    now: datetime,
    preferences: CommunicationPreferences | None = None,
    itinerary: Iterable[Mark] = (),
    available: frozenset[Channel] = frozenset({"email"}),
) -> Decision:
    """What to do with a due delivery, given what the service knows about its customer now.

    `consents` and `quiet_hours` are this service's own records; `preferences` is what the
    traveller's preferences snapshot says (its consents join the others, latest decision
    first; its language comes before the profile's). Quiet hours are read in the zone the
    traveller is in (`where_is`).
    """
    if preferences is not None:
        consents = [*consents, *preferences.consents]
    if delivery.expires_at is not None and now >= delivery.expires_at:
        return Drop("failed", "expired: the message is no longer relevant", permanent=True, code="expired")
    if recipient is None:
        if now >= delivery.created_at + rules.contact_wait:
            reason = "no contact data: the customer never appeared in the customer view"
            return Drop("failed", reason, permanent=False, code="no_contact_data")
        return Defer(now + rules.contact_retry.delay(delivery.lookups + 1), WAITING_FOR_CONTACT)
    from services.notifications.domain.channels import NO_CONSENT, NOT_AVAILABLE, channel_order, choose_channels

    consents = list(consents)
    primary = delivery.leg == PRIMARY
    choice = choose_channels(
        purpose=delivery.purpose,
        template=delivery.template,
        order=channel_order(preferences.channels if preferences is not None else ())
        if primary
        else (delivery.channel,),
        consents=consents,
        recipient=recipient,
        available=available,
        limit=None if primary else 1,
    )
    if not choice.channels:
        return _no_channel(choice.passed_over, NO_CONSENT, NOT_AVAILABLE)
    if not delivery.send_now:
        where = where_is(recipient, preferences, itinerary)
        window = quiet_hours or rules.quiet_hours
        later = send_not_before(purpose=delivery.purpose, now=now, window=window, zone=where)
        if later is not None:
            return Defer(later, QUIET_HOURS, zone=zone_label(where.zone_at(now)))
    from services.notifications.domain.languages import choose_language

    language = choose_language(recipient=recipient, preferences=preferences, default=rules.default_language)
    return Send(
        recipient,
        choice.addresses[0],
        language.language,
        channel=choice.channels[0],
        also=choice.channels[1:],
        fallbacks=choice.fallbacks if primary else (),
        note=choice.note,
        language_note=language.note,
        where=where_is(recipient, preferences, itinerary),
    )


def _no_channel(passed: Iterable[Any], no_consent: str, not_available: str) -> Drop:
    """No channel can carry the message: suppressed when the traveller's choices are why, else failed."""
    usable = [p for p in passed if p.code != not_available]
    if not usable:
        reason = "; ".join(p.reason for p in passed) or "no channel is available"
        return Drop("failed", reason, permanent=True, code="channel_unavailable")
    reason = "; ".join(p.reason for p in usable)
    if all(p.code == no_consent for p in usable):
        # The traveller's choice, not a fault of the address; a later consent lifts it.
        return Drop("suppressed", reason, permanent=False, code="no_consent")
    code = next(p.code for p in usable if p.code != no_consent)  # NO_ADDRESS or UNDELIVERABLE
    return Drop("failed", reason, permanent=True, code=cast(FailureCode, code))


def where_is(
    recipient: Recipient, preferences: CommunicationPreferences | None, itinerary: Iterable[Mark] = ()
) -> Whereabouts:
    """The traveller's zone over time: where the itinerary puts them, else at home.

    Home is the zone the traveller stated (comms.home_time_zone) before the one profile
    publishes, which may be derived (phone or company country): their own word wins.
    """
    stated = preferences.home_time_zone if preferences is not None else None
    home = resolve_zone(stated, recipient.home_time_zone, recipient.time_zone)
    return Whereabouts.of(home, itinerary)


def after_failed_send(
    *, attempts: int, error: str, permanent: bool, policy: RetryPolicy, now: datetime, recipient_refused: bool = False
) -> Decision:
    """What follows a send attempt that failed: retry later, or give up.

    `recipient_refused`: the server refused the recipient itself (not the message, not the
    connection), the one failure that says the address is bad.
    """
    if permanent:
        code: FailureCode = "recipient_rejected" if recipient_refused else "message_rejected"
        return Drop("failed", f"rejected: {error}", permanent=True, code=code)
    if policy.exhausted(attempts):
        return Drop("failed", f"gave up after {attempts} attempts: {error}", permanent=False, code="gave_up")
    return Defer(now + policy.delay(attempts), RETRY)
