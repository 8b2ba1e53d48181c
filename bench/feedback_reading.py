"""How well feedback reads survey comments: sentiment accuracy and macro-F1 per language, precision
and recall per topic, and the CPU per comment, on the labelled set in bench/data.

    python -m bench.feedback_reading            # both parts, table on stdout
    python -m bench.feedback_reading --json     # the figures as JSON

The set (bench/data/feedback_comments.jsonl) holds business-travel survey comments in English,
German and Chinese, each labelled with its sentiment and topics, negation, mixed and sarcastic
ones included. Its `heldout` part was written before the reader was tuned and was never looked at
while tuning; the `dev` part is what the travel lexicon was tuned on. Report both.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.feedback.adapters import reading_models
from services.feedback.domain.reading import LANGUAGES, CommentModels, CommentReading, read_comment
from services.feedback.domain.reading_lexicon import TOPICS

DATA = Path(__file__).parent / "data" / "feedback_comments.jsonl"
SENTIMENTS = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class Labelled:
    id: str
    lang: str
    split: str
    text: str
    sentiment: str
    topics: frozenset[str]


def labelled(path: Path = DATA) -> list[Labelled]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Labelled(r["id"], r["lang"], r["split"], r["text"], r["sentiment"], frozenset(r["topics"])) for r in rows]


def _f1(tp: int, fp: int, fn: int) -> float:
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def sentiment_figures(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Accuracy and macro-F1 over (truth, predicted) pairs."""
    correct = sum(t == p for t, p in pairs)
    f1s = []
    for label in SENTIMENTS:
        tp = sum(t == label and p == label for t, p in pairs)
        fp = sum(t != label and p == label for t, p in pairs)
        fn = sum(t == label and p != label for t, p in pairs)
        f1s.append(_f1(tp, fp, fn))
    return {
        "comments": len(pairs),
        "accuracy": round(correct / len(pairs), 3) if pairs else None,
        "macro_f1": round(sum(f1s) / len(f1s), 3) if pairs else None,
    }


def topic_figures(pairs: list[tuple[frozenset[str], frozenset[str]]]) -> dict[str, dict[str, Any]]:
    """Precision and recall per topic over (truth, predicted) topic sets."""
    out: dict[str, dict[str, Any]] = {}
    for topic in TOPICS:
        tp = sum(topic in t and topic in p for t, p in pairs)
        fp = sum(topic not in t and topic in p for t, p in pairs)
        fn = sum(topic in t and topic not in p for t, p in pairs)
        out[topic] = {
            "support": tp + fn,
            "precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / (tp + fn), 3) if tp + fn else None,
        }
    return out


def evaluate(models: CommentModels, rows: list[Labelled]) -> dict[str, Any]:
    """Every figure, per split and language; CPU time per comment over all of them."""
    readings: dict[str, CommentReading] = {}
    started = time.process_time()
    for row in rows:
        readings[row.id] = read_comment(row.text, models)
    cpu = time.process_time() - started
    report: dict[str, Any] = {"cpu_ms_per_comment": round(1000 * cpu / max(len(rows), 1), 3), "splits": {}}
    for split in sorted({r.split for r in rows}):
        part = [r for r in rows if r.split == split]
        per_language = {
            lang: sentiment_figures([(r.sentiment, readings[r.id].sentiment.value) for r in part if r.lang == lang])
            for lang in LANGUAGES
        }
        per_language["all"] = sentiment_figures([(r.sentiment, readings[r.id].sentiment.value) for r in part])
        detected = sum(readings[r.id].language == r.lang for r in part)
        report["splits"][split] = {
            "sentiment": per_language,
            "topics": topic_figures([(r.topics, frozenset(readings[r.id].topics)) for r in part]),
            "language_accuracy": round(detected / len(part), 3),
            "confusion": dict(Counter(f"{r.sentiment}->{readings[r.id].sentiment.value}" for r in part)),
        }
    return report


def _table(report: dict[str, Any]) -> str:
    lines = [f"CPU per comment: {report['cpu_ms_per_comment']} ms", ""]
    for split, figures in report["splits"].items():
        lines += [f"## {split}", "", "| language | comments | accuracy | macro-F1 |", "|---|---|---|---|"]
        for lang, f in figures["sentiment"].items():
            lines.append(f"| {lang} | {f['comments']} | {f['accuracy']} | {f['macro_f1']} |")
        lines += ["", f"language detected right: {figures['language_accuracy']}", ""]
        lines += ["| topic | support | precision | recall |", "|---|---|---|---|"]
        for topic, f in figures["topics"].items():
            lines.append(f"| {topic} | {f['support']} | {f['precision']} | {f['recall']} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    started = time.perf_counter()
    models = reading_models.load()
    load_seconds = time.perf_counter() - started
    report = evaluate(models, labelled())
    report["model_load_seconds"] = round(load_seconds, 2)
    print(json.dumps(report, indent=2) if args.json else _table(report) + f"model load: {load_seconds:.1f} s")


if __name__ == "__main__":
    main()
