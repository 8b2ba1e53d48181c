"""Feedback service settings (env prefix `ITINERA_FEEDBACK_`, shared values from `ITINERA_`)."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from services.feedback.domain.cases import Priority, SlaPolicy
from services.kit.settings import ServiceSettings, public_base_url

DEV_PUBLIC_BASE_URL = "http://127.0.0.1:8003"


class FeedbackSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ITINERA_FEEDBACK_", extra="ignore")

    service_name: str = "feedback"
    seals_links: ClassVar[bool] = True  # its links' credentials travel sealed on topics
    http_port: int = 8003
    public_base_url: str = Field(
        default=DEV_PUBLIC_BASE_URL, description="Where travellers reach this service; survey links start with it"
    )
    survey_ttl_days: int = Field(default=14, ge=1, le=365)
    first_response_hours_low: float = Field(default=48, gt=0)
    first_response_hours_normal: float = Field(default=24, gt=0)
    first_response_hours_high: float = Field(default=4, gt=0)
    first_response_hours_urgent: float = Field(default=1, gt=0)
    resolution_days: float = Field(default=5, gt=0)
    gold_sla_factor: float = Field(
        default=0.5, gt=0, le=1, description="Gold-tier travellers' cases get this fraction of every SLA deadline"
    )
    escalation_interval_seconds: float = Field(default=60, gt=0)
    escalation_batch_size: int = Field(default=100, ge=1, le=10_000)
    # One survey per trip: a trip whose other bookings never report completion is surveyed this
    # long after they ended; the job that looks for such trips runs this often.
    trip_settle_hours: float = Field(default=48, ge=0)
    trip_settle_interval_seconds: float = Field(default=600, gt=0)

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return public_base_url(value, setting="public_base_url")

    @model_validator(mode="after")
    def _production(self) -> FeedbackSettings:
        if self.environment == "production":
            if self.public_base_url == DEV_PUBLIC_BASE_URL:
                raise ValueError("set public_base_url in production")
            if not self.public_base_url.startswith("https://"):
                raise ValueError("survey links carry credentials: public_base_url must be https in production")
        return self

    def sla_policy(self) -> SlaPolicy:
        return SlaPolicy(
            first_response={
                Priority.LOW: timedelta(hours=self.first_response_hours_low),
                Priority.NORMAL: timedelta(hours=self.first_response_hours_normal),
                Priority.HIGH: timedelta(hours=self.first_response_hours_high),
                Priority.URGENT: timedelta(hours=self.first_response_hours_urgent),
            },
            resolution=timedelta(days=self.resolution_days),
            gold_factor=self.gold_sla_factor,
        )

    @property
    def survey_ttl(self) -> timedelta:
        return timedelta(days=self.survey_ttl_days)

    @property
    def trip_settle(self) -> timedelta:
        return timedelta(hours=self.trip_settle_hours)
