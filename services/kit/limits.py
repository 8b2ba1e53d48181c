"""Abuse limits of the HTTP shell: a request rate per API key, and a brake on wrong keys per client.

Both are token buckets held in the process (each API process limits on its own: with N
processes a key may get up to N times its rate, which the settings should allow for). A bucket
refills continuously at its rate up to its burst; a request takes one token, and a refused one
learns how many seconds until the next token (`Retry-After`). Checking a bucket is a dict
lookup and a little arithmetic under no lock (the event loop runs one request at a time).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

Clock = Callable[[], float]


class RateLimit(BaseModel):
    """A sustained rate and the burst allowed above it."""

    per_second: float = Field(gt=0, description="Requests per second, sustained")
    burst: int = Field(ge=1, description="Requests allowed at once after a quiet spell")


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """One token bucket per name; idle buckets are forgotten once more than `max_names` are held
    (a full bucket is the same as none, so forgetting the least recently used ones loses little)."""

    def __init__(self, *, clock: Clock = time.monotonic, max_names: int = 10_000) -> None:
        self._clock = clock
        self._max_names = max_names
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, name: str, limit: RateLimit) -> float:
        """Take a token from `name`'s bucket: 0 when granted, else the seconds until one is there."""
        now = self._clock()
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = _Bucket(tokens=float(limit.burst), at=now)
            self._buckets[name] = bucket
            if len(self._buckets) > self._max_names:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(name)
            bucket.tokens = min(float(limit.burst), bucket.tokens + (now - bucket.at) * limit.per_second)
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / limit.per_second

    def wait(self, name: str, limit: RateLimit) -> float:
        """Seconds until `name` has a token again, without taking one (0: it has one)."""
        bucket = self._buckets.get(name)
        if bucket is None:
            return 0.0
        tokens = min(float(limit.burst), bucket.tokens + (self._clock() - bucket.at) * limit.per_second)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / limit.per_second


def retry_after(seconds: float) -> str:
    """A `Retry-After` value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))


class KeyRateLimiter:
    """Requests per API key (by the key's principal name), at the rate of the key's role."""

    def __init__(self, limits: Mapping[Any, RateLimit], *, clock: Clock = time.monotonic) -> None:
        self._limits = dict(limits)
        self._buckets = TokenBuckets(clock=clock)

    def admit(self, principal: str, role: str) -> float:
        """0 when the request may go ahead; else the seconds to wait."""
        limit = self._limits.get(role)
        if limit is None:
            return 0.0
        return self._buckets.take(principal, limit)


class FailedKeyThrottle:
    """Wrong API keys per client address: each costs a token; an address out of tokens is refused
    (whatever key it sends, so that guessing on learns nothing) until one has refilled."""

    def __init__(self, limit: RateLimit, *, clock: Clock = time.monotonic) -> None:
        self._limit = limit
        self._buckets = TokenBuckets(clock=clock)

    def blocked_for(self, address: str) -> float:
        """Seconds the address must still wait (0: it may try)."""
        return self._buckets.wait(address, self._limit)

    def failed(self, address: str) -> None:
        """The address presented a wrong key."""
        self._buckets.take(address, self._limit)
