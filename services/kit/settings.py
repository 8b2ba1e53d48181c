"""One settings pattern for every service.

Each service subclasses `ServiceSettings` with its own env prefix
(`ITINERA_PROFILE_`, ...). Values shared by all services — the broker, the database
host, the topic prefix — may also come from the plain `ITINERA_` prefix, so a
deployment sets them once. The service-specific variable wins when both are set.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

Role = Literal["agent", "supervisor", "ops", "booking-system", "admin"]


class ApiKey(BaseModel):
    """An API key and the role its holder acts in; `name` identifies the caller in audit logs."""

    name: str = Field(min_length=1)
    role: Role
    key: SecretStr


DEV_API_KEYS: tuple[ApiKey, ...] = tuple(
    ApiKey(name=f"dev-{role}", role=role, key=SecretStr(f"dev-{role}-key"))
    for role in ("agent", "supervisor", "ops", "booking-system", "admin")
)


class ServiceSettings(BaseSettings):
    """Settings common to every service; refuses development defaults in production."""

    model_config = SettingsConfigDict(extra="ignore", env_prefix="ITINERA_")

    service_name: str = "itinera"
    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    consumer_batch_size: int = Field(default=500, ge=1, le=10_000)
    consumer_batch_within: float = Field(
        default=0.05,
        ge=0,
        le=5,
        description="Seconds a consumer waits to fill a batch that is not full (latency against per-batch cost)",
    )
    consumer_max_attempts: int = Field(default=3, ge=1, le=20)
    batch_consumers: list[str] = Field(
        default_factory=list,
        description="Consumers (ConsumerSpec names) hosted on the kit's batch consumer instead of faust",
    )
    consumer_session_timeout: float = Field(
        default=10.0,
        ge=6,
        le=300,
        description="Seconds the broker waits for a silent consumer before giving its partitions to others"
        " (how long a crashed process's partitions wait)",
    )
    instance_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._-]{1,100}$",
        description="Static group membership: a process restarted with the same id gets its partitions back at"
        " once, without a rebalance; every process of a service needs its own. Unset: dynamic membership",
    )
    stall_after: float = Field(
        default=60.0,
        ge=1,
        description="Seconds a loop may hold work without finishing it before /readyz reports it stalled",
    )

    pg_host: str = "127.0.0.1"
    pg_port: int = 55432
    pg_database: str = "itinera"
    pg_user: str = ""
    pg_password: SecretStr = SecretStr("")
    pg_pool_min: int = 1
    pg_pool_max: int = 10

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    cors_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"],
        description="Browser origins allowed to call the API (the agent console)",
    )
    api_keys: list[ApiKey] = Field(default_factory=lambda: list(DEV_API_KEYS))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        shared = EnvSettingsSource(settings_cls, env_prefix="ITINERA_")
        return init_settings, env_settings, shared, dotenv_settings, file_secret_settings

    @model_validator(mode="after")
    def _defaults(self) -> ServiceSettings:
        if not self.pg_user:
            self.pg_user = f"itinera_{self.service_name}"
        if not self.pg_password.get_secret_value():
            if self.environment == "production":
                raise ValueError("pg_password must be set in production")
            self.pg_password = SecretStr(self.pg_user)
        if self.environment == "production":
            dev = {k.key.get_secret_value() for k in DEV_API_KEYS}
            if any(k.key.get_secret_value() in dev for k in self.api_keys):
                raise ValueError("development API keys are refused in production; set api_keys")
            if self.pg_password.get_secret_value() == self.pg_user:
                raise ValueError("the development database password is refused in production")
        return self

    @property
    def db_schema(self) -> str:
        """The PostgreSQL schema this service owns."""
        return self.service_name

    def topic(self, logical_name: str) -> str:
        """Physical topic name for a logical one."""
        return f"{self.topic_prefix}{logical_name}"


def public_base_url(value: str, *, setting: str) -> str:
    """A setting that is where travellers reach a service (links in messages start with it):
    an absolute http(s) URL, without its trailing slash."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{setting} must be an absolute http(s) URL")
    return value.rstrip("/")
