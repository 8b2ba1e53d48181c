"""Splink 5 (DuckDB backend) on a labelled set: the usual unsupervised Fellegi–Sunter setup.

Model, per column of the field set that has any value in the data:
- comparisons from Splink's library: names `NameComparison` (exact, Jaro–Winkler ≥ 0.92 / 0.88 /
  0.7), date of birth `DateOfBirthComparison` (exact, one edit, within a month / a year / ten
  years), identity numbers and postcodes `LevenshteinAtThresholds` (exact, ≤ 1 edit), the one-line
  address `LevenshteinAtThresholds` (≤ 1, ≤ 3 edits), city and company Jaro–Winkler, email
  `EmailComparison`, the rest `ExactMatch` (country, nationality and gender left out: `LEFT_OUT`);
- u by random sampling (`max_pairs` 5e6, fixed seed), m by EM on three blocking rules (date of
  birth, family name, given name; a session Splink aborts because a level's m underflows to 0
  is skipped and named in the results), the prior from deterministic rules (same names and date of
  birth; same identity number or email when in the field set) at an assumed recall of 0.7;
- candidate pairs from blocking on each name, the date of birth and each identifier;
- links at match probability ≥ 0.9, clusters by Splink's connected components at 0.9; pairs
  between 0.5 and 0.9 whose records ended in different clusters are the review queue.
Splink gets the same records and every column of the field set (the profile service only those
its import reads), prepared the way Splink's own tutorials do (lower case, trimmed, dates parsed
to ISO): `bench.linkage_data.cleaned`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bench.linkage_data import LabelledSet, cleaned

LINK = 0.9
REVIEW = 0.5
# Columns that never differ between records of one person here: EM drives the m of their "differ"
# level to exactly 0, which Splink 5 refuses (it raises instead of clamping), so they stay out.
LEFT_OUT = ("address_country", "nationality", "gender")


def _comparisons(columns: list[str]) -> list[Any]:
    import splink.comparison_library as cl

    made: dict[str, Any] = {
        "given_name": lambda c: cl.NameComparison(c),
        "family_name": lambda c: cl.NameComparison(c),
        "date_of_birth": lambda c: cl.DateOfBirthComparison(c, input_is_string=True, datetime_format="%Y-%m-%d"),
        "passport_number": lambda c: cl.LevenshteinAtThresholds(c, 1),
        "national_id": lambda c: cl.LevenshteinAtThresholds(c, 1),
        "home_postcode": lambda c: cl.LevenshteinAtThresholds(c, 1),
        "home_address_line": lambda c: cl.LevenshteinAtThresholds(c, [1, 3]),
        "home_city": lambda c: cl.JaroWinklerAtThresholds(c, 0.9),
        "company_name": lambda c: cl.JaroWinklerAtThresholds(c, 0.9),
        "email": lambda c: cl.EmailComparison(c),
    }
    return [made.get(c, lambda c: cl.ExactMatch(c))(c) for c in columns]


def run(data: LabelledSet, columns: tuple[str, ...], *, seed: int = 7) -> dict[str, Any]:
    """Train, predict and cluster; returns the cluster of each record, the review pairs and seconds."""
    import pandas as pd
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    rows = [cleaned(r, columns) for r in data.records]
    frame = pd.DataFrame(rows)
    used = [c for c in columns if c not in LEFT_OUT and frame[c].notna().any()]
    frame = frame[["unique_id", *used]]
    started = time.perf_counter()
    db_api = DuckDBAPI()
    identifiers = [c for c in ("passport_number", "email", "phone", "employee_number", "national_id") if c in used]
    blocking = [block_on(c) for c in ("given_name", "family_name", "date_of_birth", *identifiers) if c in used]
    blocking += [block_on(c) for c in ("home_postcode",) if c in used]
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=_comparisons(used),
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    linker = Linker(db_api.register(frame), settings, log_level=logging.WARNING)
    deterministic = [block_on("given_name", "family_name", "date_of_birth")]
    deterministic += [block_on(c) for c in ("passport_number", "email") if c in used]
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=seed)
    em_failed = []
    for column in ("date_of_birth", "family_name", "given_name"):
        if column not in used:
            continue
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(column), record_sample_proportion=1.0
            )
        except ValueError as exc:  # Splink refuses a level whose m underflows to 0: train on the other rules
            em_failed.append(f"{column}: {exc}"[:160])
    predictions = linker.inference.predict(threshold_match_probability=REVIEW, warning_mode="never")
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, LINK)
    seconds = time.perf_counter() - started
    pairs = predictions.as_pandas_dataframe()
    cluster_of = dict(zip(*(clusters.as_pandas_dataframe()[c] for c in ("unique_id", "cluster_id")), strict=True))
    cluster_of = {str(k): str(v) for k, v in cluster_of.items()}
    review = [
        (str(a), str(b))
        for a, b, p in zip(pairs["unique_id_l"], pairs["unique_id_r"], pairs["match_probability"], strict=True)
        if p < LINK and cluster_of.get(str(a)) != cluster_of.get(str(b))
    ]
    return {"clusters": cluster_of, "review": review, "seconds": seconds, "columns": used, "em_failed": em_failed}
