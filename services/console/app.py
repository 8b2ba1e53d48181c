"""The console's web server: static files, `/config.json` and security headers, nothing else.

The browser calls the four service APIs directly with the agent's key; this server never
sees the key, so it has no sessions, no proxying and no secrets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from services.console.permissions import roles_by_action
from services.console.settings import ConsoleSettings

STATIC = Path(__file__).resolve().parent / "static"

_ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="7" fill="#0b5cad"/>'
    '<path d="M9 22 23 10M14 10h9v9" stroke="#fff" stroke-width="3" fill="none" stroke-linecap="round"/></svg>'
)


def content_security_policy(settings: ConsoleSettings) -> str:
    """Scripts, styles and images only from the console; fetches only to itself and the four APIs."""
    connect = " ".join(["'self'", *settings.api_origins()])
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            f"connect-src {connect}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def create_console_app(settings: ConsoleSettings) -> FastAPI:
    """The console app: `/` (the page), `/static/*`, `/config.json`, `/healthz`."""
    app = FastAPI(title="Itinera agent console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    headers = {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        # Small files: always revalidate (ETag) so a new release is picked up at once.
        "Cache-Control": "no-cache",
    }

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.update(headers)
        return response

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        """The single page of the console."""
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/config.json", include_in_schema=False)
    async def config() -> JSONResponse:
        """Where the browser finds the four APIs, and which roles may take the actions beyond an agent's."""
        return JSONResponse({"apis": settings.api_urls(), "permissions": roles_by_action()})

    @app.get("/favicon.svg", include_in_schema=False)
    async def favicon() -> Response:
        return Response(_ICON, media_type="image/svg+xml")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
