"""Which language a message is written in: the first supported one the customer view names.

Pure Python. Every language in `LANGUAGES` has every template (a unit test holds them to it);
a language tag the view gives that is not among them falls through to the next source, and the
delivery keeps the choice and its fallbacks in words (`language_note`).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.notifications.domain.model import LANGUAGES, CommunicationPreferences, Recipient


def pick_language(requested: str | None, *, default: str = "en") -> str:
    """A supported language for `requested` ('de', 'de-DE', 'DE_at', 'zh-Hans-CN'), else the default."""
    return supported_language(requested) or (default if default in LANGUAGES else "en")


def supported_language(requested: str | None) -> str | None:
    """The supported language a language tag names, or None (`zh-TW` reads Simplified Chinese: the nearest we have)."""
    if requested:
        code = requested.strip().replace("_", "-").split("-", 1)[0].lower()
        if code in LANGUAGES:
            return code
    return None


@dataclass(frozen=True)
class LanguageChoice:
    """The language a message is written in, and where it came from (kept with the delivery)."""

    language: str
    note: str  # `zh (profile)`; `en (service default; not fr (traveller): no templates)`


def choose_language(
    *, recipient: Recipient, preferences: CommunicationPreferences | None, default: str = "en"
) -> LanguageChoice:
    """The traveller's language from the customer view, first supported one wins.

    The traveller's own word (`comms.language` stated, or set by an agent), then the profile's
    language (the preferred locale the booking systems gave), then the company's default (the
    travel policy's `comms.language`, or an inferred one), then the service's default, then English.
    """
    stated = preferences.language if preferences is not None else None
    source = preferences.language_source if preferences is not None else None
    own = source in ("stated", "agent")
    candidates = [
        ("traveller", stated if own else None),
        ("profile", recipient.language),
        ("company default", None if own else stated),
        ("service default", default),
    ]
    skipped: list[str] = []
    for where, tag in candidates:
        if not tag:
            continue
        language = supported_language(tag)
        if language is not None:
            extra = f"; not {', '.join(skipped)}: no templates" if skipped else ""
            return LanguageChoice(language, f"{language} ({where}{extra})")
        skipped.append(f"{tag} ({where})")
    note = f"en (fallback; not {', '.join(skipped)}: no templates)" if skipped else "en (fallback)"
    return LanguageChoice("en", note)
