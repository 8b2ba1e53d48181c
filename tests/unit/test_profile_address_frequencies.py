"""Term-frequency adjustment of addresses: a shared head office or a busy postcode says less."""

from __future__ import annotations

from services.profile.domain.identity_fields import address_tokens
from services.profile.domain.matching import MatchFeatures, quick_score, score_pair
from services.profile.domain.model_params import DEFAULT_PARAMETERS
from services.profile.domain.resolution import frequency_tokens
from tests.builders import match_features

OFFICE = {"street": "Friedrichstr. 10", "postcode": "10117", "city": "Berlin", "country": "DE"}


def colleague(given: str, street: str = "Friedrichstr. 10") -> MatchFeatures:
    f: MatchFeatures = match_features(
        "Acme GmbH",
        given_name=given,
        family_name="Meier",
        date_of_birth="1980-02-03",
        business_address={**OFFICE, "street": street},
    )
    return f


def business(a: MatchFeatures, b: MatchFeatures, freq: dict[str, float] | None) -> tuple[str, float]:
    ev = {e.field: (e.level, e.weight) for e in score_pair(a, b, freq=freq).evidence}
    return ev["business_address"]


def test_a_record_counts_its_postcode_street_and_house_once() -> None:
    a = colleague("Anna")
    assert address_tokens(a.business) == ("pc:10117", "st:10117:friedrichstrasse", "ad:10117:friedrichstrasse:10")
    both = match_features(given_name="Anna", family_name="Meier", home_address=OFFICE, business_address=OFFICE)
    tokens = frequency_tokens(both)
    assert tokens == ["f:meier", "g:anna", "pc:10117", "st:10117:friedrichstrasse", "ad:10117:friedrichstrasse:10"]


def test_an_address_many_records_share_weighs_less() -> None:
    a, b = colleague("Anna"), colleague("Ana")
    level = DEFAULT_PARAMETERS.levels["business_address"]["exact"]
    plain = business(a, b, None)
    assert plain == ("exact", level.weight)
    rare = business(a, b, {"ad:10117:friedrichstrasse:10": level.u / 2})  # rarer than the level's u: as it is
    assert rare == plain
    head_office = business(a, b, {"ad:10117:friedrichstrasse:10": 0.05})  # 5 % of all records work there
    assert head_office[0] == "exact (common address, 5.00% of records)"
    assert 0 < head_office[1] < plain[1]
    # the street within the postcode, when only it agrees
    other_house = business(a, colleague("Ana", street="Friedrichstr. 12"), {"st:10117:friedrichstrasse": 0.2})
    assert other_house[0].startswith("same-street (common street, 20.00% of records)")


def test_quick_score_adds_the_same_adjusted_weights() -> None:
    freq = {"ad:10117:friedrichstrasse:10": 0.05, "pc:10117": 0.3, "f:meier": 0.01}
    records = [colleague("Anna"), colleague("Ana"), colleague("Anna", street="Unter den Linden 1")]
    for a in records:
        for b in records:
            full = score_pair(a, b, freq=freq)
            assert quick_score(a, b, freq=freq) == (full.score, full.decision, full.rule)
