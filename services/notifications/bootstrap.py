"""The one place that wires the notifications service's handlers to real adapters."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from services.kit import sealing
from services.kit.consumer import ConsumerSpec
from services.kit.erasure import erasure_consumer, guarded, skip_erased
from services.kit.runtime import ServiceDefinition, ServiceRuntime
from services.kit.view import customer_view_consumer
from services.notifications.adapters.erasure import erase_customers
from services.notifications.adapters.mailer import Mailer, SmtpConfig, SmtpMailer
from services.notifications.adapters.places import AirportDirectory
from services.notifications.adapters.sms import HttpSmsConfig, HttpSmsSender, SmsSender
from services.notifications.adapters.webhooks import HttpWebhookPoster
from services.notifications.domain.messages import MessageRenderer
from services.notifications.domain.model import DispatchRules, QuietHours, RetryPolicy
from services.notifications.service_layer.dispatch import DispatchConfig, Dispatcher
from services.notifications.service_layer.journeys import handle_journey_message
from services.notifications.service_layer.planning import (
    booking_handler,
    handle_survey_invited,
    handle_view_event,
    handle_view_events,
    preference_question_handler,
)
from services.notifications.service_layer.staff import StaffAlertSender, StaffConfig, case_escalated_handler
from services.notifications.service_layer.webhooks import WebhookConfig, WebhookSender
from services.notifications.settings import NotificationsSettings


def dispatch_config(s: NotificationsSettings) -> DispatchConfig:
    """The dispatcher's rules and limits, from settings."""
    return DispatchConfig(
        rules=DispatchRules(
            quiet_hours=QuietHours(start=s.default_quiet_hours_start, end=s.default_quiet_hours_end),
            contact_retry=RetryPolicy(
                base=timedelta(seconds=s.contact_retry_base_seconds),
                cap=timedelta(seconds=s.contact_retry_max_seconds),
                max_attempts=1_000_000,  # bounded by contact_wait, not by a count
            ),
            contact_wait=timedelta(seconds=s.contact_wait_seconds),
            default_language=s.default_language,
        ),
        send_retry=RetryPolicy(
            base=timedelta(seconds=s.send_retry_base_seconds),
            cap=timedelta(seconds=s.send_retry_max_seconds),
            max_attempts=s.send_max_attempts,
        ),
        mail_from=s.mail_from,
        batch_size=s.dispatch_batch_size,
        poll_seconds=s.dispatch_poll_seconds,
        lease_seconds=s.dispatch_lease_seconds,
        brand_name=s.brand_name,
        sms_max_segments=s.sms_max_segments,
        digest_window_seconds=s.digest_window_seconds,
    )


def sms_sender(s: NotificationsSettings) -> SmsSender | None:
    """The SMS provider the settings choose; None when texts are not sent."""
    if s.sms_provider == "none":
        return None
    return HttpSmsSender(
        HttpSmsConfig(
            api_url=s.sms_api_url,
            account_sid=s.sms_account_sid,
            auth_token=s.sms_auth_token.get_secret_value(),
            sender=s.sms_sender,
            timeout=s.sms_timeout_seconds,
        )
    )


def webhook_config(s: NotificationsSettings) -> WebhookConfig:
    return WebhookConfig(
        retry=RetryPolicy(
            base=timedelta(seconds=s.webhook_retry_base_seconds),
            cap=timedelta(seconds=s.webhook_retry_max_seconds),
            max_attempts=s.webhook_max_attempts,
        ),
        poll_seconds=s.webhook_poll_seconds,
    )


def smtp_mailer(s: NotificationsSettings) -> SmtpMailer:
    return SmtpMailer(
        SmtpConfig(
            host=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password is not None else None,
            starttls=s.smtp_starttls,
            timeout=s.smtp_timeout_seconds,
        )
    )


