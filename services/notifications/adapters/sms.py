"""Sending text messages through an SMS provider's HTTP API, with failures classified as temporary or permanent.

The provider API has the shape of the most widely used one (Twilio's Messages resource):
`POST {base}/2010-04-01/Accounts/{account}/Messages.json`, a form with `To`, `From` (the
sender id) and `Body`, HTTP basic auth with the account id and its token. Any provider or
gateway that speaks this shape can be used by pointing `sms_api_url` at it.

A 4xx answer is permanent (an invalid or unreachable number, a message the provider refuses:
sending it again changes nothing), except 408 and 429 (the provider asks us to come back);
5xx answers, timeouts and connection failures are temporary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from services.notifications.adapters.mailer import SendError


@dataclass(frozen=True)
class TextMessage:
    to: str  # E.164
    body: str
    delivery_id: str


class SmsSender(Protocol):
    """Hands one text message to a provider; raises SendError when it is not accepted. Returns its id there."""

    async def send(self, message: TextMessage) -> str: ...


@dataclass(frozen=True)
class HttpSmsConfig:
    api_url: str  # e.g. https://api.twilio.com
    account_sid: str
    auth_token: str
    sender: str  # a number in E.164 or an alphanumeric sender id
    timeout: float = 15.0


_RETRY_LATER = frozenset({408, 425, 429})


class HttpSmsSender:
    """One request per message over a shared connection pool (closed with `aclose`)."""

    def __init__(self, config: HttpSmsConfig, *, client: httpx.AsyncClient | None = None) -> None:
        self._config = config
        self._client = client or httpx.AsyncClient(timeout=config.timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, message: TextMessage) -> str:
        c = self._config
        url = f"{c.api_url.rstrip('/')}/2010-04-01/Accounts/{c.account_sid}/Messages.json"
        try:
            response = await self._client.post(
                url,
                data={"To": message.to, "From": c.sender, "Body": message.body},
                auth=(c.account_sid, c.auth_token),
                # A provider that honours it drops a second request for the same message.
                headers={"Idempotency-Key": message.delivery_id, "I-Twilio-Idempotency-Token": message.delivery_id},
            )
        except httpx.HTTPError as exc:
            raise SendError(f"{type(exc).__name__}: {exc}", permanent=False) from exc
        if response.is_success:
            try:
                sid = response.json().get("sid")
            except ValueError:
                sid = None
            return str(sid or "")
        detail = _detail(response)
        permanent = 400 <= response.status_code < 500 and response.status_code not in _RETRY_LATER
        raise SendError(f"provider answered {response.status_code}: {detail}", permanent=permanent)


def _detail(response: httpx.Response) -> str:
    """The provider's own words (Twilio: `{"code": 21211, "message": "Invalid 'To' Phone Number"}`)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and body.get("message"):
        code = f" (code {body['code']})" if body.get("code") is not None else ""
        return f"{str(body['message'])[:200]}{code}"
    return response.reason_phrase
