"""Trips service settings (env prefix `ITINERA_TRIPS_`, shared values from `ITINERA_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class TripsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ITINERA_TRIPS_", extra="ignore")

    service_name: str = "trips"
    http_port: int = 8007
    journeys_dir: Path | None = Field(
        default=None, description="Where the journey definitions are (*.yaml); the packaged ones by default"
    )
    journey_interval_seconds: float = Field(default=1.0, gt=0, description="How often due waits are looked for")
    journey_batch_size: int = Field(default=200, ge=1, le=10_000)
