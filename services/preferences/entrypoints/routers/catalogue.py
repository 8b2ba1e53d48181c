"""The preference catalogue: every key with its value type, and the names of the codes values carry."""

from __future__ import annotations

from fastapi import APIRouter

from services.kit.auditing import NOT_PERSONAL
from services.preferences.domain import catalogue, codes
from services.preferences.entrypoints.deps import Agent
from services.preferences.entrypoints.schemas import KeySpecPublic

router = APIRouter(prefix="/v1")


@router.get(
    "/preferences/catalogue", response_model=list[KeySpecPublic], tags=["preferences"], dependencies=[NOT_PERSONAL]
)
async def get_catalogue(principal: Agent) -> list[KeySpecPublic]:
    """Every preference key, its value type and allowed values."""
    return [
        KeySpecPublic(key=s.key, description=s.description, kind=s.kind, allowed=list(s.allowed),
                      sensitive=s.sensitive, minimum=s.minimum, maximum=s.maximum, code_table=s.code_table)
        for s in catalogue.SPECS.values()
    ]  # fmt: skip


@router.get(
    "/preferences/codes", response_model=dict[str, dict[str, str]], tags=["preferences"], dependencies=[NOT_PERSONAL]
)
async def get_code_names(principal: Agent) -> dict[str, dict[str, str]]:
    """Names of the codes preferences and bookings carry, by table (airlines, alliances, hotel_chains,
    car_vendors, meals): `{"meals": {"AVML": "Asian vegetarian", ...}, ...}`. Hotel chain and car vendor
    codes not listed are still accepted; they simply have no name here."""
    return codes.name_tables()
