"""The notifications domain: what to send, to whom, when, and whether at all.

Pure Python: no database, no broker, no mail server. The service layer loads the facts
(the pending delivery, the customer's entry in the view, consents, quiet hours), asks
`decide()` what to do, and carries the decision out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Purpose = Literal["transactional", "service", "marketing"]
Channel = Literal["email", "sms"]
Status = Literal["pending", "sending", "sent", "failed", "suppressed"]
TemplateName = Literal[
    "booking_confirmation", "booking_changed", "booking_cancelled", "survey_invitation", "preference_question"
]

PURPOSES: tuple[Purpose, ...] = get_args(Purpose)
CHANNELS: tuple[Channel, ...] = get_args(Channel)
STATUSES: tuple[Status, ...] = get_args(Status)
TEMPLATES: tuple[TemplateName, ...] = get_args(TemplateName)
LANGUAGES = ("en", "de")

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


@dataclass(frozen=True)
class Recipient:
    """Contact data of a customer, as the shared customer view holds it."""

    customer_id: str
    display_name: str
    given_name: str | None = None
    email: str | None = None
    email_deliverable: bool = True
    language: str | None = None
    time_zone: str | None = None
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

    Transactional and service messages are allowed unless the customer's deciding decision
    (`deciding_consent`) revoked them; marketing needs it to be an opt-in.
    """
    decision = deciding_consent(purpose, channel, records)
    if decision is None:
        return purpose != "marketing"
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

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any]) -> CommunicationPreferences:
        consents: list[ConsentRecord] = []
        quiet: QuietHours | None = None
        quiet_at: datetime | None = None
        language: str | None = None
        home_zone: str | None = None
        for pref in snapshot.get("preferences") or ():
            key, value, source = pref.get("key"), pref.get("value"), pref.get("source")
            seen = _aware(pref.get("last_seen"))
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
                language = value
            elif key == "comms.home_time_zone" and isinstance(value, str):
                home_zone = value
        return cls(tuple(consents), quiet, quiet_at, language, home_zone)


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


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
class QuietHours:
    """A daily window, in the traveller's local time, in which non-urgent messages wait.

    `start > end` means the window crosses midnight (22:00-07:00); `start == end` is empty.
    """

    start: time
    end: time
    enabled: bool = True

    def contains(self, local: time) -> bool:
        local = local.replace(tzinfo=None)
        if not self.enabled or self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


DEFAULT_QUIET_HOURS = QuietHours(start=time(22, 0), end=time(7, 0))


def resolve_zone(*names: str | None) -> tzinfo:
    """The first valid IANA zone among `names`, else UTC."""
    for name in names:
        if not name:
            continue
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return UTC


def quiet_hours_end(now: datetime, window: QuietHours, zone: tzinfo) -> datetime | None:
    """When the quiet window around `now` ends (UTC), or None when `now` is not in it."""
    local = now.astimezone(zone)
    if not window.contains(local.time()):
        return None
    end_date = local.date()
    if window.start > window.end and local.time() >= window.start:
        end_date += timedelta(days=1)  # evening part of a window that crosses midnight
    # A wall time that does not exist (DST gap) resolves to just after the gap.
    end = datetime.combine(end_date, window.end, tzinfo=zone).astimezone(UTC)
    return end if end > now else None


def send_not_before(*, purpose: Purpose, now: datetime, window: QuietHours, zone: tzinfo) -> datetime | None:
    """When a message may go out: None for now; transactional messages ignore quiet hours."""
    if purpose == "transactional":
        return None
    return quiet_hours_end(now, window, zone)


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


def pick_language(requested: str | None, *, default: str = "en") -> str:
    """A supported language for `requested` ('de', 'de-DE', 'DE_at'), else the default."""
    if requested:
        code = requested.strip().replace("_", "-").split("-", 1)[0].lower()
        if code in LANGUAGES:
            return code
    return default if default in LANGUAGES else "en"


# Decisions the dispatcher carries out.


@dataclass(frozen=True)
class Send:
    recipient: Recipient
    address: str
    language: str


@dataclass(frozen=True)
class Defer:
    until: datetime
    reason: str  # WAITING_FOR_CONTACT | QUIET_HOURS | RETRY


@dataclass(frozen=True)
class Drop:
    """The delivery ends without a message: `failed`, or `suppressed` by the customer's choice.

    `permanent` tells consumers of DeliveryFailedV1 whether retrying the same message
    later could succeed (an outage) or not (a rejected address, a missing consent).
    """

    status: Literal["failed", "suppressed"]
    reason: str
    permanent: bool


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
) -> Decision:
    """What to do with a due delivery, given what the service knows about its customer now.

    `consents` and `quiet_hours` are this service's own records; `preferences` is what the
    traveller's preferences snapshot says (its consents join the others, latest decision
    first; its language and home time zone come before the profile's).
    """
    if preferences is not None:
        consents = [*consents, *preferences.consents]
    if delivery.expires_at is not None and now >= delivery.expires_at:
        return Drop("failed", "expired: the message is no longer relevant", permanent=True)
    if recipient is None:
        if now >= delivery.created_at + rules.contact_wait:
            return Drop("failed", "no contact data: the customer never appeared in the customer view", permanent=False)
        return Defer(now + rules.contact_retry.delay(delivery.lookups + 1), WAITING_FOR_CONTACT)
    if not consent_allows(delivery.purpose, delivery.channel, consents):
        return Drop("suppressed", f"no consent for {delivery.purpose} messages by {delivery.channel}", permanent=True)
    if delivery.channel != "email":
        return Drop("failed", f"channel {delivery.channel} is not available yet", permanent=True)
    if not recipient.email:
        return Drop("failed", "no email address on file", permanent=True)
    if not recipient.email_deliverable:
        return Drop("failed", "email address is marked undeliverable", permanent=True)
    stated_zone = preferences.home_time_zone if preferences is not None else None
    zone = resolve_zone(recipient.time_zone, stated_zone, recipient.home_time_zone)
    later = send_not_before(purpose=delivery.purpose, now=now, window=quiet_hours or rules.quiet_hours, zone=zone)
    if later is not None:
        return Defer(later, QUIET_HOURS)
    stated_language = preferences.language if preferences is not None else None
    language = pick_language(stated_language or recipient.language, default=rules.default_language)
    return Send(recipient, recipient.email, language)


def after_failed_send(*, attempts: int, error: str, permanent: bool, policy: RetryPolicy, now: datetime) -> Decision:
    """What follows a send attempt that failed: retry later, or give up."""
    if permanent:
        return Drop("failed", f"rejected: {error}", permanent=True)
    if policy.exhausted(attempts):
        return Drop("failed", f"gave up after {attempts} attempts: {error}", permanent=False)
    return Defer(now + policy.delay(attempts), RETRY)
