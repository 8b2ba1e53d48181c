"""Contact data of business travellers: the company's address first, a private one kept second.

Survivorship picks contact data by recency, but a business traveller's newest address is
often a private one (a leisure booking, a hotel loyalty profile), while business messages
belong at the company's address. For a customer whose company's email domains are known, the
golden `email` is the most recently stated address on one of them; the most recent other
address is kept as `secondary_email` (any customer with two addresses has one). An agent's
correction of the email still wins.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from services.profile.domain.model import AGENT_SOURCE, FieldValue, StoredRecord
from services.profile.domain.survivorship import with_other_contacts

SECONDARY_EMAIL = "secondary_email"


def on_domain(email: str, domains: Collection[str]) -> bool:
    """Whether an address is at one of `domains` (or a subdomain: mail.globex.example)."""
    host = email.rpartition("@")[2].lower()
    return any(host == d or host.endswith("." + d) for d in domains)


def distinct_emails(records: Iterable[StoredRecord]) -> int:
    return len({r.fields["email"] for r in records if r.fields.get("email")})


def with_business_contacts(
    golden: Mapping[str, FieldValue],
    records: Iterable[StoredRecord],
    *,
    company_domains: Collection[str],
    trust: Mapping[str, int] | None = None,
) -> dict[str, FieldValue]:
    """`golden` with the email chosen for business (the company's domain first) and the secondary email."""
    trust = trust or {}
    records = list(records)
    having = [r for r in records if r.fields.get("email")]
    out = dict(golden)
    current = out.get("email")
    corporate = [r for r in having if on_domain(r.fields["email"], company_domains)] if company_domains else []
    if current is not None and current.source_system != AGENT_SOURCE and corporate:
        out["email"] = _newest(corporate, "company-domain", trust)
        if out["email"].value != current.value:
            out = with_other_contacts(out, records)  # the address no longer chosen is another one
    primary = out["email"].value if "email" in out else None
    others = [r for r in having if r.fields["email"] != primary]
    if others:
        out[SECONDARY_EMAIL] = _newest(others, "recency", trust)
    else:
        out.pop(SECONDARY_EMAIL, None)
    return out


def _newest(records: list[StoredRecord], rule: str, trust: Mapping[str, int]) -> FieldValue:
    chosen = max(records, key=lambda r: (r.seen("email"), trust.get(r.source_system, 50), r.source_system, r.source_id))
    value = chosen.fields["email"]
    same = [r for r in records if r.fields["email"] == value]
    seen = max(r.seen("email") for r in same)
    return FieldValue(value, chosen.source_system, chosen.source_id, seen, rule, len(same))
