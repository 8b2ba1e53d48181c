"""Corporate accounts: legal-name keys, aliases and the email domains that identify them."""

from __future__ import annotations

import re
from functools import lru_cache

from cleanco import basename  # type: ignore[import-untyped]  # cleanco ships no type information

from services.profile.domain.names import match_form

# Mail providers whose domain says nothing about the traveller's employer.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.de",
        "hotmail.com",
        "hotmail.de",
        "outlook.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "t-online.de",
        "proton.me",
        "protonmail.com",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "yandex.ru",
        "mail.ru",
        "free.fr",
        "orange.fr",
        "libero.it",
        "example.com",
        "example.org",
        "example.net",
    }
)


@lru_cache(maxsize=100_000)
def company_key(name: str) -> str:
    """Legal-name key: legal forms (GmbH, Inc., S.A., ...) removed, then case, accents, punctuation."""
    text = re.sub(r"\s+", " ", name).strip()
    for _ in range(2):  # "Acme Holding GmbH & Co. KG" carries two legal forms
        stripped = str(basename(text)).strip()
        if not stripped or stripped == text:
            break
        text = stripped
    return match_form(text) or match_form(name)


def corporate_domain(email_or_domain: str | None) -> str | None:
    """The domain of an address (or a domain) when it can identify an employer, else None."""
    if not email_or_domain:
        return None
    domain = email_or_domain.rpartition("@")[2].strip().lower().rstrip(".")
    if not domain or "." not in domain or domain in FREE_MAIL_DOMAINS:
        return None
    return domain
