"""Which ids an erasure of a traveller reaches: every id the person had, and the parts that came from them.

Two kinds of link between customer ids:
- *same person*: a merge in force (the absorbed id redirects to the survivor). Followed both
  ways: erasing either erases both, and everything else merged into them.
- *came from*: a part taken out of a customer — a record split off into a customer of its own, a
  merge undone (the restored customer had been part of the survivor). Followed from the origin
  to the part only: erasing the part does not reach the customer it was taken from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# Traveller fields whose values are the person's own (searched for in audit details on erasure): a list's
# items and an address's parts each (gender is left out: its few words stand in unrelated text too).
PERSONAL_FIELDS = ("given_name", "family_name", "full_name", "display_name", "email", "secondary_email", "phone",
                   "date_of_birth", "employee_number", "other_emails", "other_phones", "secondary_emails",
                   "secondary_phones", "home_address", "business_address")  # fmt: skip
_ADDRESS_PARTS = ("line", "street", "postcode")  # a city or region alone is not the person's
_MIN_VALUE_LENGTH = 4


@dataclass(frozen=True)
class Links:
    same_person: frozenset[tuple[str, str]]  # (absorbed, survivor) of merges in force
    came_from: frozenset[tuple[str, str]]  # (origin, part): splits and undone merges


def expand(requested: str, links: Links) -> set[str]:
    """Every id an erasure of `requested` reaches (itself included)."""
    neighbours: dict[str, set[str]] = {}
    for a, b in links.same_person:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    for origin, part in links.came_from:
        neighbours.setdefault(origin, set()).add(part)
    reached, frontier = {requested}, [requested]
    while frontier:
        for n in neighbours.get(frontier.pop(), ()):
            if n not in reached:
                reached.add(n)
                frontier.append(n)
    return reached


def record_keys(bookings: Iterable[tuple[str, str]]) -> list[str]:
    """The Kafka keys of booking events (`<source_system>:<booking_id>`), the subjects their keys seal."""
    return sorted({f"{system}:{booking}" for system, booking in bookings})


def personal_values(golden: Iterable[Mapping[str, object]], raw: Iterable[Mapping[str, object]]) -> list[str]:
    """The traveller's own values in golden records (`field -> {value, ...}`) and raw source records."""
    found: set[str] = set()
    for g in golden:
        for f in PERSONAL_FIELDS:
            entry = g.get(f)
            found.update(_values(entry.get("value") if isinstance(entry, Mapping) else entry))
    for r in raw:
        for f in PERSONAL_FIELDS:
            found.update(_values(r.get(f)))
    return sorted(v for v in found if len(v) >= _MIN_VALUE_LENGTH)


def _values(value: object) -> list[str]:
    """A field's searchable values: itself, a list's items, an address's identifying parts."""
    if not value:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v]
    if isinstance(value, Mapping):
        return [str(value[k]) for k in _ADDRESS_PARTS if value.get(k)]
    return [str(value)]


def frequency_token_counts(tokens: Sequence[str]) -> dict[str, int]:
    """How much each name part's frequency falls when these records leave."""
    counts: dict[str, int] = {}
    for t in tokens:
        counts[t] = counts.get(t, 0) + 1
    return counts
