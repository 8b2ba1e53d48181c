"""Business travellers: the company's address is the golden email, a private one is kept second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.profile.domain.contacts import on_domain, with_business_contacts
from services.profile.domain.model import Correction, StoredRecord, golden_record

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def rec(system: str, days: int, email: str) -> StoredRecord:
    return StoredRecord(system, f"{system}-1", {"email": email, "display_name": "Ann Lee"}, T0 + timedelta(days=days))


def test_the_company_address_wins_over_a_newer_private_one() -> None:
    records = [rec("gds", 0, "ann.lee@globex.example"), rec("hotel", 30, "ann.lee@gmail.com")]
    golden = with_business_contacts(golden_record(records), records, company_domains={"globex.example"})
    assert (golden["email"].value, golden["email"].rule) == ("ann.lee@globex.example", "company-domain")
    assert golden["email"].last_seen == T0
    assert (golden["secondary_email"].value, golden["secondary_email"].source_system) == ("ann.lee@gmail.com", "hotel")


def test_without_company_domains_the_newest_wins_and_the_other_is_kept() -> None:
    records = [rec("gds", 0, "ann.lee@globex.example"), rec("hotel", 30, "ann.lee@gmail.com")]
    golden = with_business_contacts(golden_record(records), records, company_domains=())
    assert golden["email"].value == "ann.lee@gmail.com"
    assert golden["secondary_email"].value == "ann.lee@globex.example"


def test_an_agent_s_correction_still_wins() -> None:
    records = [rec("gds", 0, "ann.lee@globex.example"), rec("hotel", 30, "ann.lee@gmail.com")]
    corrected = golden_record(records, corrections=[Correction("email", "ann@lee.example", "agent-7", T0)])
    golden = with_business_contacts(corrected, records, company_domains={"globex.example"})
    assert golden["email"].value == "ann@lee.example"
    assert golden["secondary_email"].value == "ann.lee@gmail.com"


def test_subdomains_belong_to_the_company() -> None:
    assert on_domain("ann@mail.globex.example", {"globex.example"})
    assert not on_domain("ann@notglobex.example", {"globex.example"})


@settings(max_examples=200, deadline=None)
@given(
    emails=st.lists(
        st.tuples(st.sampled_from(["a@globex.example", "b@x.globex.example", "c@gmail.com", "d@web.example"]),
                  st.integers(0, 60)),
        min_size=1,
        max_size=5,
    )
)
def test_an_address_on_the_company_s_domain_is_always_preferred(emails: list[tuple[str, int]]) -> None:
    records = [rec(f"s{n}", days, email) for n, (email, days) in enumerate(emails)]
    golden = with_business_contacts(golden_record(records), records, company_domains={"globex.example"})
    corporate = [e for e, _ in emails if on_domain(e, {"globex.example"})]
    assert (golden["email"].value in corporate) == bool(corporate)
    assert golden.get("secondary_email") is None or golden["secondary_email"].value != golden["email"].value
    assert {golden["email"].value} | ({golden["secondary_email"].value} if "secondary_email" in golden else set()) <= {
        e for e, _ in emails
    }
