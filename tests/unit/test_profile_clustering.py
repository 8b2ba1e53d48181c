"""Which two customers a record that matches both may join (issue 15: clustering)."""

from __future__ import annotations

from services.profile.domain.matching import MatchFeatures
from services.profile.domain.resolution import identifiers_conflict


def test_identifiers_that_name_different_travellers_conflict() -> None:
    base = MatchFeatures(given="mila", family="novak", dob="1980-05-04", passport="h1", loyalty=("LH:123",))
    assert identifiers_conflict(base, MatchFeatures(given="mila", family="novak", dob="2008-11-30"))
    assert identifiers_conflict(base, MatchFeatures(given="mila", family="novak", passport="h2"))
    assert identifiers_conflict(base, MatchFeatures(given="mila", family="novak", loyalty=("LH:456",)))


def test_missing_or_shared_identifiers_do_not_conflict() -> None:
    base = MatchFeatures(given="mila", family="novak", dob="1980-05-04", passport="h1", loyalty=("LH:123",))
    assert not identifiers_conflict(base, MatchFeatures(given="mila", family="novak"))
    assert not identifiers_conflict(base, MatchFeatures(dob="1980-05-04", passport="h1", loyalty=("LH:123", "BA:9")))
    assert not identifiers_conflict(MatchFeatures(), MatchFeatures())
