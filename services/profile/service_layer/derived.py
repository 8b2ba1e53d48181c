"""Golden-record fields beyond survivorship: business contacts and the home time zone (the search
document is `domain/golden.py`'s).

Computed where golden records are (recompute._recompute), after survivorship and the company:
each may need a fact about the customer's company, read only for the customers that need it.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.kit.db import Connection
from services.profile.adapters import companies as companies_db
from services.profile.domain.contacts import distinct_emails, with_business_contacts
from services.profile.domain.model import FieldValue, StoredRecord
from services.profile.domain.timezones import HOME_TIME_ZONE, home_time_zone


async def business_contacts(
    conn: Connection,
    goldens: dict[str, dict[str, FieldValue]],
    records: Mapping[str, list[tuple[StoredRecord, int]]],
    company_for: Mapping[str, str | None],
    *,
    trust: Mapping[str, int],
) -> None:
    """Customers with several email addresses: the company's first, another kept second (domain/contacts.py)."""
    several = [cid for cid in company_for if distinct_emails(r for r, _ in records.get(cid, [])) > 1]
    if not several:
        return
    domains = await companies_db.company_domains(conn, [company_for[cid] for cid in several])
    for cid in several:
        goldens[cid] = with_business_contacts(
            goldens[cid],
            [r for r, _ in records[cid]],
            company_domains=domains.get(company_for[cid] or "", ()),
            trust=trust,
        )


async def home_time_zones(
    conn: Connection, goldens: dict[str, dict[str, FieldValue]], company_for: Mapping[str, str | None]
) -> None:
    """Each customer's home time zone in its golden record: stated, else derived (domain/timezones.py).

    Companies' countries are read only for customers nothing else places."""
    placed_by_company = []
    for cid, golden in goldens.items():
        zone = home_time_zone(golden, company_country=None)
        if zone is not None:
            golden[HOME_TIME_ZONE] = zone
        elif company_for.get(cid):
            placed_by_company.append(cid)
    if not placed_by_company:
        return
    countries = await companies_db.company_countries(conn, [company_for[cid] for cid in placed_by_company])
    for cid in placed_by_company:
        golden = goldens[cid]
        basis = golden.get("company_name") or golden.get("email") or golden.get("display_name")
        zone = home_time_zone(golden, company_country=countries.get(company_for[cid] or ""), company_source=basis)
        if zone is not None:
            golden[HOME_TIME_ZONE] = zone
