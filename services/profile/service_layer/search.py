"""Finding travellers: by name or company (typos, accents and their transliterations forgiven),
email, phone, loyalty number; and the job that gives customers stored before the search its
documents.
"""

from __future__ import annotations

import asyncio
import logging

from rapidfuzz import fuzz

from services.kit.db import Connection, Pool, connection
from services.profile.adapters import blocking as blocking_db
from services.profile.adapters import companies as companies_db
from services.profile.adapters import customers as customers_db
from services.profile.adapters import search as search_repo
from services.profile.domain import normalize
from services.profile.domain.companies import company_key
from services.profile.domain.names import split_full_name
from services.profile.domain.search import document, search_tokens, sound_words

log = logging.getLogger(__name__)

CAP = 1000  # customers a criterion yields at most
BACKFILL_CHUNK = 500


async def search_ids(
    conn: Connection,
    *,
    q: str | None,
    email: str | None,
    phone: str | None,
    loyalty: str | None,
    company: str | None,
    region: str | None,
) -> list[str] | None:
    """Customer ids matching every given criterion (None: no criterion given)."""
    sets: list[set[str]] = []
    if email:
        n = normalize.email(email)
        key = normalize.email_match_key(n.value) if n.value else email.strip().lower()
        sets.append(set(await blocking_db.customers_for_keys(conn, [f"e:{key}"], limit=CAP)))
    if phone:
        n = normalize.phone(phone, region=region)
        digits = n.value or "+" + "".join(ch for ch in phone if ch.isdigit())
        sets.append(set(await blocking_db.customers_for_keys(conn, [f"p:{digits[-9:]}"], limit=CAP)))
    if loyalty:
        prog, _, num = loyalty.partition(":")
        n = normalize.loyalty_number(prog, num) if num else normalize.MISSING
        sets.append(set(await blocking_db.customers_for_keys(conn, [f"l:{n.value}"], limit=CAP)) if n.value else set())
    if company:
        sets.append(set(await search_repo.customers_of_company(conn, company_key(company), limit=CAP)))
    if q:
        sets.append(await _by_name_or_company(conn, q))
    if not sets:
        return None
    return sorted(set.intersection(*sets))


async def _by_name_or_company(conn: Connection, q: str) -> set[str]:
    """Customers whose names or company hold every word of `q` (or one like it), and those whose
    names sound like it (the phonetic codes of their documents: "Nite" finds "Knight")."""
    found = set(await search_repo.customers_matching(conn, search_tokens(q), limit=CAP))
    given, family = split_full_name(q)
    found.update(await search_repo.customers_sounding(conn, sound_words(given, family), limit=CAP))
    return found


def relevance(q: str, display_name: str | None, company_name: str | None) -> float:
    """How well a result answers `q`, 0..1: by its name, or (ranked after an equal name) by its company."""
    asked = " ".join(search_tokens(q))
    name = " ".join(search_tokens(display_name or ""))
    company = " ".join(search_tokens(company_name or ""))
    by_name = fuzz.token_sort_ratio(asked, name) / 100
    by_company = 0.9 * fuzz.token_set_ratio(asked, company) / 100 if company else 0.0
    return round(max(by_name, by_company), 3)


async def fill_search_documents(pool: Pool, *, chunk: int = BACKFILL_CHUNK) -> int:
    """Give every active customer without a search document one, a chunk per transaction; returns how many."""
    done = 0
    while True:
        async with connection(pool, transaction=True) as conn:
            ids = await search_repo.unindexed_customers(conn, limit=chunk)
            if not ids:
                return done
            rows = await customers_db.customer_rows(conn, ids)
            records = await customers_db.records_of(conn, ids)
            names = await companies_db.company_names(conn, [r["company_id"] for r in rows.values()])
            documents = {}
            for cid, row in rows.items():
                golden = {k: v.get("value") for k, v in (row["golden"] or {}).items()}
                company = golden.get("company_name") or names.get(row["company_id"] or "")
                documents[cid] = document([*(r.fields for r, _ in records.get(cid, [])), golden], [company])
            await search_repo.set_documents(conn, documents)
        done += len(ids)


async def keep_search_documents(pool: Pool, *, interval: float = 300.0) -> None:
    """The background job: documents for customers written without one (stored before the search
    existed, or by an older version during an upgrade), now and then every `interval` seconds."""
    while True:
        try:
            filled = await fill_search_documents(pool)
            if filled:
                log.info("search documents written for %d customers", filled)
        except (OSError, *search_repo.DATABASE_ERRORS) as exc:
            log.warning("search documents: %s; trying again later", exc)
        await asyncio.sleep(interval)
