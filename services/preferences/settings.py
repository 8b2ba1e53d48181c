"""Preferences service settings (env prefix `ITINERA_PREFERENCES_`, shared values from `ITINERA_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class PreferencesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ITINERA_PREFERENCES_", extra="ignore")

    service_name: str = "preferences"
    seals_links: ClassVar[bool] = True  # its links' credentials travel sealed on topics
    http_port: int = 8002
    # The high-volume consumer (resolved bookings): larger batches coalesce more bookings per
    # customer and amortise the per-batch statements (see bench/results/preferences.md).
    consumer_batch_size: int = Field(default=1000, ge=1, le=10_000)
    # How often the policy job looks for travellers whose company policy changed.
    policy_refresh_interval: float = Field(default=1.0, gt=0)
