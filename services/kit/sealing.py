"""Sealed credentials: what must travel on a topic without being readable there.

A survey link or a confirmation question's answer link carries a token that is a credential
(whoever holds it may answer). The producer (feedback, preferences) seals it, the consumer that
emails it (notifications) opens it just before it renders the message, so neither the topics,
their dead letters nor the consumer's tables ever hold it in clear.

AES-256-GCM (the `cryptography` package's AEAD) with a random 96-bit nonce per value. The
associated data binds a sealed value to its purpose and subject (e.g. `survey-link`, the survey
id): moved into another event it no longer opens. Keys come from the shared `link_keys` setting:
the first seals, every one opens, and a sealed value names its key by a short fingerprint, so a
key is rotated by putting the new one first and removing the old one once the links it sealed
have expired.

Form: `v1.<key fingerprint, 8 hex>.<base64url(nonce || ciphertext and tag)>`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

VERSION = "v1"
# What a sealed value is for (bound into it): a survey link, a confirmation question's answer token.
SURVEY_LINK = "survey-link"
ANSWER_TOKEN = "answer-token"  # noqa: S105  # a purpose name, not a secret
KEY_BYTES = 32
NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed value that cannot be opened: unknown key, altered, or bound to something else."""


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_key(secret: SecretStr) -> bytes:
    """A link key from its setting (base64url of 32 random bytes)."""
    try:
        key = _b64decode(secret.get_secret_value().strip())
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a link key must be base64url text") from exc
    if len(key) != KEY_BYTES:
        raise ValueError(f"a link key must be {KEY_BYTES} bytes (base64url), got {len(key)}")
    return key


def new_key() -> str:
    """A fresh link key, as the setting takes it."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode().rstrip("=")


class Sealer:
    """Seals and opens short texts with the configured link keys."""

    def __init__(self, keys: Iterable[SecretStr]) -> None:
        parsed = [parse_key(k) for k in keys]
        if not parsed:
            raise ValueError("at least one link key is needed")
        self._keys = {hashlib.sha256(k).hexdigest()[:8]: AESGCM(k) for k in parsed}
        self._sealing_id = hashlib.sha256(parsed[0]).hexdigest()[:8]

    def seal(self, text: str, *, purpose: str, subject: str) -> str:
        """`text` sealed for `purpose` and `subject`."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self._sealing_id].encrypt(nonce, text.encode(), _bound(purpose, subject))
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{VERSION}.{self._sealing_id}.{body}"

    def open(self, sealed: str, *, purpose: str, subject: str) -> str:
        """The text sealed for `purpose` and `subject`; `SealError` if it cannot be opened."""
        version, _, rest = sealed.partition(".")
        key_id, _, body = rest.partition(".")
        if version != VERSION or not body:
            raise SealError("not a sealed value")
        aead = self._keys.get(key_id)
        if aead is None:
            raise SealError(f"sealed with key {key_id!r}, which is not among the link keys")
        try:
            raw = _b64decode(body)
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _bound(purpose, subject)).decode()
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise SealError("the sealed value was altered or belongs to another purpose or subject") from exc


def _bound(purpose: str, subject: str) -> bytes:
    return f"itinera/{purpose}/{subject}".encode()


_process_sealer: Sealer | None = None


def configure(keys: Iterable[SecretStr]) -> Sealer:
    """Set the sealer of this process from the `link_keys` setting (each service's bootstrap does,
    like logging: producers seal deep inside handlers that take no configuration)."""
    global _process_sealer  # noqa: PLW0603  # process-wide wiring, set once at start
    _process_sealer = Sealer(keys)
    return _process_sealer


def link_sealer() -> Sealer:
    """The sealer `configure` set."""
    if _process_sealer is None:
        raise RuntimeError("link keys are not configured (the service's bootstrap calls sealing.configure)")
    return _process_sealer
