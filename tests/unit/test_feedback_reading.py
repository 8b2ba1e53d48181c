"""Reading survey comments: language, sentiment and topics, with the packaged models and with fakes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Sequence

import pytest

from bench.feedback_reading import evaluate, labelled
from services.feedback.adapters import reading_models
from services.feedback.domain.cases import Priority
from services.feedback.domain.reading import (
    CommentModels,
    CommentReading,
    Sentiment,
    comment_priority,
    lexicon_score,
    read_comment,
    topics_of,
)
from services.feedback.domain.surveys import Answer
from services.feedback.service_layer import comment_reading


@pytest.fixture(scope="module")
def models() -> CommentModels:
    return reading_models.load()


@pytest.mark.parametrize(
    ("text", "language", "sentiment", "topics"),
    [
        ("The flight was delayed by three hours and nobody told us why.", "en", "negative", {"delay"}),
        ("The hotel room was not clean at all.", "en", "negative", {"hotel", "cleanliness"}),
        ("The seat was not uncomfortable, slept well.", "en", "positive", {"seat"}),
        ("Great, another missed connection. Just what I needed.", "en", "negative", {"delay"}),
        ("Der Zug war pünktlich und das Personal sehr freundlich.", "de", "positive", {"delay"}),
        ("Das Essen war nicht gut.", "de", "negative", {"meal"}),
        ("Das WLAN im Zimmer funktionierte nicht.", "de", "negative", {"hotel", "wifi"}),
        ("Das Zimmer war gar nicht schlecht.", "de", "positive", {"hotel"}),
        ("Der Koffer ist verloren gegangen, die Erstattung fehlt noch.", "de", "negative", {"baggage", "refund"}),
        ("航班延误了三个小时，没有人通知我们。", "zh", "negative", {"delay"}),
        ("酒店不干净，服务态度很差。", "zh", "negative", {"hotel", "cleanliness"}),
        ("座位很舒服，餐食也很好吃。", "zh", "positive", {"seat", "meal"}),
        ("在机场柜台取的车。", "zh", "neutral", {"car", "checkin"}),
    ],
)
def test_reads_examples_in_each_language(
    models: CommentModels, text: str, language: str, sentiment: str, topics: set[str]
) -> None:
    reading = read_comment(text, models)

    assert reading.language == language
    assert reading.sentiment.value == sentiment, reading
    assert set(reading.topics) == topics


def test_negation_turns_the_sentiment_around(models: CommentModels) -> None:
    for plain, negated in (
        ("The hotel was clean.", "The hotel was not clean."),
        ("Das Hotel war sauber.", "Das Hotel war nicht sauber."),
        ("酒店很干净。", "酒店不干净。"),
    ):
        assert read_comment(plain, models).sentiment is Sentiment.POSITIVE, plain
        assert read_comment(negated, models).sentiment is Sentiment.NEGATIVE, negated


def test_a_short_comment_falls_back_to_the_travellers_language(models: CommentModels) -> None:
    reading = read_comment("ok", models, traveller_language="de-AT")

    assert (reading.language, reading.language_source) == ("de", "traveller")


def test_the_labelled_set_stays_above_the_measured_accuracy(models: CommentModels) -> None:
    # Floors a few points under what bench/results/feedback_reading.md records: a regression guard.
    report = evaluate(models, labelled())

    heldout = report["splits"]["heldout"]["sentiment"]
    dev = report["splits"]["dev"]["sentiment"]
    assert heldout["en"]["accuracy"] >= 0.74
    assert heldout["de"]["accuracy"] >= 0.86
    assert heldout["zh"]["accuracy"] >= 0.88
    assert dev["all"]["accuracy"] >= 0.89
    assert report["splits"]["heldout"]["language_accuracy"] >= 0.98
    for figures in report["splits"]["heldout"]["topics"].values():
        assert figures["recall"] is None or figures["recall"] >= 0.9


def test_models_load_and_read_without_the_network() -> None:
    # A fresh process, so nothing is cached: any connection attempt while loading or reading fails it.
    script = textwrap.dedent(
        """
        import socket
        def refuse(*args, **kwargs):
            raise OSError("network used")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        from services.feedback.adapters import reading_models
        from services.feedback.domain.reading import read_comment
        models = reading_models.load()
        for text in ("Flight delayed", "Zug verspätet", "航班延误"):
            assert read_comment(text, models).sentiment.value == "negative", text
        """
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and our own script
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )

    assert done.returncode == 0, done.stderr[-2000:]


# --- the rules alone, with fakes ------------------------------------------------------------------


def _fake_models(lexicon: dict[str, float]) -> CommentModels:
    def words(text: str) -> Sequence[str]:
        return text.lower().replace(",", " ,").replace(".", " .").split()

    return CommentModels(
        detect=lambda text: ("de", 0.9),
        english=lambda text: 0.0,
        lexicons={"de": lexicon},
        tokenizers={"de": words},
    )


def test_the_clause_after_a_contrast_weighs_more() -> None:
    lexicon = {"gut": 0.5, "schlecht": -0.5}

    score = lexicon_score(
        ["das", "hotel", "war", "gut", "aber", "das", "essen", "schlecht"], language="de", lexicon=lexicon
    )

    assert score < 0


def test_our_travel_words_override_the_packaged_lexicon() -> None:
    reading = read_comment("Der Zug war pünktlich.", _fake_models({"pünktlich": -0.9}))

    assert reading.sentiment is Sentiment.POSITIVE


def test_topics_are_found_in_every_language_when_the_language_is_unknown() -> None:
    assert topics_of("Koffer lost, 延误", None) == ("delay", "baggage")


def test_priority_follows_the_score_and_the_topics() -> None:
    def reading(score: float, *topics: str) -> CommentReading:
        return CommentReading("en", "detected", Sentiment.NEGATIVE, score, topics)

    assert comment_priority(reading(-0.3, "meal")) is Priority.NORMAL
    assert comment_priority(reading(-0.8, "meal")) is Priority.HIGH
    assert comment_priority(reading(-0.3, "refund")) is Priority.HIGH
    assert comment_priority(reading(-0.8, "baggage")) is Priority.URGENT


def test_what_opens_a_case_and_with_which_priority() -> None:
    negative = CommentReading("en", "detected", Sentiment.NEGATIVE, -0.8, ("baggage",))
    positive = CommentReading("en", "detected", Sentiment.POSITIVE, 0.7, ("hotel",))
    good, low = Answer(csat=5, nps=9), Answer(csat=2, nps=None)

    assert not comment_reading.wants_case(good, None)
    assert not comment_reading.wants_case(good, positive)
    assert comment_reading.wants_case(good, negative)  # a negative comment despite good scores
    assert comment_reading.wants_case(low, positive)  # a low score as before
    assert comment_reading.case_priority(good, negative) is Priority.URGENT
    assert comment_reading.case_priority(low, None) is Priority.NORMAL
    assert comment_reading.case_priority(low, positive) is Priority.NORMAL  # praise does not lower or raise
    assert comment_reading.case_priority(Answer(csat=1, nps=None), None) is Priority.HIGH
