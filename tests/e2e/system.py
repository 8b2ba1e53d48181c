"""The services running together on the session's database and topics, for end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import time

from services.feedback.bootstrap import build_definition as feedback_definition
from services.feedback.settings import FeedbackSettings
from services.kit.runtime import ServiceRuntime
from services.notifications.bootstrap import build_definition as notifications_definition
from services.notifications.settings import NotificationsSettings
from services.preferences.bootstrap import build_definition as preferences_definition
from services.preferences.settings import PreferencesSettings
from services.profile.bootstrap import build_definition as profile_definition
from services.profile.settings import ProfileSettings
from tests.harness import SmtpServer, TestEnv


@asynccontextmanager
async def four_services(
    env: TestEnv, smtp: SmtpServer, sms_api_url: str | None = None
) -> AsyncIterator[dict[str, ServiceRuntime]]:
    """Profile, preferences, feedback and notifications (mailing to `smtp`, texting through the SMS provider
    API at `sms_api_url` when given), started in that order."""
    definitions = {
        "profile": profile_definition(env.settings(ProfileSettings)),
        "preferences": preferences_definition(env.settings(PreferencesSettings)),
        "feedback": feedback_definition(env.settings(FeedbackSettings)),
        "notifications": notifications_definition(
            env.settings(
                NotificationsSettings,
                smtp_port=smtp.port,
                dispatch_poll_seconds=0.2,
                preferences_public_base_url="http://preferences",
                # No quiet hours: these flows are not about them (the notifications tests are), and
                # with the default window (22:00-07:00) the survey and question emails would wait
                # for the morning whenever the suite runs at night.
                default_quiet_hours_start=time(0, 0),
                default_quiet_hours_end=time(0, 0),
                digest_window_seconds=0,  # each message on its own: digests have tests of their own
                **({"sms_provider": "http", "sms_api_url": sms_api_url} if sms_api_url else {}),
            )
        ),
    }
    async with AsyncExitStack() as stack:
        yield {name: await stack.enter_async_context(env.running(d)) for name, d in definitions.items()}


@asynccontextmanager
async def every_service(env: TestEnv, smtp: SmtpServer) -> AsyncIterator[dict[str, ServiceRuntime]]:
    """The four services, value, trips and privacy: everything an erasure reaches."""
    from services.privacy.bootstrap import build_definition as privacy_definition
    from services.privacy.settings import PrivacySettings
    from services.trips.bootstrap import build_definition as trips_definition
    from services.trips.settings import TripsSettings
    from services.value.bootstrap import build_definition as value_definition
    from services.value.settings import ValueSettings

    async with four_services(env, smtp) as runtimes, AsyncExitStack() as stack:
        runtimes["value"] = await stack.enter_async_context(env.running(value_definition(env.settings(ValueSettings))))
        runtimes["trips"] = await stack.enter_async_context(env.running(trips_definition(env.settings(TripsSettings))))
        runtimes["privacy"] = await stack.enter_async_context(
            env.running(privacy_definition(env.settings(PrivacySettings)))
        )
        yield runtimes
