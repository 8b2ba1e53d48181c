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

# Traveller fields whose values are the person's own (searched for in audit details on erasure).
PERSONAL_FIELDS = ("given_name", "family_name", "full_name", "display_name", "email", "secondary_email", "phone",
                   "date_of_birth")  # fmt: skip
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
            value = entry.get("value") if isinstance(entry, Mapping) else entry
            if value:
                found.add(str(value))
    for r in raw:
        found.update(str(r[f]) for f in PERSONAL_FIELDS if r.get(f))
    return sorted(v for v in found if len(v) >= _MIN_VALUE_LENGTH)


def name_token_counts(tokens: Sequence[str]) -> dict[str, int]:
    """How much each name part's frequency falls when these records leave."""
    counts: dict[str, int] = {}
    for t in tokens:
        counts[t] = counts.get(t, 0) + 1
    return counts
