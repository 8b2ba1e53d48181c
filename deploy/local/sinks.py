"""A local sink for the channels that are not email: an SMS provider's API and webhook receivers.

Started by `make up` (and docker compose) like the mail sink, so a developer can see every text
and every webhook post the services make: each lands as a JSON file under
`<dir>/sms/` or `<dir>/webhooks/`.

- `POST /2010-04-01/Accounts/<account>/Messages.json` takes a text the way the widely used
  provider API does (form fields `To`, `From`, `Body`; HTTP basic auth): 201 with the message's
  `sid`, 401 without credentials, 400 (`code` 21211) for a `To` that is not an E.164 number.
- `POST /webhooks/<anything>` takes a webhook post: 204, and with a secret (`--webhook-secret`)
  the file says whether its `X-Itinera-Signature` verified.

Tests start it in-process (`ChannelSink`) and may script failures (`fail_next`).

    python deploy/local/sinks.py --dir .state/sinks --port 1080
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

_SMS_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass
class Received:
    kind: str  # "sms" | "webhook"
    path: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)
    signature_ok: bool | None = None
    status: int = 0  # what the sink answered

    def json(self) -> Any:
        return json.loads(self.body)


def _verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    parts = dict(p.strip().partition("=")[::2] for p in header.split(","))
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


class ChannelSink:
    """The sink as a server in a thread: `start()`, `stop()`, `received`, `fail_next()`."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_secret: str | None = None,
    ) -> None:
        self.directory = directory
        self.webhook_secret = webhook_secret
        self.received: list[Received] = []
        self._failures: dict[str, list[tuple[int, dict[str, Any]]]] = {"sms": [], "webhook": []}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="channel-sink", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, kind: str, status: int, *, times: int = 1, body: dict[str, Any] | None = None) -> None:
        """Answer the next `times` requests of `kind` ("sms" | "webhook") with `status`."""
        with self._lock:
            self._failures[kind] += [(status, body or {"code": 20500, "message": "scripted failure"})] * times

    def of(self, kind: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.kind == kind]

    async def wait_for(self, predicate: Callable[[Received], bool], *, timeout: float = 30.0) -> Received:
        """The first request (answered or not) that matches, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = next((r for r in self.received if predicate(r)), None)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError("no matching request reached the sink")
            await asyncio.sleep(0.05)

    def _scripted(self, kind: str) -> tuple[int, dict[str, Any]] | None:
        with self._lock:
            return self._failures[kind].pop(0) if self._failures[kind] else None

    def _keep(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)
            number = len(self.received)
        if self.directory is None:
            return
        folder = self.directory / ("sms" if received.kind == "sms" else "webhooks")
        folder.mkdir(parents=True, exist_ok=True)
        record = {
            "path": received.path,
            "status": received.status,
            "headers": received.headers,
            "form": received.form,
            "body": received.body.decode("utf-8", "replace"),
            "signature_ok": received.signature_ok,
        }
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{number:05d}.json"
        (folder / name).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # the base class's name
                return  # the files are the log

            def _answer(self, status: int, body: dict[str, Any] | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
                if _SMS_PATH.match(self.path):
                    self._sms(body, headers)
                elif self.path.startswith("/webhooks/"):
                    self._webhook(body, headers)
                else:
                    self._answer(404, {"message": "not a sink path"})

            def _sms(self, body: bytes, headers: dict[str, str]) -> None:
                form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
                received = Received("sms", self.path, headers, body, form=form)
                scripted = sink._scripted("sms")
                auth = self.headers.get("Authorization", "")
                if scripted is not None:
                    received.status, answer = scripted
                elif not auth.startswith("Basic ") or ":" not in base64.b64decode(auth[6:]).decode(errors="replace"):
                    received.status, answer = 401, {"code": 20003, "message": "Authenticate"}
                elif not _E164.match(form.get("To", "")):
                    received.status, answer = 400, {"code": 21211, "message": "Invalid 'To' Phone Number"}
                else:
                    sid = f"SM{next(sink._ids):032x}"
                    received.status = 201
                    answer = {"sid": sid, "status": "queued", "to": form["To"], "from": form.get("From"),
                              "body": form.get("Body")}  # fmt: skip
                sink._keep(received)
                self._answer(received.status, answer)

            def _webhook(self, body: bytes, headers: dict[str, str]) -> None:
                received = Received("webhook", self.path, headers, body)
                if sink.webhook_secret is not None:
                    received.signature_ok = _verify(
                        sink.webhook_secret, self.headers.get("X-Itinera-Signature", ""), body
                    )
                scripted = sink._scripted("webhook")
                received.status = scripted[0] if scripted is not None else 204
                sink._keep(received)
                self._answer(received.status, scripted[1] if scripted is not None else None)

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, required=True, help="where received texts and posts are written")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1080)
    parser.add_argument("--webhook-secret", default=None, help="verify webhook signatures with this secret")
    args = parser.parse_args()
    sink = ChannelSink(args.dir, host=args.host, port=args.port, webhook_secret=args.webhook_secret)
    print(f"channel sink on {args.host}:{sink.port}, writing to {args.dir}", flush=True)  # a CLI
    sink._server.serve_forever()


if __name__ == "__main__":
    main()
