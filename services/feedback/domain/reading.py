"""Reading a survey comment: its language, its sentiment (negative, neutral, positive, with a score)
and its topics (seat, meal, hotel, delay, agent, price…).

Pure computation: the language detector, the tokenizers and the packaged lexicons are handed in
(`CommentModels`, built by `adapters.reading_models`), so the rules here run in tests without them.
English sentiment comes whole from VADER (it handles negation, intensity and "but" itself, and our
travel words are added to its lexicon); German and Chinese are scored here, over a packaged
lexicon with our travel words on top (`reading_lexicon`), with negation and contrast rules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.feedback.domain.cases import Priority
from services.feedback.domain.reading_lexicon import (
    CONTRASTS,
    DOMAIN_POLARITY,
    NEGATIONS,
    SARCASM_CLOSERS,
    SARCASM_OPENERS,
    TOPIC_TERMS,
    TOPICS,
)

LANGUAGES = ("en", "de", "zh")
READER_VERSION = "reading-1"  # stored with every reading, so a better reader can re-read old comments
NEUTRAL_BAND = 0.15  # |score| below this reads as neutral
NEGATION_WINDOW = 3  # a negation turns the polarity of up to this many following words
LANGUAGE_MARGIN = 0.25  # below this lead over the next language, the traveller's own language decides
CONTRAST_WEIGHT = 1.5  # the clause after "but" counts this much more than the one before
TRAILING_NEGATION = frozenset({"de"})  # languages whose negation may follow the verb it negates
_PUNCTUATION = frozenset({",", ".", ";", "!", "?", "，", "。", "！", "？", "；"})
_HAN = re.compile(r"[\u3400-\u9fff]")
_WORDS = re.compile(r"[\w'-]+|[,.;:!?]", re.UNICODE)


class Sentiment(StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


@dataclass(frozen=True)
class CommentReading:
    """What a comment says, as read by `READER_VERSION`."""

    language: str | None  # en, de, zh; None when the comment is in none of them
    language_source: str  # detected | traveller (the profile's language, when detection was unsure) | none
    sentiment: Sentiment
    score: float  # -1 (very negative) .. 1 (very positive)
    topics: tuple[str, ...]
    reader: str = READER_VERSION


# (language or None, confidence 0..1: how far the detector prefers it over the next language)
DetectLanguage = Callable[[str], tuple[str | None, float]]
Tokenize = Callable[[str], Sequence[str]]
ScoreText = Callable[[str], float]  # a whole-text scorer returning -1..1 (VADER's compound)


@dataclass(frozen=True)
class CommentModels:
    """The packaged models a reader uses; each is pure computation once loaded."""

    detect: DetectLanguage
    english: ScoreText  # VADER with our travel words added
    lexicons: Mapping[str, Mapping[str, float]]  # packaged word weights (-1..1) for de and zh
    tokenizers: Mapping[str, Tokenize]  # zh needs a segmenter; de splits on word characters


def _words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def topics_of(text: str, language: str | None) -> tuple[str, ...]:
    """The topics a comment mentions, in `TOPICS` order; every language's terms when unsure."""
    lowered = f" {text.lower()} "
    found: set[str] = set()
    for lang in (language,) if language in TOPIC_TERMS else tuple(TOPIC_TERMS):
        terms = TOPIC_TERMS[lang or ""]
        for topic, stems in terms.items():
            if lang == "zh":
                hit = any(stem in lowered for stem in stems)
            else:
                hit = any(re.search(rf"(?<![\w]){re.escape(stem)}", lowered) for stem in stems)
            if hit:
                found.add(topic)
    return tuple(t for t in TOPICS if t in found)


def _phrases(tokens: Sequence[str], polarity: Mapping[str, float], language: str) -> list[tuple[str, float | None]]:
    """Tokens with their domain weight, joining multi-word phrases of the domain lexicon first."""
    joiner = "" if language == "zh" else " "
    longest = max((len(p.split()) if joiner else len(p) for p in polarity), default=1)
    out: list[tuple[str, float | None]] = []
    i = 0
    while i < len(tokens):
        match = None
        # Chinese phrases are matched over the characters of the next tokens, others over words.
        for j in range(min(len(tokens), i + longest), i + 1, -1):
            candidate = joiner.join(tokens[i:j])
            if candidate in polarity:
                match = (candidate, j)
                break
        if match is not None:
            out.append((match[0], polarity[match[0]]))
            i = match[1]
        else:
            out.append((tokens[i], polarity.get(tokens[i])))
            i += 1
    return out


