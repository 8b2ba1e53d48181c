"""The whole run: own engines, the undisturbed baseline, the disturbed scenarios, the verdict.

`separate` runs one scenario per fault kind (each on a fresh system, so the figures of a fault
are its own); `together` runs every selected fault in one scenario, one after the other while
the stream flows (the bounded run in the test suite). `control` adds a second undisturbed
run: any difference it shows is the harness's own noise, not a fault's doing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.faults.broker import code_root, service_names, use_code
from bench.faults.faults import FAULT_KINDS, SCALES, Fault, Scale, faults_of
from bench.faults.infra import Infra
from bench.faults.poison import poison_records
from bench.faults.report import judge
from bench.faults.scenario import ScenarioResult, run_scenario
from bench.faults.stream import booking_stream, describe

log = logging.getLogger(__name__)


@dataclass
class Options:
    scale: str = "bounded"
    faults: tuple[str, ...] = FAULT_KINDS
    plan: str = "together"  # or "separate"
    control: bool = False
    travellers: int | None = None
    stall_after: float | None = None  # overrides of the scale's
    fault_timeout: float | None = None
    seed: int = 12
    keep: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    code: Path | None = None  # run the services of another checkout (e.g. an older version)
    static_membership: bool = False


@dataclass
class Outcome:
    judged: list[dict[str, Any]]
    meta: dict[str, Any]
    results: list[ScenarioResult]


def _plan(options: Options, scale: Scale, poison: list[Any]) -> list[tuple[str, list[Fault], int]]:
    """(scenario name, faults, processes per service) for every disturbed scenario."""
    if options.plan == "separate":
        return [
            (kind, faults_of(kind, scale, service_names(), poison), 2 if kind == "two-processes" else 1)
            for kind in options.faults
        ]
    faults = [f for kind in options.faults for f in faults_of(kind, scale, service_names(), poison)]
    return [("together", faults, 2 if "two-processes" in options.faults else 1)]


async def run_harness(options: Options, on_scenario: Callable[[Outcome], None] | None = None) -> Outcome:
    """Start the engines, run the baseline and every scenario, stop the engines; judge each scenario
    (and tell `on_scenario` the figures so far after each one)."""
    if options.code is not None:
        use_code(options.code)
    scale = SCALES[options.scale]
    if options.stall_after is not None:
        scale = dataclasses.replace(scale, stall_after=options.stall_after)
    if options.fault_timeout is not None:
        scale = dataclasses.replace(scale, fault_timeout=options.fault_timeout)
    stream = booking_stream(options.travellers or scale.travellers, seed=options.seed)
    poison = poison_records(stream)
    meta: dict[str, Any] = {
        "scale": scale.name,
        "plan": options.plan,
        "faults": list(options.faults),
        "stream": describe(stream),
        "poison_records": len(poison),
        "seed": options.seed,
        "scale_settings": dataclasses.asdict(scale),
        "extra_env": options.extra_env,
        "code": str(code_root()),
        "services": list(service_names()),
        "static_membership": options.static_membership,
    }
    infra = Infra.create()
    results: list[ScenarioResult] = []
    begun = time.monotonic()
    try:
        await asyncio.to_thread(infra.start)
        log.info("engines ready: Kafka on %s, PostgreSQL on %d", infra.bootstrap, infra.pg_port)
        scenarios: list[tuple[str, list[Fault], int]] = [("baseline", [], 1)]
        if options.control:
            scenarios.append(("control", [], 1))
        scenarios += _plan(options, scale, poison)
        for name, faults, per_service in scenarios:
            log.info("scenario %s: %d fault(s), %d process(es) per service", name, len(faults), per_service)
            results.append(
                await run_scenario(
                    infra,
                    name=name,
                    scale=scale,
                    stream=stream,
                    faults=faults,
                    processes_per_service=per_service,
                    extra_env=options.extra_env,
                    keep=options.keep,
                    static_membership=options.static_membership,
                )
            )
            if on_scenario is not None:
                on_scenario(_outcome(results, meta, len(stream), begun))
    finally:
        await asyncio.to_thread(infra.destroy, keep=options.keep)
        if options.keep:
            log.info("state kept in %s", infra.state_dir)
    return _outcome(results, meta, len(stream), begun)


def _outcome(results: list[ScenarioResult], meta: dict[str, Any], events: int, begun: float) -> Outcome:
    baseline = results[0]
    judged = [judge(r, baseline if r is not baseline else None, events=events) for r in results]
    return Outcome(judged=judged, meta={**meta, "seconds": round(time.monotonic() - begun, 1)}, results=results)
