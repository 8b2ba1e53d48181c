"""JSON text of plain data (`services.kit.jsontext`): pydantic-core's bytes, faster."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, NamedTuple

from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from services.kit.contracts.customers import LoyaltyMembershipV1
from services.kit.jsontext import json_bytes

_SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=20)
_PLAIN = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_FLOATS = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=400, deadline=None)
@given(_PLAIN)
@example({"given_name": 'Zoë "Q" \\ 😀\u2028\x00', "loyalty": ["LH:1"], "sources": 2})
def test_plain_json_data_is_written_as_pydantic_core_writes_it(value: Any) -> None:
    assert json_bytes(value).decode() == to_json(value).decode()


@settings(max_examples=400, deadline=None)
@given(st.lists(_FLOATS, max_size=5) | st.dictionaries(st.text(max_size=4), _FLOATS, max_size=3))
@example([0.1 + 0.2, 1e16, 1e300, 5e-324, -0.0, 12.345])
def test_floats_are_the_same_numbers(value: Any) -> None:
    assert json.loads(json_bytes(value).decode()) == json.loads(to_json(value))


def test_what_is_not_plain_json_data_is_written_by_pydantic_core() -> None:
    now = datetime(2026, 11, 22, 18, 0, 0, 123_456, tzinfo=UTC)
    for value in (
        {"at": now},
        [now.astimezone(timezone(timedelta(hours=5, minutes=30)))],
        {"price": Decimal("12.50")},
        {"big": 2**70},
        (uuid.UUID(int=5), "x"),
        {"loyalty": [LoyaltyMembershipV1(programme="LH", number="1")]},
    ):
        assert json_bytes(value).decode() == to_json(value).decode()


JSON_DOCUMENTS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Pair(NamedTuple):  # a subclass of a container: pydantic-core writes it, not orjson
    key: str
    at: datetime


@settings(max_examples=500, deadline=None)
@given(value=JSON_DOCUMENTS)
@example(value={"a": [1e16, 1e-7, 2**64, -(2**63) - 1, 0.1, "e+"]})
@example(value={"at": datetime(2026, 1, 1, tzinfo=UTC), "day": date(2026, 1, 1)})
@example(value=[Pair("k", T0), {1: "x"}, {"k"}])
def test_property_json_bytes_are_pydantic_cores(value: Any) -> None:
    assert json_bytes(value) == to_json(value)
    assert json_bytes(value, inf_nan_mode="null") == to_json(value, inf_nan_mode="null")
