"""Corporate accounts: names, aliases, email domains, countries and source ids (asyncpg, caller's transaction)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import asyncpg

from services.profile.adapters.rows import SourceKey


async def company_domains(conn: asyncpg.Connection, ids: Iterable[str | None]) -> dict[str, set[str]]:
    """Each company's email domains (those its sources named)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = await conn.fetch(
        "SELECT company_id, domain FROM company_domains WHERE company_id = ANY($1::text[])"
        " UNION SELECT company_id, lower(email_domain) FROM companies"
        " WHERE company_id = ANY($1::text[]) AND email_domain IS NOT NULL",
        wanted,
    )
    out: dict[str, set[str]] = {}
    for r in rows:
        out.setdefault(r["company_id"], set()).add(r["domain"])
    return out


async def company_countries(conn: asyncpg.Connection, ids: Iterable[str | None]) -> dict[str, str]:
    """Where each company is based (those whose sources said)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = await conn.fetch(
        "SELECT company_id, country FROM companies WHERE company_id = ANY($1::text[]) AND country IS NOT NULL", wanted
    )
    return {r["company_id"]: r["country"] for r in rows}


async def company_names(conn: asyncpg.Connection, ids: Iterable[str | None]) -> dict[str, str]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = await conn.fetch("SELECT company_id, name FROM companies WHERE company_id = ANY($1::text[])", wanted)
    return {r["company_id"]: r["name"] for r in rows}


async def company_lookup(
    conn: asyncpg.Connection, *, sources: Sequence[SourceKey], aliases: Sequence[str], domains: Sequence[str]
) -> tuple[dict[SourceKey, str], dict[str, str], dict[str, str]]:
    by_source: dict[SourceKey, str] = {}
    if sources:
        rows = await conn.fetch(
            "SELECT s.source_system, s.source_company_id, s.company_id FROM company_sources s"
            " JOIN unnest($1::text[], $2::text[]) AS k(sys, id)"
            " ON s.source_system = k.sys AND s.source_company_id = k.id",
            [s[0] for s in sources],
            [s[1] for s in sources],
        )
        by_source = {(r["source_system"], r["source_company_id"]): r["company_id"] for r in rows}
    by_alias: dict[str, str] = {}
    if aliases:
        rows = await conn.fetch(
            "SELECT alias_key, company_id FROM company_aliases WHERE alias_key = ANY($1::text[])", list(aliases)
        )
        by_alias = {r["alias_key"]: r["company_id"] for r in rows}
    by_domain: dict[str, str] = {}
    if domains:
        rows = await conn.fetch(
            "SELECT domain, company_id FROM company_domains WHERE domain = ANY($1::text[])", list(domains)
        )
        by_domain = {r["domain"]: r["company_id"] for r in rows}
    return by_source, by_alias, by_domain


async def save_companies(
    conn: asyncpg.Connection,
    *,
    new: Sequence[tuple[str, str, str, str | None]],  # id, name, name_key, domain
    aliases: Sequence[tuple[str, str, str]],  # alias_key, company_id, alias
    domains: Sequence[tuple[str, str]],
    sources: Sequence[tuple[str, str, str]],
    countries: Mapping[str, str] | None = None,  # company_id -> country, where a source says
) -> None:
    if new:
        await conn.execute(
            "INSERT INTO companies (company_id, name, name_key, email_domain)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING",
            [n[0] for n in new],
            [n[1] for n in new],
            [n[2] for n in new],
            [n[3] for n in new],
        )
    if aliases:
        await conn.execute(
            "INSERT INTO company_aliases (alias_key, company_id, alias)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING",
            [a[0] for a in aliases],
            [a[1] for a in aliases],
            [a[2] for a in aliases],
        )
    if domains:
        await conn.execute(
            "INSERT INTO company_domains (domain, company_id) SELECT * FROM unnest($1::text[], $2::text[])"
            " ON CONFLICT DO NOTHING",
            [d[0] for d in domains],
            [d[1] for d in domains],
        )
    if countries:
        # The first country a source states stays (several sources may disagree about an account).
        ordered = sorted(countries)
        await conn.execute(
            "UPDATE companies c SET country = t.country FROM unnest($1::text[], $2::text[]) AS t(id, country)"
            " WHERE c.company_id = t.id AND c.country IS NULL",
            ordered,
            [countries[c] for c in ordered],
        )
    if sources:
        await conn.execute(
            "INSERT INTO company_sources (source_system, source_company_id, company_id)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING",
            [s[0] for s in sources],
            [s[1] for s in sources],
            [s[2] for s in sources],
        )
