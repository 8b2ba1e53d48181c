"""ASGI middlewares of the HTTP shell that look at a request before any route does.

- `RejectNul`: a NUL character in the path or a query value is refused with 422. PostgreSQL
  stores no NUL in text; let through, it failed deep in a query as a 500.
- `BodySizeLimit`: a body over the limit is refused with 413, declared (Content-Length) or
  streamed (chunked): the route never sees more than the limit.
- `SecurityHeaders`: `Cache-Control: no-store` and `X-Content-Type-Options: nosniff` on every
  response (the APIs answer with personal data; nothing of theirs belongs in a cache), unless
  the route chose its own.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.kit.problems import problem

NO_STORE_HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))
NUL_MESSAGE = "must not contain NUL characters"


def _nul_fields(scope: Scope) -> list[dict[str, str]]:
    """The parts of the request's path and query that hold a NUL character."""
    errors = []
    if "\x00" in scope.get("path", ""):
        errors.append({"field": "path", "message": NUL_MESSAGE})
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        names = [name.replace("\x00", "") or "query" for name, value in pairs if "\x00" in name + value]
        errors += [{"field": name, "message": NUL_MESSAGE} for name in names or ["query"]]
    return errors


class RejectNul:
    """Refuses a request with a NUL character in its path or a query value (422, problem details)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            errors = _nul_fields(scope)
            if errors:
                fields = ", ".join(e["field"] for e in errors)
                response = problem(422, f"invalid request: {fields}", title="Unprocessable Content", errors=errors)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodySizeLimit:
    """Refuses request bodies over `max_bytes` with 413, whether or not Content-Length is sent.

    A streamed body is counted as it arrives: once over the limit the client gets the 413 at
    once, and the route reading the body sees the client gone (whatever it answers is dropped).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        seen = 0
        started = refused = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    if not started:
                        await self._too_large(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, f"request body larger than {self.max_bytes} bytes")
        await response(scope, receive, send)


class SecurityHeaders:
    """Adds `Cache-Control: no-store` and `X-Content-Type-Options: nosniff` to every response
    that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in NO_STORE_HEADERS if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
