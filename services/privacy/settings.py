"""Privacy service settings (env prefix `ITINERA_PRIVACY_`, shared values from `ITINERA_`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class PrivacySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ITINERA_PRIVACY_", extra="ignore")

    service_name: str = "privacy"
    http_port: int = 8006
