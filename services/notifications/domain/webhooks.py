"""Webhooks: how a post is signed, and which endpoint addresses may be registered. Pure Python.

Each post carries `X-Itinera-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
under the endpoint's secret (the scheme Stripe uses). A receiver recomputes the HMAC over the raw
body, compares in constant time, and refuses a timestamp too far from its clock (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-Itinera-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value for a body posted at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance: int = DEFAULT_TOLERANCE_SECONDS) -> bool:
    """Whether a header signs this body under `secret`, within `tolerance` seconds of `now`."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields.get("t", [""])[0])
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).rpartition("v1=")[2]
    return any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", []))


def private_address(host: str) -> bool:
    """Whether a literal address is one an outside endpoint cannot have (loopback, private, link-local…)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not address.is_global


def url_problem(url: str, *, production: bool) -> str | None:
    """Why an endpoint address may not be registered, or None.

    In production only https to a public host: no plain http (the body names a traveller), no
    loopback, private or link-local targets (the service must not be made to call its own
    network). A name is checked again against the addresses it resolves to when it is called.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "an endpoint must be an http(s) URL with a host"
    if parts.username or parts.password:
        return "an endpoint URL may not carry credentials"
    if not production:
        return None
    if parts.scheme != "https":
        return "an endpoint must use https"
    host = parts.hostname.lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")) or private_address(host):
        return "an endpoint must be a public address"
    if port is not None and port not in (443, 8443):
        return "an endpoint must use port 443 or 8443"
    return None
