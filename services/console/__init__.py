"""The agent web console: static pages that call the four service APIs from the browser.

The server only serves files and `/config.json` (where the APIs are) with strict security
headers; the agent's API key stays in the browser's session storage.
"""

from services.console.app import create_console_app
from services.console.settings import ConsoleSettings

__all__ = ["ConsoleSettings", "create_console_app"]
