"""Accuracy of a clustering of records against the true entities (pure functions, no I/O).

Definitions (also written into the results):
- Pair precision / recall / F1: a pair of records is predicted-same when both are in one
  predicted cluster, truly-same when both describe one entity. Review items are not links.
- B-cubed precision / recall / F1 (Bagga and Baldwin, 1998): for each record, the share of its
  predicted cluster that is truly its entity (precision) and the share of its entity that is in
  its predicted cluster (recall), averaged over records. Unlike pair counts, large clusters do
  not dominate.
- Exact clusters: predicted clusters identical to a true entity's record set; precision is
  their share of predicted clusters, recall their share of true entities.
- Hard negatives joined: of the related but different entities (twins, parent and child,
  namesakes), the pairs of which some record of one shares a cluster with some record of the other.
- Recall by label: among truly-same pairs where at least one of the two records carries the
  label (a source system, a corruption type), the share predicted-same.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float

    def as_json(self) -> dict[str, float]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


def pair_scores(predicted: Mapping[str, str], truth: Mapping[str, str]) -> tuple[Scores, dict[str, int]]:
    """Pair precision, recall and F1, with the counts behind them (records missing from `predicted`
    count as singletons)."""
    predicted = {r: predicted.get(r, f"\0{r}") for r in truth}
    both = sum(_pairs(n) for n in Counter((predicted[r], truth[r]) for r in truth).values())
    pred = sum(_pairs(n) for n in Counter(predicted.values()).values())
    true = sum(_pairs(n) for n in Counter(truth.values()).values())
    precision = both / pred if pred else 1.0
    recall = both / true if true else 1.0
    counts = {"true_pairs": true, "predicted_pairs": pred, "true_positive_pairs": both}
    return Scores(precision, recall, _f1(precision, recall)), counts


def bcubed(predicted: Mapping[str, str], truth: Mapping[str, str]) -> Scores:
    """B-cubed precision, recall and F1 averaged over the records of `truth`."""
    if not truth:
        return Scores(1.0, 1.0, 1.0)
    predicted = {r: predicted.get(r, f"\0{r}") for r in truth}
    cells = Counter((predicted[r], truth[r]) for r in truth)
    size_pred = Counter(predicted.values())
    size_true = Counter(truth.values())
    precision = sum(n * n / size_pred[c] for (c, _), n in cells.items()) / len(truth)
    recall = sum(n * n / size_true[t] for (_, t), n in cells.items()) / len(truth)
    return Scores(precision, recall, _f1(precision, recall))


def exact_clusters(predicted: Mapping[str, str], truth: Mapping[str, str]) -> Scores:
    """Predicted clusters that equal a true entity exactly, as a share of each side's clusters."""
    predicted = {r: predicted.get(r, f"\0{r}") for r in truth}
    members: dict[str, set[str]] = defaultdict(set)
    for r, c in predicted.items():
        members[c].add(r)
    entities: dict[str, set[str]] = defaultdict(set)
    for r, e in truth.items():
        entities[e].add(r)
    true_sets = {frozenset(s) for s in entities.values()}
    exact = sum(1 for s in members.values() if frozenset(s) in true_sets)
    precision = exact / len(members) if members else 1.0
    recall = exact / len(entities) if entities else 1.0
    return Scores(precision, recall, _f1(precision, recall))


def hard_negatives_joined(
    predicted: Mapping[str, str], truth: Mapping[str, str], relations: Iterable[tuple[str, str, str]]
) -> dict[str, dict[str, int]]:
    """Per kind of relation: how many related entity pairs (both with records) ended up sharing a cluster."""
    clusters: dict[str, set[str]] = defaultdict(set)
    for r, e in truth.items():
        clusters[e].add(predicted.get(r, f"\0{r}"))
    out: dict[str, dict[str, int]] = {}
    for a, b, kind in relations:
        if a not in clusters or b not in clusters:
            continue
        row = out.setdefault(kind, {"joined": 0, "pairs": 0})
        row["pairs"] += 1
        row["joined"] += bool(clusters[a] & clusters[b])
    return out


def recall_by(
    predicted: Mapping[str, str], truth: Mapping[str, str], labels: Callable[[str], Iterable[str]]
) -> dict[str, dict[str, float]]:
    """Pair recall among truly-same pairs touching a record with each label (`labels(record_id)`)."""
    entities: dict[str, list[str]] = defaultdict(list)
    for r, e in sorted(truth.items()):
        entities[e].append(r)
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for records in entities.values():
        for a, b in combinations(records, 2):
            same = a in predicted and predicted.get(a) == predicted.get(b)
            for label in set(labels(a)) | set(labels(b)):
                total[label] += 1
                found[label] += same
    return {k: {"recall": round(found[k] / total[k], 4), "pairs": total[k]} for k in sorted(total)}
