"""Console settings (env prefix `ITINERA_CONSOLE_`): where it listens and where the APIs are."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ApiName = Literal["profile", "preferences", "feedback", "notifications", "value", "trips"]


class ConsoleSettings(BaseSettings):
    """Where the console listens and the base URL of each API the browser calls."""

    model_config = SettingsConfigDict(env_prefix="ITINERA_CONSOLE_", extra="ignore")

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    profile_url: str = "http://127.0.0.1:8001"
    preferences_url: str = "http://127.0.0.1:8002"
    feedback_url: str = "http://127.0.0.1:8003"
    notifications_url: str = "http://127.0.0.1:8004"
    value_url: str = "http://127.0.0.1:8005"
    trips_url: str = "http://127.0.0.1:8007"

    @field_validator("profile_url", "preferences_url", "feedback_url", "notifications_url", "value_url", "trips_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL with a host, e.g. http://127.0.0.1:8001")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("must not carry credentials, a query or a fragment")
        return value.strip().rstrip("/")

    def api_urls(self) -> dict[ApiName, str]:
        """Base URL of each API, without a trailing slash."""
        return {
            "profile": self.profile_url,
            "preferences": self.preferences_url,
            "feedback": self.feedback_url,
            "notifications": self.notifications_url,
            "value": self.value_url,
            "trips": self.trips_url,
        }

    def api_origins(self) -> list[str]:
        """The distinct origins of the five APIs (what the browser may connect to)."""
        origins: list[str] = []
        for url in self.api_urls().values():
            parts = urlsplit(url)
            origin = f"{parts.scheme}://{parts.netloc.lower()}"
            if origin not in origins:
                origins.append(origin)
        return origins
