"""Privacy service settings (env prefix `ITINERA_PRIVACY_`, shared values from `ITINERA_`)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings
from services.privacy.export import ExportSettings


class PrivacySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ITINERA_PRIVACY_", extra="ignore")

    service_name: str = "privacy"
    http_port: int = 8006
    # The one-call export asks every service for its part: `ITINERA_PRIVACY_EXPORT` as JSON
    # (`{"profile_url": …, "api_key": <an admin key of every service>, "timeout_seconds": 20}`).
    export: ExportSettings = Field(default_factory=ExportSettings)

    @model_validator(mode="after")
    def _export(self) -> PrivacySettings:
        if self.environment == "production":
            problems = self.export.production_problems()
            if problems:
                raise ValueError("; ".join(problems))
        return self