def lexicon_score(
    tokens: Sequence[str],
    *,
    language: str,
    lexicon: Mapping[str, float],
) -> float:
    """Sum of word weights (ours before the package's), negation-aware, the clause after a contrast
    counting more; squashed to -1..1 the way VADER squashes its sum."""
    domain = DOMAIN_POLARITY.get(language, {})
    negations = NEGATIONS.get(language, frozenset())
    contrasts = CONTRASTS.get(language, frozenset())
    clauses: list[float] = [0.0]
    negate_left = 0
    last = 0.0  # the clause's latest weighted word, not negated: a German clause-final "nicht" turns it

    def clause_ends() -> None:
        nonlocal negate_left, last
        # Only praise is turned: after a complaint ("kaputt … nicht verstellen") the "nicht" is about another verb.
        if negate_left and last > 0 and language in TRAILING_NEGATION:
            clauses[-1] -= last + last * 0.8  # "funktionierte nicht": as if "nicht" had come before
        negate_left, last = 0, 0.0

    for token, weight in _phrases(tokens, domain, language):
        if token in contrasts:
            clause_ends()
            clauses.append(0.0)
            continue
        if token in negations and weight is None:
            negate_left = NEGATION_WINDOW
            continue
        if token in _PUNCTUATION:
            clause_ends()
            continue
        value = weight if weight is not None else lexicon.get(token)
        if value is None:
            negate_left = max(0, negate_left - 1)
            continue
        if negate_left:
            value = -value * 0.8  # "not bad" is less good than "good" is
            negate_left, last = 0, 0.0
        else:
            last = value
        clauses[-1] += value
    clause_ends()
    total = sum(c * (CONTRAST_WEIGHT if i and i == len(clauses) - 1 else 1.0) for i, c in enumerate(clauses))
    return total / math.sqrt(total * total + 0.5)


def _english_phrases(text: str) -> float:
    """Weight of our multi-word English phrases ("did not work", "never called back"), which VADER,
    reading word by word, cannot see; single words went into VADER's own lexicon."""
    lowered = " ".join(_words(text))
    return sum(w for p, w in DOMAIN_POLARITY["en"].items() if " " in p and re.search(rf"\b{re.escape(p)}\b", lowered))


def _sarcastic(text: str, language: str) -> bool:
    lowered = text.lower().strip()
    opener = any(lowered.startswith(o) for o in SARCASM_OPENERS.get(language, ()))
    closer = any(c in lowered for c in SARCASM_CLOSERS.get(language, ()))
    return opener and closer


def sentiment_of(score: float) -> Sentiment:
    if score <= -NEUTRAL_BAND:
        return Sentiment.NEGATIVE
    if score >= NEUTRAL_BAND:
        return Sentiment.POSITIVE
    return Sentiment.NEUTRAL


def language_of(text: str, models: CommentModels, *, traveller_language: str | None) -> tuple[str | None, str]:
    """The comment's language: Chinese script says zh at once; otherwise the detector, and the
    traveller's own language when the detector is unsure (short comments: "ok", "Hotel gut")."""
    if _HAN.search(text):
        return "zh", "detected"
    detected, confidence = models.detect(text)
    hint = (traveller_language or "").lower()[:2] or None
    if detected is not None and (confidence >= LANGUAGE_MARGIN or hint not in LANGUAGES):
        return detected, "detected"
    if hint in LANGUAGES:
        return hint, "traveller"
    return detected, "detected" if detected else "none"


def read_comment(text: str, models: CommentModels, *, traveller_language: str | None = None) -> CommentReading:
    """Language, sentiment and topics of one comment."""
    language, source = language_of(text, models, traveller_language=traveller_language)
    if language == "en":
        score = models.english(text) + _english_phrases(text)
    elif language is not None and language in models.lexicons:
        tokens = models.tokenizers.get(language, _words)(text if language == "zh" else text.lower())
        score = lexicon_score(tokens, language=language, lexicon=models.lexicons[language])
    else:
        score = 0.0
    if language is not None and score > -NEUTRAL_BAND and _sarcastic(text, language):
        score = -max(abs(score), 0.5)
    score = round(max(-1.0, min(1.0, score)), 4)
    return CommentReading(
        language=language,
        language_source=source,
        sentiment=sentiment_of(score),
        score=score,
        topics=topics_of(text, language),
    )


# --- what a reading means for cases ------------------------------------------------------------

# Topics where a traveller is stuck or out of pocket: an agent should look first.
URGENT_TOPICS = frozenset({"baggage", "cancellation", "refund"})
STRONGLY_NEGATIVE = -0.6


def opens_case(reading: CommentReading) -> bool:
    """A negative comment opens (or enriches) a complaint case, whatever the scores say."""
    return reading.sentiment is Sentiment.NEGATIVE


def comment_priority(reading: CommentReading) -> Priority:
    """Priority from the comment: strongly negative, or about a stranded bag, a cancellation or a
    missing refund, is high; both at once is urgent; any other negative comment is normal."""
    strong = reading.score <= STRONGLY_NEGATIVE
    urgent_topic = bool(URGENT_TOPICS.intersection(reading.topics))
    if strong and urgent_topic:
        return Priority.URGENT
    if strong or urgent_topic:
        return Priority.HIGH
    return Priority.NORMAL


def higher(a: Priority, b: Priority) -> Priority:
    return a if a.rank >= b.rank else b
