"""The match model's parameters at run time: the active version kept in memory, and learning new ones.

Resolution reads the active version's name once per batch (one index lookup) and loads the
version when the name moved, so a version activated by another process (the CLI, the weekly
job in another worker) decides from the next batch on. With no active version, the built-in
`default-1` decides, with the thresholds of the settings.

`estimate_weights` learns a version from a sample of the stored records (domain/estimation.py),
stores it, and activates it when asked and when it passes the sanity checks (every agreeing
level more likely among matches than among non-matches, a prior strictly between 0 and 1).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.kit.db import Connection, connection
from services.kit.runtime import ServiceRuntime
from services.profile.adapters import parameters as store
from services.profile.domain.estimation import estimate
from services.profile.domain.matching import MatchFeatures
from services.profile.domain.model_params import DEFAULT_PARAMETERS, ModelParameters, ParametersCache

log = logging.getLogger(__name__)


async def current_parameters(conn: Connection, cache: ParametersCache) -> ModelParameters:
    """The active version, loaded again only when another one was activated since the last call."""
    name = await store.active_version(conn)
    cached = cache.cached()
    if name is None:
        cache.use(DEFAULT_PARAMETERS)
    elif name != cached.version:
        data = await store.load(conn, name)
        cache.use(ModelParameters.from_json(data) if data is not None else DEFAULT_PARAMETERS)
    return cache.cached()


@dataclass(frozen=True)
class Estimated:
    parameters: ModelParameters
    problems: list[str]
    stored: bool
    activated: bool


async def estimate_weights(
    conn: Connection,
    *,
    sample: int,
    seed: int = 0,
    activate: bool = False,
    min_records: int = 1000,
    now: datetime | None = None,
) -> Estimated:
    """Learn a version from up to `sample` stored records; store it and, when asked and fit, activate it.

    A store with fewer than `min_records` records teaches nothing reliable: the built-in version
    is returned and nothing is stored.
    """
    now = now or datetime.now(UTC)
    total = await store.record_count(conn)
    if total < min_records:
        return Estimated(DEFAULT_PARAMETERS, [f"{total} records stored, {min_records} needed"], False, False)
    rows = await store.sample_features(conn, size=sample, seed=seed)
    records = [MatchFeatures.from_json(r) for r in rows]
    version = f"learned-{now:%Y%m%dT%H%M%S}"
    # Pure and CPU-bound (seconds to minutes): in a thread, so the process's other loops keep turning.
    params = await asyncio.to_thread(estimate, records, version=version, now=now, seed=seed, record_count=total)
    problems = params.problems()
    await store.store(
        conn,
        version=version,
        parameters=params.to_json(),
        estimated_at=now,
        record_count=total,
        problems=problems,
    )
    activated = activate and not problems and await store.activate(conn, version, now=now)
    log.info(
        "match parameters %s estimated from %d of %d records%s",
        version,
        len(records),
        total,
        " and activated" if activated else f" (not activated: {'; '.join(problems)})" if problems else "",
    )
    return Estimated(params, problems, True, activated)


async def estimate_weights_job(runtime: ServiceRuntime, *, poll_seconds: float = 3600.0) -> None:
    """The scheduled job: a new version every `weights_interval_hours` (weekly by default), activated
    when `weights_auto_activate` is on and it passes the sanity checks."""
    s = runtime.settings
    interval = timedelta(hours=float(getattr(s, "weights_interval_hours", 168.0)))
    worker = runtime.health.worker(estimate_weights_job.__name__)
    while True:
        # First a pause: a process that just started (or a test run) does not learn at once.
        await asyncio.sleep(poll_seconds)
        async with connection(runtime.pool) as conn:
            # One worker process estimates; the others find its version on their next pass.
            if await conn.fetchval("SELECT pg_try_advisory_lock(hashtext('profile.estimate_weights'))"):
                try:
                    last = await store.last_estimated_at(conn)
                    if last is None or datetime.now(UTC) - last >= interval:
                        await estimate_weights(
                            conn,
                            sample=int(getattr(s, "weights_sample", 100_000)),
                            activate=bool(getattr(s, "weights_auto_activate", False)),
                            min_records=int(getattr(s, "weights_min_records", 1000)),
                        )
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(hashtext('profile.estimate_weights'))")
        worker.progressed()
