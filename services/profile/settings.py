"""Profile service settings (env prefix `ITINERA_PROFILE_`, shared values from `ITINERA_`)."""

from __future__ import annotations

from pydantic import SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class ProfileSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ITINERA_PROFILE_", extra="ignore")

    service_name: str = "profile"
    http_port: int = 8001
    default_phone_region: str = "DE"
    passport_pepper: SecretStr = SecretStr("dev-passport-pepper")

    @model_validator(mode="after")
    def _pepper(self) -> ProfileSettings:
        if self.environment == "production" and self.passport_pepper.get_secret_value() == "dev-passport-pepper":
            raise ValueError("set passport_pepper in production")
        return self
