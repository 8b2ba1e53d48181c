"""Rendering messages from Jinja2 templates: subject, plain text and HTML per language.

Templates live in `services/notifications/templates/<language>/<template>.{subject,txt,html}.j2`.
HTML is autoescaped; text and subject are not (they are never interpreted as markup).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from services.kit.dates import long_date
from services.notifications.domain import formatting
from services.notifications.domain.model import LANGUAGES, Recipient


class RenderError(Exception):
    """A template could not be rendered with the data at hand (a bug, not a passing outage)."""


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str
    language: str


def default_environment() -> jinja2.Environment:
    """The Jinja2 environment over the packaged templates."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("services.notifications", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False, default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["segment_line"] = formatting.segment_line
    env.filters["local_datetime"] = formatting.local_datetime
    env.filters["long_date"] = long_date
    env.filters["money"] = formatting.money
    return env


class MessageRenderer:
    """Renders a template for a recipient in their language (English when not available)."""

    def __init__(self, *, brand_name: str, environment: jinja2.Environment | None = None) -> None:
        self._brand = brand_name
        self._env = environment or default_environment()

    def render(
        self, *, template: str, language: str, context: Mapping[str, Any], recipient: Recipient
    ) -> RenderedMessage:
        """Subject, text and HTML of one message."""
        lang = language if language in LANGUAGES else "en"
        values = {**context, "lang": lang, "brand": self._brand, "name": recipient.salutation_name}
        try:
            subject = self._env.get_template(f"{lang}/{template}.subject.j2").render(values)
            text = self._env.get_template(f"{lang}/{template}.txt.j2").render(values)
            html = self._env.get_template(f"{lang}/{template}.html.j2").render(values)
        except jinja2.TemplateError as exc:
            raise RenderError(f"{lang}/{template}: {type(exc).__name__}: {exc}") from exc
        # A subject is one header line, whatever the data contained.
        return RenderedMessage(subject=" ".join(subject.split()), text=text, html=html, language=lang)
