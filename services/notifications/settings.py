"""Notifications service settings (env prefix `ITINERA_NOTIFICATIONS_`, shared values from `ITINERA_`)."""

from __future__ import annotations

from datetime import time
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from services.kit.settings import DEV_LINK_KEY, ServiceSettings, public_base_url

DEV_PREFERENCES_BASE_URL = "http://127.0.0.1:8002"


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ITINERA_NOTIFICATIONS_", extra="ignore")

    service_name: str = "notifications"
    seals_links: ClassVar[bool] = True  # its links' credentials travel sealed on topics
    http_port: int = 8004

    # Outgoing mail.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    mail_from: str = "Itinera Travel <notifications@itinera.example>"
    brand_name: str = "Itinera Travel"

    # Text messages: `http` sends through a provider API of Twilio's shape (POST
    # {sms_api_url}/2010-04-01/Accounts/{sms_account_sid}/Messages.json, basic auth); `none`
    # makes SMS an unavailable channel (messages go on the traveller's next channel).
    sms_provider: Literal["http", "none"] = "none"
    sms_api_url: str = "http://127.0.0.1:1080"
    sms_account_sid: str = "dev-account"
    sms_auth_token: SecretStr = SecretStr("dev-sms-token")
    sms_sender: str = Field(default="Itinera", description="Sender id: an E.164 number or up to 11 letters/digits")
    sms_timeout_seconds: float = Field(default=15.0, gt=0)
    sms_max_segments: int = Field(default=2, ge=1, le=10, description="Longer texts are cut, keeping their link")

    # Webhooks: the keys sealing endpoints' signing secrets at rest (first seals, all open).
    webhook_secret_keys: list[SecretStr] = Field(default_factory=lambda: [DEV_LINK_KEY])
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_retry_base_seconds: float = Field(default=30.0, gt=0)
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_poll_seconds: float = Field(default=2.0, gt=0, le=60)

    # Dispatcher.
    dispatch_batch_size: int = Field(default=20, ge=1, le=500)
    dispatch_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    dispatch_lease_seconds: float = Field(default=300.0, ge=5)
    send_max_attempts: int = Field(default=6, ge=1, le=50)
    send_retry_base_seconds: float = Field(default=30.0, gt=0)
    send_retry_max_seconds: float = Field(default=3600.0, gt=0)
    # How long a message waits for the customer's snapshot to reach the local view.
    contact_wait_seconds: float = Field(default=3600.0, gt=0)
    contact_retry_base_seconds: float = Field(default=0.5, gt=0)
    contact_retry_max_seconds: float = Field(default=60.0, gt=0)

    # Quiet hours for customers who have not set their own (local time of the traveller).
    default_quiet_hours_start: time = time(22, 0)
    default_quiet_hours_end: time = time(7, 0)
    default_language: str = "en"
    # Digests: a traveller's non-urgent messages (survey invitations, preference questions, marketing)
    # within this window go out as one message when it closes; 0 sends each on its own.
    digest_window_seconds: float = Field(default=4 * 3600.0, ge=0, le=7 * 86400)

    # Questions asking a traveller to confirm an inferred preference: where the preferences
    # service's answer page is, and at most one such message per traveller this often.
    preferences_public_base_url: str = Field(
        default=DEV_PREFERENCES_BASE_URL,
        description="Where travellers reach the preferences service; answer links start with it",
    )
    preference_question_interval_days: float = Field(default=7.0, ge=0)

    # Alerts to staff: an escalated case is emailed to its assignee (the traveller's account
    # manager when it had none) at the address the staff directory gives (JSON: agent name or
    # `team:<name>` -> address), else to the supervisors' address.
    staff_directory: dict[str, str] = Field(default_factory=dict)
    staff_fallback_email: str | None = None
    console_public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="Where agents reach the console; alerts link to it"
    )

    @field_validator("preferences_public_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return public_base_url(value, setting="preferences_public_base_url")

    @model_validator(mode="after")
    def _mail(self) -> NotificationsSettings:
        if self.environment == "production":
            if self.smtp_password is not None and not self.smtp_starttls:
                raise ValueError("smtp_starttls must be on when SMTP credentials are used in production")
            if self.mail_from.endswith("@itinera.example>") or self.mail_from.endswith("@itinera.example"):
                raise ValueError("set mail_from in production")
            if self.preferences_public_base_url == DEV_PREFERENCES_BASE_URL:
                raise ValueError("set preferences_public_base_url in production")
            if not self.preferences_public_base_url.startswith("https://"):
                raise ValueError("answer links carry credentials: preferences_public_base_url must be https")
            if self.sms_provider == "http":
                if not self.sms_api_url.startswith("https://"):
                    raise ValueError("sms_api_url must be https in production")
                if self.sms_auth_token.get_secret_value() == "dev-sms-token":  # the dev default
                    raise ValueError("set sms_auth_token in production")
            if any(k.get_secret_value() == DEV_LINK_KEY.get_secret_value() for k in self.webhook_secret_keys):
                raise ValueError("set webhook_secret_keys in production (the development key is public)")
        return self
