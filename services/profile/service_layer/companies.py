"""Companies of the records a batch writes: found by the source's company id, the legal-name
alias or the email domain, else created (the write phase of the pipeline)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from services.kit.db import Connection
from services.profile.adapters import companies as companies_db
from services.profile.domain.companies import corporate_domain
from services.profile.domain.resolution import Incoming


def new_company_id() -> str:
    return f"com_{uuid.uuid4().hex}"


async def resolve_companies(conn: Connection, items: Sequence[Incoming]) -> list[str | None]:
    """Each item's company id: by the source's company id, the legal-name alias, or the email domain."""
    sources = sorted(
        {(c.source_system, c.source_company_id) for it in items if (c := it.company) and c.source_company_id}
    )
    aliases = sorted({it.company.alias for it in items if it.company} - {""})
    domains: set[str] = set()
    for it in items:
        if it.company and (d := corporate_domain(it.company.email_domain)):
            domains.add(d)
        if it.record.email.value and (d := corporate_domain(it.record.email.value)):
            domains.add(d)
    by_source, by_alias, by_domain = await companies_db.company_lookup(
        conn, sources=[(s, str(i)) for s, i in sources], aliases=aliases, domains=sorted(domains)
    )
    new: list[tuple[str, str, str, str | None]] = []
    countries: dict[str, str] = {}
    new_aliases: list[tuple[str, str, str]] = []
    new_domains: list[tuple[str, str]] = []
    new_sources: list[tuple[str, str, str]] = []
    out: list[str | None] = []
    for it in items:
        c = it.company
        traveller_domain = corporate_domain(it.record.email.value) if it.record.email.value else None
        if c is None:
            out.append(by_domain.get(traveller_domain) if traveller_domain else None)
            continue
        alias = c.alias
        domain = corporate_domain(c.email_domain)
        src = (c.source_system, c.source_company_id) if c.source_company_id else None
        cid = (
            (by_source.get(src) if src else None)
            or (by_alias.get(alias) if alias else None)
            or (by_domain.get(domain) if domain else None)
        )
        if cid is None:
            if not alias:
                out.append(None)
                continue
            cid = new_company_id()
            new.append((cid, c.name, alias, domain))
        if c.country:
            countries[cid] = c.country
        if alias and alias not in by_alias:
            by_alias[alias] = cid
            new_aliases.append((alias, cid, c.name))
        if domain and domain not in by_domain:
            by_domain[domain] = cid
            new_domains.append((domain, cid))
        if src and src not in by_source:
            by_source[src] = cid
            new_sources.append((src[0], str(src[1]), cid))
        out.append(cid)
    await companies_db.save_companies(
        conn, new=new, aliases=new_aliases, domains=new_domains, sources=new_sources, countries=countries
    )
    return out
