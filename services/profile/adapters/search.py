"""Traveller search in PostgreSQL: customers' search documents under a pg_trgm index.

pg_trgm lives in the database's `extensions` schema (deploy/postgres/schemas.sql creates it as
a superuser; migration 0009 checks it is there), so its operator and functions are named with
their schema: the service's search_path is its own schema only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

# What a background job over the database may meet and try again later (with OSError).
DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError)


async def customers_matching(conn: asyncpg.Connection, tokens: Sequence[str], *, limit: int) -> list[str]:
    """Active customers whose document holds every token: a word like it (trigram word similarity,
    pg_trgm's threshold) or a word it begins. Best matches first."""
    words = [t for t in dict.fromkeys(tokens) if t]
    if not words:
        return []
    # Each word: an indexed trigram condition or an indexed word-prefix pattern (the document starts
    # with a space); every word must match. Words are [a-z0-9] (domain.search), so no LIKE escapes.
    # The words are the document before its phonetic codes (`_WORDS`: the trigram index's expression).
    conditions = [
        f"({_WORDS} OPERATOR(extensions.%>) ${2 * i + 1}::text OR {_WORDS} LIKE ${2 * i + 2}::text)"
        for i in range(len(words))
    ]
    params: list[object] = []
    for w in words:
        params += [w, f"% {w}%"]
    # Best first: names like the query (counted twice) before companies like it.
    score = " + ".join(
        f"2 * extensions.word_similarity(${2 * i + 1}::text, split_part(c.search_doc, '|', 1))"
        f" + extensions.word_similarity(${2 * i + 1}::text, {_WORDS})"
        for i in range(len(words))
    )
    async with conn.transaction():
        # How alike a word must be: a letter left out of a short name ("Robison", "Smth") keeps only
        # 0.4-0.55 of its trigrams. Several words narrow each other down, so each may be looser.
        threshold = SEVERAL_WORDS_THRESHOLD if len(words) > 1 else ONE_WORD_THRESHOLD
        await conn.execute(f"SET LOCAL pg_trgm.word_similarity_threshold = {threshold}")
        rows = await conn.fetch(
            f"SELECT c.customer_id FROM customers c WHERE c.status = 'active' AND {' AND '.join(conditions)}"
            f" ORDER BY {score} DESC, c.customer_id LIMIT ${len(params) + 1}",
            *params,
            limit,
        )
    return [r["customer_id"] for r in rows]


# The names and companies of a document, without its phonetic codes (migration 0013 indexes this).
_WORDS = "split_part(c.search_doc, '~', 1)"
ONE_WORD_THRESHOLD = 0.5
SEVERAL_WORDS_THRESHOLD = 0.4


async def customers_of_company(conn: asyncpg.Connection, company_key: str, *, limit: int) -> list[str]:
    """Active customers of the company known under this alias key (legal forms and case ignored)."""
    rows = await conn.fetch(
        "SELECT c.customer_id FROM customers c JOIN company_aliases a USING (company_id)"
        " WHERE a.alias_key = $1 AND c.status = 'active' LIMIT $2",
        company_key,
        limit,
    )
    return [r["customer_id"] for r in rows]


async def unindexed_customers(conn: asyncpg.Connection, *, limit: int) -> list[str]:
    """Active customers without a search document (written before the search had them), locked."""
    rows = await conn.fetch(
        "SELECT customer_id FROM customers WHERE search_doc IS NULL AND status = 'active'"
        " ORDER BY customer_id LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return [r["customer_id"] for r in rows]


async def set_documents(conn: asyncpg.Connection, documents: Mapping[str, str]) -> None:
    """Store search documents of customers that have none (a document written meanwhile stays)."""
    ids = sorted(documents)
    if ids:
        await conn.execute(
            "UPDATE customers c SET search_doc = t.doc FROM unnest($1::text[], $2::text[]) AS t(id, doc)"
            " WHERE c.customer_id = t.id AND c.search_doc IS NULL",
            ids,
            [documents[i] for i in ids],
        )


async def customers_sounding(conn: asyncpg.Connection, sounds: Sequence[str], *, limit: int) -> list[str]:
    """Active customers whose document holds every one of these phonetic words (`domain.search.sound_words`):
    its `search_sounds` array (generated from the document, GIN-indexed: migration 0013)."""
    if not sounds:
        return []
    rows = await conn.fetch(
        "SELECT c.customer_id FROM customers c WHERE c.status = 'active' AND c.search_sounds @> $1::text[]"
        " ORDER BY c.customer_id LIMIT $2",
        list(sounds),
        limit,
    )
    return [r["customer_id"] for r in rows]
