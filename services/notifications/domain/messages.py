"""Rendering messages from Jinja2 templates: subject, plain text and HTML per language.

Templates live in `services/notifications/templates/<language>/<template>.{subject,txt,html}.j2`,
one folder per language in `LANGUAGES` with the same templates and the same variables in each.
HTML is autoescaped; text and subject are not (they are never interpreted as markup).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import jinja2

from services.notifications.domain import formatting
from services.notifications.domain.model import LANGUAGES, Recipient
from services.notifications.domain.zones import Whereabouts


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
    env.filters["long_date"] = formatting.long_date
    env.filters["money"] = formatting.money
    env.filters["traveller_time"] = _traveller_time
    return env


@jinja2.pass_context
def _traveller_time(ctx: jinja2.runtime.Context, value: Any, language: str = "en") -> str:
    """A time in the zone the traveller is in at that moment, labelled (`where`, else UTC)."""
    where = ctx.get("where")
    instant = formatting.as_instant(value)
    zone = where.zone_at(instant) if isinstance(where, Whereabouts) else UTC
    return formatting.zone_time(instant, zone, language)


class MessageRenderer:
    """Renders a template for a recipient in their language (English when not available)."""

    def __init__(self, *, brand_name: str, environment: jinja2.Environment | None = None) -> None:
        self._brand = brand_name
        self._env = environment or default_environment()

    def render(
        self,
        *,
        template: str,
        language: str,
        context: Mapping[str, Any],
        recipient: Recipient,
        where: Whereabouts | None = None,
    ) -> RenderedMessage:
        """Subject, text and HTML of one message; `where` places the traveller's own times."""
        lang = language if language in LANGUAGES else "en"
        # A Chinese greeting names the whole person (王伟，您好); the others greet by given name.
        name = (recipient.display_name or recipient.salutation_name) if lang == "zh" else recipient.salutation_name
        values = {**context, "lang": lang, "brand": self._brand, "name": name, "where": where}
        try:
            subject = self._env.get_template(f"{lang}/{template}.subject.j2").render(values)
            text = self._env.get_template(f"{lang}/{template}.txt.j2").render(values)
            html = self._env.get_template(f"{lang}/{template}.html.j2").render(values)
        except jinja2.TemplateError as exc:
            raise RenderError(f"{lang}/{template}: {type(exc).__name__}: {exc}") from exc
        # A subject is one header line, whatever the data contained.
        return RenderedMessage(subject=" ".join(subject.split()), text=text, html=html, language=lang)
