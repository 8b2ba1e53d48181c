"""Address parts counted on the real database, for the term-frequency adjustment of addresses
(issue: identity v2, "term-frequency adjustment for names, streets and postcodes")."""

from __future__ import annotations

import random

import httpx
import pytest

from services.kit.runtime import ServiceRuntime
from services.profile.adapters import identity as identity_db
from services.profile.domain.identity_fields import address_tokens
from services.profile.domain.matching import MatchFeatures
from tests.integration.test_profile_search import BOOKING_SYSTEM, word

pytestmark = pytest.mark.integration


async def test_colleagues_at_one_office_make_its_address_common(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, client = service
    office = {"street": f"{word()}str. 10", "postcode": f"{random.randrange(10000, 99999)}", "city": "Berlin"}
    family = word()
    for given in (word(), word(), word()):  # three colleagues, born on three days
        body = {
            "source_system": "hr",
            "source_id": f"E-{word()}",
            "traveller": {
                "given_name": given,
                "family_name": family,
                "date_of_birth": f"1980-02-{random.randrange(10, 28)}",
                "business_address": {**office, "country": "DE"},
            },
        }
        r = await client.post("/v1/source-records", json=body, headers=BOOKING_SYSTEM)
        assert r.status_code == 200, r.text
    async with runtime.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT features FROM source_records WHERE source_system = 'hr' AND features->>'family' = $1",
            family.lower(),
        )
        features = [MatchFeatures.from_json(r["features"]) for r in rows]
        tokens = address_tokens(features[0].business)
        counts = dict(await conn.fetch("SELECT token, count FROM value_frequencies WHERE token = ANY($1)", tokens))
        assert counts == dict.fromkeys(tokens, 3)  # postcode, street, house: once per record
        await conn.execute("ANALYZE source_records")  # the record count frequencies divide by (the planner's)
        total = await conn.fetchval("SELECT reltuples::bigint FROM pg_class WHERE oid = 'source_records'::regclass")
        freq = await identity_db.value_frequencies(conn, tokens, min_records=0)
    assert freq == {t: min(1.0, 3 / total) for t in tokens}  # what matching weighs the office's agreement by
