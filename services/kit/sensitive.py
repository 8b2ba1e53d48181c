"""Which fields of travellers' records are sensitive, and who may see them: decided here, once.

Categories, and the least role that may see each (roles imply others: `services.kit.auth`):

- `special-category` (supervisor): what reveals health or belief, GDPR art. 9 data — meal, dietary
  and accessibility codes, health, and the preference keys and SSR code families that carry them
  (`air.meal`, `needs.*`; meal SSRs `..ML`, wheelchair and medical SSRs such as `WCHR`, `MEDA`).
- `secret-identifier` (admin): official numbers that identify a person (passport, national id,
  known traveller and redress numbers). Services keep only keyed hashes of them and never
  republish them; should one ever reach a response, only an admin sees it.
- `date-of-birth` (agent): needed to ticket a trip (APIS), not for operations or booking systems.

Personal contact data — home and business addresses, other emails and phones, the employee number,
gender as the traveller stated it — has no category: whoever may read a traveller sees it, as they
see the email; erasure removes it with the rest (`PERSONAL_CONTACT_FIELDS`). Which identity numbers
are on file (`identity_numbers_on_file`: kinds, never a number or its hash) is not sensitive.

Every JSON response of every service passes through `redact` (the HTTP shell's response filter,
`services.kit.http`), whatever route produced it: a value a caller may not see is replaced by
`{"redacted": "<category>"}` — visibly, so a client can tell "hidden" from "unknown" — where it
stands: a member named after a sensitive field, a member named after a sensitive preference key,
the value-bearing members of an object whose `key` is a sensitive preference key, and each code of
a restricted SSR family in a list of SSR codes. A route may withhold a category from a caller
who could see it (`withhold`: need to know, e.g. preferences' `include_sensitive`), never reveal
one to a caller who may not.

Dead letters carry neither special-category data nor secret identifiers (`services.kit.deadletters`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:  # the kit's settings are not needed to decide, only to name the roles
    from services.kit.settings import Role

Category = Literal["special-category", "secret-identifier", "date-of-birth"]
SPECIAL: Final[Category] = "special-category"
SECRET: Final[Category] = "secret-identifier"  # noqa: S105  # a category's name, not a password
BIRTH_DATE: Final[Category] = "date-of-birth"
CATEGORIES: tuple[Category, ...] = (SPECIAL, SECRET, BIRTH_DATE)

# The least role that may see each category (a supervisor acts as an agent, an admin as anyone).
LEAST_ROLE: Mapping[Category, Role] = {SPECIAL: "supervisor", SECRET: "admin", BIRTH_DATE: "agent"}

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
        "dietary_needs",
        "accessibility",
        "accessibility_codes",
        "accessibility_needs",
        "health",
        "medical",
        "special_service_requests",
    }
)
BIRTH_DATE_FIELDS = frozenset({"date_of_birth", "birth_date", "dob"})
# Personal but not sensitive (no category: see above); named so that erasure covers each of them.
PERSONAL_CONTACT_FIELDS = frozenset(
    {"home_address", "business_address", "other_emails", "other_phones", "employee_number", "gender"}
)
REDACTED_IN_DEAD_LETTERS = SECRET_IDENTIFIERS | SPECIAL_CATEGORY

# Members named after a field, wherever they stand in a response.
FIELD_CATEGORIES: Mapping[str, Category] = (
    dict.fromkeys(SPECIAL_CATEGORY, SPECIAL)
    | dict.fromkeys(SECRET_IDENTIFIERS, SECRET)
    | dict.fromkeys(BIRTH_DATE_FIELDS, BIRTH_DATE)
)
# Preference keys (preferences' catalogue): exact keys, and families by prefix.
PREFERENCE_KEYS: Mapping[str, Category] = {"air.meal": SPECIAL}
PREFERENCE_FAMILIES: Mapping[str, Category] = {"needs.": SPECIAL, "health.": SPECIAL}
# Members holding IATA SSR codes; the families below reveal health or belief, the rest
# (FQTV, CHLD, DOCS without its data…) stay.
SSR_MEMBERS = frozenset({"ssr", "ssrs", "ssr_codes"})
_SSR_SPECIAL = re.compile(
    r"^(?:[A-Z]{2}ML|WC[A-Z]{2}|BLND|DEAF|DPNA|MAAS|MEDA|OXYG|STCR|SVAN|ESAN|PPOC|POXY|LEGL|LEGR|EXST)$"
)
# In an object describing one preference (`{"key": "air.meal", ...}`) every member carries its
# value unless it is one of these (the key, where it came from, how sure and when).
PREFERENCE_METADATA = frozenset(
    {
        "key",
        "source",
        "sensitive",
        "confidence",
        "evidence_count",
        "observed_count",
        "share",
        "first_seen",
        "last_seen",
        "effective_source",
        "set_by",
        "set_at",
        "description",
        "kind",
        "values",
        "code_table",
        "minimum",
        "maximum",
        "list_valued",
        "allowed",
    }
)

# Text that may need redacting names one of these; a body without any is passed as it is (JSON
# written by the services themselves spells member names and keys without escapes).
_TRIGGERS = re.compile(
    "|".join(
        re.escape(f'"{name}')
        for name in sorted({*FIELD_CATEGORIES, *PREFERENCE_KEYS, *PREFERENCE_FAMILIES, *SSR_MEMBERS})
    ).encode()
)


def marker(category: Category) -> dict[str, str]:
    """What stands in place of a value the caller may not see."""
    return {"redacted": category}


def is_redacted(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and value.get("redacted") in CATEGORIES


def preference_category(key: str) -> Category | None:
    """The category of a preference key (None: not sensitive)."""
    found = PREFERENCE_KEYS.get(key)
    if found is not None:
        return found
    for prefix, category in PREFERENCE_FAMILIES.items():
        if key.startswith(prefix):
            return category
    return None


def visible_to(role: Role | None, implied: Iterable[Role], *, withheld: Iterable[str] = ()) -> frozenset[Category]:
    """The categories a caller in `role` (acting as `implied`) sees; nothing without a role."""
    if role is None:
        return frozenset()
    acts_as = set(implied)
    hidden = set(withheld)
    return frozenset(c for c in CATEGORIES if LEAST_ROLE[c] in acts_as and c not in hidden)


def redact(value: Any, visible: frozenset[Category]) -> tuple[Any, bool]:
    """`value` (decoded JSON) with what `visible` does not cover replaced by markers; and whether
    anything was. The input is not modified (changed parts are copies)."""
    if len(visible) == len(CATEGORIES):
        return value, False
    changed = [False]
    out = _walk(value, visible, changed)
    return out, changed[0]


def redact_body(body: bytes, visible: frozenset[Category]) -> bytes:
    """A JSON response body redacted for a caller who sees `visible` (the same bytes if nothing is)."""
    if len(visible) == len(CATEGORIES) or not _TRIGGERS.search(body):
        return body
    try:
        data = json.loads(body)
    except ValueError:
        return body  # not JSON after all: nothing of ours to walk
    out, changed = redact(data, visible)
    if not changed:
        return body
    return json.dumps(out, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _walk(value: Any, visible: frozenset[Category], changed: list[bool]) -> Any:
    """`value` redacted; the very same object where nothing below it changes (no copy: cheap)."""
    if type(value) is list:
        items = None
        for i, item in enumerate(value):
            if type(item) is dict or type(item) is list:
                walked = _walk(item, visible, changed)
                if walked is not item:
                    items = items if items is not None else list(value)
                    items[i] = walked
        return value if items is None else items
    if type(value) is not dict:
        return value
    pref = value.get("key")
    pref_category = preference_category(pref) if type(pref) is str else None
    out = None
    new: Any
    for name, member in value.items():
        category = FIELD_CATEGORIES.get(name)
        if category is None and "." in name:
            category = preference_category(name)
        if category is None and pref_category is not None and name not in PREFERENCE_METADATA:
            category = pref_category
        if category is not None and category not in visible and member is not None and not is_redacted(member):
            new = marker(category)
            changed[0] = True
        elif name in SSR_MEMBERS and SPECIAL not in visible:
            new = _ssr(member, changed)
        elif type(member) is dict or type(member) is list:
            new = _walk(member, visible, changed)
        else:
            continue
        if new is not member:
            out = out if out is not None else dict(value)
            out[name] = new
    return value if out is None else out


def _ssr(member: Any, changed: list[bool]) -> Any:
    """SSR codes with those of the special families replaced (a code may carry free text after it)."""
    if isinstance(member, str):
        if _SSR_SPECIAL.match(member.strip()[:4]):
            changed[0] = True
            return marker(SPECIAL)
        return member
    if isinstance(member, list):
        return [_ssr(m, changed) for m in member]
    if isinstance(member, dict):
        code = member.get("code")
        if isinstance(code, str) and _SSR_SPECIAL.match(code.strip()[:4]):
            changed[0] = True
            return marker(SPECIAL)
    return member