def build_definition(
    settings: NotificationsSettings | None = None, *, mailer: Mailer | None = None, sms: SmsSender | None = None
) -> ServiceDefinition:
    s = settings or NotificationsSettings()
    sealing.configure(s.link_keys)  # survey and answer links travel sealed on topics
    config = dispatch_config(s)
    renderer = MessageRenderer(brand_name=s.brand_name)
    outgoing = mailer or smtp_mailer(s)
    texts = sms or sms_sender(s)
    hooks = webhook_config(s)

    places = AirportDirectory()
    digest_key = s.erasure_key.get_secret_value().encode()

    staff = StaffConfig(
        directory=s.staff_directory,
        fallback_email=s.staff_fallback_email,
        console_url=s.console_public_base_url,
        mail_from=s.mail_from,
        retry=config.send_retry,
    )

    async def staff_alerts(runtime: ServiceRuntime) -> None:
        sender = StaffAlertSender(pool=runtime.pool, mailer=outgoing, config=staff)
        await sender.run(runtime.health.worker(staff_alerts.__name__))  # the name it is supervised by

    async def dispatcher(runtime: ServiceRuntime) -> None:
        # The airport table takes about a second to load: off the event loop, before bookings need it.
        await asyncio.to_thread(places.airport, "FRA")
        dispatch = Dispatcher(pool=runtime.pool, mailer=outgoing, renderer=renderer, config=config, sms=texts)
        await dispatch.run(runtime.health.worker("dispatcher"))

    async def webhooks(runtime: ServiceRuntime) -> None:
        poster = HttpWebhookPoster(timeout=s.webhook_timeout_seconds, guard_private=s.environment == "production")
        try:
            sender = WebhookSender(
                pool=runtime.pool, poster=poster, sealer=sealing.Sealer(s.webhook_secret_keys), config=hooks
            )
            await sender.run(runtime.health.worker("webhooks"))
        finally:
            await poster.aclose()

    return ServiceDefinition(
        settings=s,
        migrations="services.notifications.migrations",
        consumers=[
            # The shared customer view (with value tiers: a gold traveller's messages are never digested),
            # plus a nudge for messages waiting on a customer's contact data.
            guarded(
                dataclasses.replace(
                    customer_view_consumer(include_value=True),
                    handler=handle_view_event,
                    batch_handler=handle_view_events,
                ),
                key=digest_key,
            ),
            ConsumerSpec(
                name="bookings",
                topics=("profile.bookings.v1",),
                # Events of an erased traveller still in flight are dropped: no message is planned for them.
                handler=skip_erased(booking_handler(places), key=digest_key),
                event_types=frozenset({"booking.resolved"}),
            ),
            ConsumerSpec(
                name="preference-questions",
                topics=("preferences.changes.v1",),
                handler=skip_erased(
                    preference_question_handler(
                        answer_base_url=s.preferences_public_base_url,
                        min_interval=timedelta(days=s.preference_question_interval_days),
                    ),
                    key=digest_key,
                ),
                event_types=frozenset({"preferences.confirmation_requested"}),
            ),
            ConsumerSpec(
                name="surveys",
                topics=("feedback.surveys.v1",),
                handler=skip_erased(handle_survey_invited, key=digest_key),
                event_types=frozenset({"survey.invited"}),
            ),
            ConsumerSpec(
                name="escalations",
                topics=("feedback.cases.v1",),
                # An escalation of an erased traveller's case still in flight tells nobody about them.
                handler=skip_erased(case_escalated_handler(staff), key=digest_key),
                event_types=frozenset({"case.escalated"}),
            ),
            ConsumerSpec(
                name="journeys",
                topics=("trips.journeys.v1",),
                # Messages the trips service's journeys ask for (pre-trip, disruption, post-trip).
                handler=skip_erased(handle_journey_message, key=digest_key),
                event_types=frozenset({"journey.message_requested"}),
            ),
            erasure_consumer(service="notifications", erase_rows=erase_customers, digest_key=digest_key),
        ],
        background=[dispatcher, staff_alerts, webhooks],
    )
