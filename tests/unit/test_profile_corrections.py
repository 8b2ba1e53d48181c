"""What an agent's correction may hold (pure rules; the API test covers the HTTP side)."""

from __future__ import annotations

import pytest

from services.profile.domain.corrections import InvalidCorrectionError, normalize_correction


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("email", "Ann@Example.COM", "ann@example.com"),
        ("phone", "030 901820", "+4930901820"),
        ("phone", "0049 30 901820", "+4930901820"),
        ("date_of_birth", "1979-11-30T00:00:00Z", "1979-11-30"),
        ("nationality", "GBR", "GB"),
        ("language", "DE", "de"),
        ("family_name", " van  der Berg ", "van der Berg"),
        ("email", "   ", None),
        ("phone", None, None),
    ],
)
def test_valid_values_are_normalised(field: str, value: str | None, stored: str | None) -> None:
    assert normalize_correction(field, value, phone_region="DE") == stored


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "no-at-sign"),
        ("phone", "+1 555"),
        ("date_of_birth", "yesterday"),
        ("nationality", "XX"),
        ("language", "en-Great Britain"),
        ("language", "xx"),
        ("display_name", "x" * 201),
        ("given_name", "Ann\x00"),
    ],
)
def test_invalid_values_are_refused(field: str, value: str) -> None:
    with pytest.raises(InvalidCorrectionError):
        normalize_correction(field, value, phone_region="DE")
