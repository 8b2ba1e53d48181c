"""One settings pattern for every service.

Each service subclasses `ServiceSettings` with its own env prefix
(`ITINERA_PROFILE_`, ...). Values shared by all services — the broker, the database
host, the topic prefix — may also come from the plain `ITINERA_` prefix, so a
deployment sets them once. The service-specific variable wins when both are set.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from services.kit.keyring import DEV_KEYRING_KEY, MasterKeys
from services.kit.limits import RateLimit
from services.kit.sealing import Sealer

Role = Literal["agent", "supervisor", "ops", "booking-system", "admin"]


SOURCE_SYSTEM_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
# Golden fields an agent corrected show "agent" as their source: no system may write as it.
RESERVED_SOURCE_SYSTEMS = frozenset({"agent"})
SourceSystem = Annotated[str, Field(min_length=1, max_length=50, pattern=SOURCE_SYSTEM_PATTERN)]


class ApiKey(BaseModel):
    """An API key and the role its holder acts in; `name` identifies the caller in audit logs.

    A booking-system key names the source systems it is registered for (`source_systems`): it may
    write traveller records and booking events only as those systems. Other roles name none (an
    admin may act as any system, audited; agents change data through corrections)."""

    name: str = Field(min_length=1)
    role: Role
    key: SecretStr
    source_systems: list[SourceSystem] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _registered(self) -> ApiKey:
        if self.role == "booking-system" and not self.source_systems:
            raise ValueError(f"booking-system key {self.name!r} must name the source_systems it is registered for")
        if reserved := RESERVED_SOURCE_SYSTEMS.intersection(self.source_systems):
            raise ValueError(f"{sorted(reserved)} is reserved (agents' corrections), not a source system")
        if self.role != "booking-system" and self.source_systems:
            raise ValueError(f"only booking-system keys name source_systems ({self.name!r} is {self.role})")
        return self


# The development booking-system key writes as the demo's desks (deploy/demo/feed.py), the
# README's CRM and web examples and the examples' GDS; any other system needs its own key.
DEV_SOURCE_SYSTEMS = ("flight-desk", "hotel-desk", "car-desk", "crm", "web", "acme-gds")
DEV_API_KEYS: tuple[ApiKey, ...] = tuple(
    ApiKey(
        name=f"dev-{role}",
        role=role,
        key=SecretStr(f"dev-{role}-key"),
        source_systems=list(DEV_SOURCE_SYSTEMS) if role == "booking-system" else [],
    )
    for role in ("agent", "supervisor", "ops", "booking-system", "admin")
)

# Per key, per API process. A person at the console stays far below an agent's rate (a 360° page
# is about fifteen requests, within the burst); a script walking through the customers does not.
DEFAULT_RATE_LIMITS: dict[Role, RateLimit] = {
    "agent": RateLimit(per_second=10, burst=100),
    "supervisor": RateLimit(per_second=10, burst=100),
    "admin": RateLimit(per_second=10, burst=100),
    "ops": RateLimit(per_second=5, burst=50),
    "booking-system": RateLimit(per_second=200, burst=400),
}
# Wrong API keys from one client address: ten at once, then one every five seconds.
DEFAULT_FAILED_KEY_LIMIT = RateLimit(per_second=0.2, burst=10)
# Development only: production refuses it (see `link_keys`).
DEV_LINK_KEY = SecretStr("ZGV2LWxpbmsta2V5LW5vdC1mb3ItcHJvZHVjdGlvbiE")
# Development only: production refuses it (see `erasure_key`).
DEV_ERASURE_KEY = SecretStr("dev-erasure-key-not-for-production")


class ServiceSettings(BaseSettings):
    """Settings common to every service; refuses development defaults in production."""

    model_config = SettingsConfigDict(extra="ignore", env_prefix="ITINERA_")
    # Services that seal or open link credentials (`link_keys`) need a real key in production.
    seals_links: ClassVar[bool] = False

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
    api_docs: Literal["public", "key", "off"] | None = Field(
        default=None,
        description="public: /docs, /redoc and /openapi.json for anyone; key: /openapi.json for any API key,"
        " no docs pages; off: none. Default: public, except key in production (which refuses public)",
    )
    rate_limiting: bool = Field(default=True, description="Per-key rate limits and the brake on wrong keys")
    rate_limits: dict[Role, RateLimit] = Field(
        default_factory=lambda: dict(DEFAULT_RATE_LIMITS),
        description="Requests per API key and process, by the key's role (429 with Retry-After beyond)",
    )
    failed_key_limit: RateLimit = Field(
        default=DEFAULT_FAILED_KEY_LIMIT,
        description="Wrong API keys one client address may send (429 for every request of it beyond)",
    )
    link_keys: list[SecretStr] = Field(
        default_factory=lambda: [DEV_LINK_KEY],
        description="Keys (base64url, 32 bytes) sealing the credentials of links that travel on topics (survey"
        " and answer links): the first seals, every one opens. Producer and consumer services share them",
    )

    keyring_keys: list[SecretStr] = Field(
        default_factory=lambda: [DEV_KEYRING_KEY],
        description="Master keys (base64url, 32 bytes) wrapping the per-traveller data keys that seal personal"
        " data on topics (crypto-shredding): the first wraps new keys, every one unwraps. Shared by all services",
    )
    erasure_key: SecretStr = Field(
        default=DEV_ERASURE_KEY,
        description="Key of the digests by which erased ids are remembered (erasure log, late events dropped)",
    )

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
            if self.api_docs == "public":
                raise ValueError("api_docs=public is refused in production (use key or off)")
            dev_link_key = any(k.get_secret_value() == DEV_LINK_KEY.get_secret_value() for k in self.link_keys)
            if self.erasure_key.get_secret_value() == DEV_ERASURE_KEY.get_secret_value():
                raise ValueError("the development erasure key is refused in production; set erasure_key")
            if self.seals_links and dev_link_key:
                raise ValueError("the development link key is refused in production; set link_keys")
            if any(k.get_secret_value() == DEV_KEYRING_KEY.get_secret_value() for k in self.keyring_keys):
                raise ValueError("the development keyring key is refused in production; set keyring_keys")
        if self.api_docs is None:
            self.api_docs = "key" if self.environment == "production" else "public"
        Sealer(self.link_keys)  # refuses keys that are not 32 bytes of base64url
        MasterKeys(self.keyring_keys)  # the same for the keyring's
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
