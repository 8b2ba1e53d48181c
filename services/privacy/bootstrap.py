"""The one place that wires the privacy service's handlers to real adapters."""

from __future__ import annotations

from services.kit.consumer import ConsumerSpec
from services.kit.contracts.privacy import ERASURE_STEPS, ErasureStepDoneV1
from services.kit.erasure import erasure_topic
from services.kit.runtime import ServiceDefinition
from services.privacy.service_layer.handlers import handle_step_done
from services.privacy.settings import PrivacySettings


def build_definition(settings: PrivacySettings | None = None) -> ServiceDefinition:
    s = settings or PrivacySettings()
    return ServiceDefinition(
        settings=s,
        migrations="services.privacy.migrations",
        consumers=[
            # Each service reports its step of an erasure on a topic it owns.
            ConsumerSpec(
                name="erasure-steps",
                topics=tuple(erasure_topic(svc) for svc in ERASURE_STEPS),
                handler=handle_step_done,
                event_types=frozenset({ErasureStepDoneV1.event_type}),
            ),
        ],
    )
