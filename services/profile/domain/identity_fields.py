"""Evidence from addresses, employee numbers and sealed numbers (national id, known traveller; the
passport's level, which `matching.py` adds with the contact fields).

Kept apart from `matching.py`, which adds these fields' weights after the names, the birth date
and the contact fields, in the order `extra_levels` gives them (`compare` and `quick_score`
add the same floats in the same order).

A shared address says that two records live or work together, not that they are one person:
twins, a parent and a child, spouses and colleagues share one. So an address's agreement
counts only when both birth dates are known and do not disagree and the given names do not fall
in "different"; else (`household`) its weight is at most 0, and the evidence says "(household)".
Without both birth dates a father and his son of the same name at one home cannot be told
apart (the travel benchmark's parent-child pairs were joined when it counted). A family name
alone may differ: with the same given name and birth date that is a name changed on marriage
(twins and siblings have other given names, a parent another birth date). A disagreeing
address still counts against the pair.

An address's agreement is weighed with its frequency (term-frequency adjustment, as names
are): a shared postcode, street or house says less where many stored records have it (the
head office of a large company; a city-centre postcode). `address_tokens` names the parts
counted; the u-probability of the level becomes the part's share of stored records when that
is higher.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from services.profile.domain.comparisons import address_level, bare_postcode, employee_level, sealed_level
from services.profile.domain.features import MatchFeatures
from services.profile.domain.model_params import ModelParameters

# (comparison, level, weight, what a and b showed) of one field.
Extra = tuple[str, str, float, str, str]


def extra_levels(
    a: MatchFeatures,
    b: MatchFeatures,
    params: ModelParameters,
    *,
    household: bool,
    freq: Mapping[str, float] | None = None,
) -> list[Extra]:
    """Levels and weights of the fields both records hold, in a fixed order (`freq`: shares of stored
    records by `address_tokens`, for the term-frequency adjustment; without it the level's weight)."""
    out: list[Extra] = []
    w = params.weights
    for name in ("home", "business"):
        x, y = getattr(a, name), getattr(b, name)
        if x and y:
            table = f"{name}_address"
            level = address_level(x, y)
            weight = w[table][level]
            token = _ADJUSTED.get(level)
            if freq and token is not None and (share := freq.get(address_tokens(x)[token], 0.0)):
                lv = params.levels[table][level]
                if share > lv.u:
                    weight = math.log2(lv.m / share)
                    level = f"{level} (common {_PART[token]}, {share:.2%} of records)"
            if household and weight > 0:
                out.append((table, f"{level} (household)", 0.0, _shown(x), _shown(y)))
            else:
                out.append((table, level, weight, _shown(x), _shown(y)))
    if a.employee and b.employee:
        emp = employee_level(a.employee, b.employee)
        if emp is not None:
            out.append(("employee", emp, w["employee"][emp], a.employee, b.employee))
    if a.national_id and b.national_id:
        level = sealed_level(a.national_id, a.national_id_variants, b.national_id, b.national_id_variants)
        out.append(("national_id", level, w["national_id"][level], "(hash)", "(hash)"))
    if a.known_traveller and b.known_traveller:
        level = sealed_level(
            a.known_traveller, a.known_traveller_variants, b.known_traveller, b.known_traveller_variants
        )
        out.append(("known_traveller", level, w["known_traveller"][level], "(hash)", "(hash)"))
    return out


def passport_level(a: MatchFeatures, b: MatchFeatures) -> str:
    """Two passport hashes (both present): "exact", "one-edit" (a shared deletion variant) or "different"."""
    return sealed_level(a.passport, a.passport_variants, b.passport, b.passport_variants)


def passports_differ(a: MatchFeatures, b: MatchFeatures) -> bool:
    """Both hold a passport, and not one edit apart: two people (or one person's old and new passport)."""
    return bool(a.passport and b.passport and passport_level(a, b) == "different")


def national_ids_differ(a: MatchFeatures, b: MatchFeatures) -> bool:
    """Both hold a national id, and not one edit apart: two people (like two passports)."""
    return bool(
        a.national_id
        and b.national_id
        and a.national_id != b.national_id
        and not (a.national_id_variants & b.national_id_variants)
    )


def address_tokens(address: tuple[str, ...]) -> tuple[str, str, str]:
    """What an address adds to the frequency table: its postcode ("pc:"), its street within the postcode
    ("st:") and its house there ("ad:"); '' for a part it lacks. The postcode without its country (a
    source may leave it out, as comparisons do)."""
    postcode, street, number, _city = address
    pc = bare_postcode(postcode)
    if not pc:
        return ("", "", "")
    return (
        f"pc:{pc}",
        f"st:{pc}:{street}" if street else "",
        f"ad:{pc}:{street}:{number}" if street and number else "",
    )


# Which of `address_tokens` an agreeing level is weighed by.
_ADJUSTED = {"same-postcode": 0, "same-street": 1, "exact": 2}
_PART = ("postcode", "street", "address")


def _shown(address: tuple[str, ...]) -> str:
    return " ".join(part for part in address if part)
