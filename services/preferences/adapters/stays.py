"""Hotel stays of resolved bookings, and the cities a traveller visits most."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import asyncpg

from services.kit.contracts.bookings import HotelSegmentV1


async def claim_booking(conn: asyncpg.Connection, source_system: str, booking_id: str, stated_at: datetime) -> bool:
    """Note that a booking's stays are stated as of `stated_at`; False when a newer statement is already kept."""
    claimed = await conn.fetchval(
        """
        INSERT INTO hotel_stay_bookings AS b (source_system, booking_id, stated_at) VALUES ($1, $2, $3)
        ON CONFLICT (source_system, booking_id) DO UPDATE SET stated_at = EXCLUDED.stated_at
         WHERE b.stated_at <= EXCLUDED.stated_at
        RETURNING true
        """,
        source_system,
        booking_id,
        stated_at,
    )
    return claimed is True


async def replace_stays(
    conn: asyncpg.Connection,
    *,
    source_system: str,
    booking_id: str,
    customer_id: str,
    company_id: str | None,
    hotels: Sequence[HotelSegmentV1],
) -> None:
    """A booking's stays as its latest event states them (none: cancelled, or no hotel any more)."""
    await conn.execute(
        "DELETE FROM hotel_stays WHERE source_system = $1 AND booking_id = $2", source_system, booking_id
    )
    await conn.executemany(
        """
        INSERT INTO hotel_stays (source_system, booking_id, position, customer_id, company_id, city, country,
                                 hotel_name, chain_code, check_in, nights, nightly_rate, currency)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        """,
        [
            (
                source_system,
                booking_id,
                i,
                customer_id,
                company_id,
                h.city,
                h.country,
                h.hotel_name,
                h.chain_code,
                h.check_in,
                (h.check_out - h.check_in).days,
                h.nightly_rate,
                h.currency,
            )
            for i, h in enumerate(hotels)
        ],
    )


@dataclass(frozen=True)
class CityVisits:
    city: str
    country: str
    stays: int
    nights: int
    last_check_in: date
    chains: dict[str, int]
    max_rate: Decimal | None
    currency: str | None


async def city_visits(conn: asyncpg.Connection, customer_id: str, *, since: date) -> list[CityVisits]:
    """Cities of the traveller's stays since a day (their merged-in ids included), most stays first."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE ids(id, depth) AS (
            SELECT $1::text, 0
            UNION SELECT c.customer_id, ids.depth + 1 FROM customers c JOIN ids ON c.merged_into = ids.id
             WHERE ids.depth < 10
        )
        SELECT lower(s.city) AS key, min(s.city) AS city, min(s.country) AS country, count(*) AS stays,
               sum(s.nights) AS nights, max(s.check_in) AS last_check_in,
               array_agg(s.chain_code) FILTER (WHERE s.chain_code IS NOT NULL) AS chains,
               max(s.nightly_rate) AS max_rate, min(s.currency) AS currency
          FROM hotel_stays s JOIN ids ON s.customer_id = ids.id
         WHERE s.check_in >= $2
         GROUP BY 1 ORDER BY count(*) DESC, max(s.check_in) DESC, 1
        """,
        customer_id,
        since,
    )
    out = []
    for r in rows:
        chains: dict[str, int] = {}
        for c in r["chains"] or []:
            chains[c] = chains.get(c, 0) + 1
        out.append(
            CityVisits(
                r["city"],
                r["country"],
                r["stays"],
                r["nights"],
                r["last_check_in"],
                chains,
                r["max_rate"],
                r["currency"],
            )
        )
    return out
