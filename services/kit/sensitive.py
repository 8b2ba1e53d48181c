"""Which fields of travellers' records are sensitive, decided in one place.

- `SECRET_IDENTIFIERS`: official numbers that identify a person (passport, national id, known
  traveller and redress numbers). Services keep only keyed hashes of them and never republish them.
- `SPECIAL_CATEGORY`: what reveals health or belief (meal, dietary and accessibility codes).

Dead letters carry neither (`services.kit.deadletters`).
"""

from __future__ import annotations

SECRET_IDENTIFIERS = frozenset(
    {
        "passport_number",
        "national_id",
        "national_id_number",
        "known_traveller_number",
        "known_traveler_number",
        "redress_number",
    }
)
SPECIAL_CATEGORY = frozenset(
    {
        "meal",
        "meal_code",
        "dietary",
        "dietary_codes",
        "accessibility",
        "accessibility_codes",
        "special_service_requests",
    }
)
REDACTED_IN_DEAD_LETTERS = SECRET_IDENTIFIERS | SPECIAL_CATEGORY
