"""Learning the match model's parameters from the stored records, without labels.

The approach Splink documents (`estimate_u_using_random_sampling`,
`estimate_parameters_using_expectation_maximisation`,
`estimate_probability_two_random_records_match`), written here for the profile's own
comparisons (Splink is not a dependency of the service):

- u-probabilities from random pairs of records: two records drawn at random are almost
  never one traveller, so how often they fall in each level is that level's u.
- the prior λ starts from the share of blocked candidate pairs a deterministic rule links
  (a shared passport, loyalty number, email or phone with agreeing names);
- m-probabilities by expectation–maximisation over the blocked candidate pairs with u fixed:
  each pair's match probability under the current m and λ (E), then each level's share
  among the expected matches (M), until nothing moves.

Probabilities are kept away from 0 and 1, and a level seen too rarely (too few random pairs
for u, too few expected matches for m) keeps its built-in value. Deterministic for a seed.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.profile.domain.matching import (
    MatchFeatures,
    base_level,
    blocking_keys,
    compare,
    deterministic_rule,
    lookup_limit,
    name_pair_key,
)
from services.profile.domain.model_params import (
    DEFAULT_PARAMETERS,
    Level,
    ModelParameters,
    clamp,
    default_levels,
    thresholds_for,
)

Pattern = tuple[tuple[str, str], ...]  # (comparison, level) of each field compared
Table = dict[str, dict[str, float]]


@dataclass(frozen=True)
class EstimationSettings:
    random_pairs: int = 300_000  # for u
    per_key: int = 40  # candidates per blocking key (half for weak keys), as the resolver looks them up
    max_iterations: int = 40
    tolerance: float = 1e-5  # largest change of an m-probability that still counts as moving
    min_u_observations: int = 5  # random pairs in a level for its u to be learned
    min_m_observations: float = 20.0  # expected matching pairs in a level for its m to be learned


def pattern_of(a: MatchFeatures, b: MatchFeatures) -> Pattern:
    """The level each compared field falls in (built-in weights pick straight or crosswise names)."""
    return tuple((e.field, base_level(e)) for e in compare(a, b))


def random_pair_patterns(records: Sequence[MatchFeatures], *, pairs: int, rng: random.Random) -> Counter[Pattern]:
    n = len(records)
    out: Counter[Pattern] = Counter()
    if n < 2:
        return out
    for _ in range(pairs):
        i, j = rng.randrange(n), rng.randrange(n - 1)
        j += j >= i
        out[pattern_of(records[i], records[j])] += 1
    return out


# EM runs once per group of blocking keys, like Splink's training sessions: pairs found by a key
# agree on the fields the key is made of, so those fields' m cannot be learned from them. Pairs
# with a similar name teach what identifiers and dates do among true matches (and namesakes);
# pairs sharing an identifier teach what names and dates do.
SESSIONS: tuple[tuple[str, tuple[str, ...], frozenset[str]], ...] = (
    (
        "names",
        ("n:",),
        frozenset(
            {
                "date_of_birth",
                "email",
                "phone",
                "loyalty",
                "passport",
                "nationality",
                "company",
                "home_address",
                "business_address",
                "employee",
                "national_id",
                "known_traveller",
            }
        ),
    ),
    (
        "identifiers",
        ("pp:", "l:", "e:", "p:", "ni:", "kt:", "em:"),
        frozenset({"family_name", "given_name", "date_of_birth", "nationality", "company"}),
    ),
)


def blocked_pairs(
    records: Sequence[MatchFeatures], *, per_key: int, prefixes: tuple[str, ...] = ()
) -> list[tuple[int, int]]:
    """Pairs of records sharing a blocking key (each key's first `per_key` records, half for weak keys),
    only keys with one of `prefixes` when given."""
    buckets: dict[str, list[int]] = {}
    for i, f in enumerate(records):
        for key in (*blocking_keys(f), name_pair_key(f)):
            if not key:
                continue
            if prefixes and not key.startswith(prefixes):
                continue
            bucket = buckets.setdefault(key, [])
            limit = lookup_limit(key, per_key)
            if len(bucket) < max(1, limit):
                bucket.append(i)
    found: set[tuple[int, int]] = set()
    for bucket in buckets.values():
        for x, i in enumerate(bucket):
            found.update((i, j) for j in bucket[x + 1 :])
    return sorted(found)


# Fields groups of different people share: colleagues have one company and one business address.
# Two random records rarely do, but candidates do (blocking pairs records by their company), so a u
# from random pairs made "same company" weigh 10 bits and linked a father and his son of one name at
# one company (bench/results/profile.md); these keep the built-in u.
GROUP_FIELDS = frozenset({"company", "business_address"})
# Levels that restate the names: a mailbox made of the names at another provider ("li.wang@" at two)
# is what namesakes and a father and a son of one name have too. Two random records rarely share one,
# so learned from random pairs it weighed 10.7 bits and joined 37 of 71 namesakes and 34 of 83 parents
# with their children on the travel set (bench/results/linkage.md); it keeps its built-in m and u
# (equal: no evidence beyond the names).
NAME_LEVELS = frozenset({("email", "same-name-mailbox")})


def u_probabilities(patterns: Counter[Pattern], *, min_observations: int) -> Table:
    """Each level's share of the random pairs that compared its field (too rare, or a field groups
    share: the built-in u)."""
    seen: Counter[tuple[str, str]] = Counter()
    compared: Counter[str] = Counter()
    for pattern, count in patterns.items():
        for comparison, level in pattern:
            seen[(comparison, level)] += count
            compared[comparison] += count
    out: Table = {}
    for comparison, levels in DEFAULT_PARAMETERS.levels.items():
        out[comparison] = {
            level: clamp(seen[(comparison, level)] / compared[comparison])
            if seen[(comparison, level)] >= min_observations
            and comparison not in GROUP_FIELDS
            and (comparison, level) not in NAME_LEVELS
            else lv.u
            for level, lv in levels.items()
        }
    return out


@dataclass(frozen=True)
class EmResult:
    m: Table
    prior: float
    iterations: int
    converged: bool
    expected: Mapping[tuple[str, str], float]  # expected matching pairs per (comparison, level)
    deterministic_recall: float  # share of the expected matches a deterministic rule links


def expectation_maximisation(
    patterns: Counter[tuple[Pattern, bool]], u: Table, *, m: Table, prior: float, settings: EstimationSettings
) -> EmResult:
    """m and λ by EM with u fixed, starting from `m` and `prior`; `patterns` count (levels, linked by a rule)."""
    m = {c: dict(levels) for c, levels in m.items()}
    total = sum(patterns.values())
    expected: dict[tuple[str, str], float] = {}
    iterations, converged, recall = 0, False, 0.0
    while iterations < settings.max_iterations and total:
        iterations += 1
        expected = {}
        matches = linked = 0.0
        for (pattern, by_rule), count in patterns.items():
            pm, pu = prior, 1.0 - prior
            for comparison, level in pattern:
                pm *= m[comparison][level]
                pu *= u[comparison][level]
            p = pm / (pm + pu)
            matches += p * count
            linked += p * count if by_rule else 0.0
            for key in pattern:
                expected[key] = expected.get(key, 0.0) + p * count
        recall = linked / matches if matches else 0.0
        change = 0.0
        for comparison, levels in m.items():
            present = sum(expected.get((comparison, level), 0.0) for level in levels)
            if present <= 0:
                continue
            for level in levels:
                new = clamp(expected.get((comparison, level), 0.0) / present)
                change = max(change, abs(new - levels[level]))
                levels[level] = new
        prior = clamp(matches / total)
        if change < settings.tolerance:
            converged = True
            break
    return EmResult(
        m=m, prior=prior, iterations=iterations, converged=converged, expected=dict(expected),
        deterministic_recall=recall,
    )  # fmt: skip


def _session_patterns(
    records: Sequence[MatchFeatures], pairs: Sequence[tuple[int, int]], fields: frozenset[str]
) -> tuple[Counter[tuple[Pattern, bool]], int]:
    """The session's fields' levels of each pair, whether a deterministic rule links it; and how many do."""
    out: Counter[tuple[Pattern, bool]] = Counter()
    linked = 0
    for i, j in pairs:
        a, b = records[i], records[j]
        evidence = compare(a, b)
        by_rule = deterministic_rule(a, b, evidence) is not None
        linked += by_rule
        out[(tuple((e.field, base_level(e)) for e in evidence if e.field in fields), by_rule)] += 1
    return out, linked


def estimate(
    records: Sequence[MatchFeatures],
    *,
    version: str,
    now: datetime,
    seed: int = 0,
    record_count: int | None = None,
    settings: EstimationSettings | None = None,
) -> ModelParameters:
    """A new version of the parameters learned from `records` (a sample of the stored records)."""
    s = settings or EstimationSettings()
    rng = random.Random(seed)
    u = u_probabilities(
        random_pair_patterns(records, pairs=s.random_pairs, rng=rng), min_observations=s.min_u_observations
    )
    start_m = {c: {name: lv.m for name, lv in levels.items()} for c, levels in DEFAULT_PARAMETERS.levels.items()}
    all_pairs = blocked_pairs(records, per_key=s.per_key)
    linked_share = _session_patterns(records, all_pairs, frozenset())[1] / len(all_pairs) if all_pairs else 0.0
    learned: list[tuple[frozenset[str], EmResult]] = []
    notes: dict[str, object] = {"sample": len(records), "seed": seed, "random_pairs": s.random_pairs}
    notes["blocked_pairs"] = len(all_pairs)
    notes["deterministic_share"] = round(linked_share, 6)
    for name, prefixes, fields in SESSIONS:
        pairs = blocked_pairs(records, per_key=s.per_key, prefixes=prefixes)
        patterns, linked = _session_patterns(records, pairs, fields)
        if not pairs:
            continue
        em = expectation_maximisation(patterns, u, m=start_m, prior=clamp(max(linked / len(pairs), 1e-3)), settings=s)
        learned.append((fields, em))
        notes[f"em_{name}"] = {
            "pairs": len(pairs), "iterations": em.iterations, "converged": em.converged,
            "prior": round(em.prior, 6), "deterministic_recall": round(em.deterministic_recall, 4),
        }  # fmt: skip
    # The prior: the share of blocked pairs the rules link, over the share of true matches they link
    # (learned where the rules do not decide the blocking: the name session).
    # Where no rule links a single pair (records without identifiers, contacts or loyalty numbers), that
    # share says nothing: the prior is the share of expected matches EM found among the name session's
    # pairs (with 0 the thresholds rose past any score and nothing linked).
    recall = learned[0][1].deterministic_recall if learned and learned[0][1].deterministic_recall > 0 else 1.0
    if not all_pairs:
        prior = DEFAULT_PARAMETERS.prior
    elif linked_share > 0 or not learned:
        prior = clamp(min(0.99, linked_share / recall))
    else:
        prior = clamp(min(0.99, learned[0][1].prior))
    notes["prior_from"] = "rules" if linked_share > 0 else "em"
    levels = _levels(learned, u, min_m=s.min_m_observations)
    upper, lower = _thresholds(ModelParameters(version=version, levels=levels), prior)
    return ModelParameters(
        version=version,
        levels=levels,
        prior=prior,
        upper=upper,
        lower=lower,
        estimated_at=now,
        record_count=record_count if record_count is not None else len(records),
        notes=notes,
    )


# Namesakes agree on both names and the nationality: a link needs this much more evidence than that.
NAMES_ALONE_MARGIN = 1.0


def _thresholds(params: ModelParameters, prior: float) -> tuple[float, float]:
    """The prior's thresholds, raised (the review band keeping its width) until names alone cannot link.

    Learned name weights come from random pairs, across which two people rarely share a name; among
    candidates found by their names, namesakes are common. The built-in version keeps names alone
    below its upper threshold (16.3 against 17); a learned one is held to the same rule.
    """
    upper, lower = thresholds_for(prior)
    needed = params.names_alone() + NAMES_ALONE_MARGIN
    if needed > upper:
        lower, upper = lower + needed - upper, needed
    return upper, lower


def _levels(
    sessions: Sequence[tuple[frozenset[str], EmResult]], u: Table, *, min_m: float
) -> dict[str, dict[str, Level]]:
    """Per comparison, m averaged over the sessions that learned it, for levels with enough expected
    matches (the rest keep their built-in m; the learned ones share what is left); the learned u."""
    out = default_levels()
    for comparison, defaults in out.items():
        ems = [em for fields, em in sessions if comparison in fields]
        learned = {
            lv
            for lv in defaults
            if ems
            and (comparison, lv) not in NAME_LEVELS
            and all(em.expected.get((comparison, lv), 0.0) >= min_m for em in ems)
        }
        m = {lv: sum(em.m[comparison][lv] for em in ems) / len(ems) if ems else defaults[lv].m for lv in defaults}
        kept = sum(defaults[lv].m for lv in defaults if lv not in learned)
        mass = sum(m[lv] for lv in learned)
        scale = max(0.0, 1.0 - kept) / mass if mass > 0 else 0.0
        out[comparison] = {
            # A level too rare among the matches to learn its m keeps its built-in m and u: a learned u
            # beside a hand-set m would make a weight neither the data nor the hand-set values gave.
            name: Level(name, clamp(m[name] * scale), u[comparison][name]) if name in learned else lv
            for name, lv in defaults.items()
        }
    return out
