"""JSON text of plain data, fast: orjson where it spells a value exactly as pydantic-core does.

The services write JSON columns and event payloads from plain data (dicts, lists, text, numbers)
on their hot paths; pydantic-core is the reference spelling (it is what models dump), orjson is
about two to four times faster on such data and spells it the same but for the cases below.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson
from pydantic_core import to_json


def json_bytes(value: Any, *, inf_nan_mode: Literal["null", "constants"] = "constants") -> bytes:
    """`pydantic_core.to_json(value, inf_nan_mode=...)`, the same bytes, about four times faster for
    plain JSON values with finite floats.

    orjson writes such values with the same bytes, except floats of 1e16 and over (written with
    an exponent sign, `1e+16`); it refuses integers beyond 64 bits, keys that are not text and
    (told to) times, dataclasses and subclasses of text, numbers and containers, which it would
    spell otherwise: those documents take pydantic-core. Infinities and NaN, which orjson writes
    as null, must not occur in what is written with it.
    """
    try:
        data = orjson.dumps(value, option=_ONLY_PLAIN_JSON)
    except orjson.JSONEncodeError:
        return to_json(value, inf_nan_mode=inf_nan_mode)
    # `b"e+" in data` scans slowly (an "e" on every few bytes): look for a "+" first, then the pair.
    if b"+" in data and _EXPONENT_SIGN.search(data) is not None:
        return to_json(value, inf_nan_mode=inf_nan_mode)
    return data


_EXPONENT_SIGN = re.compile(rb"e\+")
_ONLY_PLAIN_JSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
