"""What a scenario did to the data, judged against the undisturbed run, as JSON and markdown tables.

Per scenario:
- **lost**: entries of the undisturbed run's stores that the run does not have (a booking,
  a source record, a preference, a trip, a survey, a delivery, an email);
- **extra / changed**: entries only the run has (a traveller split in two, a poison record
  applied), and entries whose canonical value differs (a booking applied twice, a wrong status);
- **sent twice**: the same email (one Message-ID) received twice — the documented window
  of a notifications process killed between the SMTP server's acceptance and its commit —
  and one cause sent as two different emails (never acceptable);
- **dead-lettered**: stream records in any dead-letter topic (each is a loss someone must
  re-drive) and the poison records, each of which must be dead-lettered by every service
  that consumes its topic, with a reason;
- **manual actions**: what an operator would have had to do for the data to be complete:
  restart each service stuck at the end or each process that died by itself, and re-drive
  each service whose dead letters hold stream records. It must be 0: the harness itself
  never does either.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from bench.faults.poison import PASSPORT
from bench.faults.scenario import ScenarioResult
from bench.faults.state import compare, sizes


def _poison_rows(result: ScenarioResult) -> list[dict[str, Any]]:
    rows = []
    for poison, sent in result.poison:
        found: dict[str, list[str]] = {}
        for service, letters in result.dead_letters.items():
            for d in letters:
                h = d.headers
                if (
                    h.get("dlq.source_topic") == sent.topic
                    and h.get("dlq.source_partition") == str(sent.partition)
                    and h.get("dlq.source_offset") == str(sent.offset)
                ):
                    found.setdefault(service, []).append(f"{h.get('dlq.reason', '?')}: {h.get('dlq.error', '')[:80]}")
        expected = poison.consumers() if poison.must_dead_letter else []
        rows.append(
            {
                "record": poison.kind,
                "topic": poison.topic,
                "must_dead_letter": expected,
                "consumers": poison.consumers(),
                "dead_lettered_by": sorted(found),
                "missing": [s for s in expected if s not in found],
                "reasons": sorted({r for rs in found.values() for r in rs}),
                "with_reason": all(r.split(":", 1)[0] not in ("", "?") for rs in found.values() for r in rs),
            }
        )
    return rows


def _poison_positions(result: ScenarioResult) -> set[tuple[str, str, str]]:
    return {(s.topic, str(s.partition), str(s.offset)) for _, s in result.poison}


def judge(result: ScenarioResult, baseline: ScenarioResult | None, *, events: int = 0) -> dict[str, Any]:
    """The figures of one scenario (against the baseline, if it is not the baseline); `events`: how
    many the stream had (for the CPU per event of an undisturbed run)."""
    diff = compare(baseline.stores, result.stores) if baseline is not None else {}
    poison_at = _poison_positions(result)
    stream_letters: dict[str, int] = {}
    personal = 0
    for service, letters in result.dead_letters.items():
        for d in letters:
            h = d.headers
            if PASSPORT.encode() in (d.value or b""):
                personal += 1
            if (h.get("dlq.source_topic"), h.get("dlq.source_partition"), h.get("dlq.source_offset")) not in poison_at:
                stream_letters[service] = stream_letters.get(service, 0) + 1
    poison = _poison_rows(result)
    # A restart for each stuck service and each process that died or stayed unready, a re-drive for
    # each service whose dead letters hold stream records.
    restarts = set(result.stuck_at_end) | {p.rsplit("-", 1)[0] for p in result.died + result.not_ready_at_end}
    manual = len(restarts) + len(stream_letters)
    recovered = [r.recovered_after for r in result.recoveries if r.recovered_after is not None]
    return {
        "scenario": result.name,
        "faults": result.faults,
        "sizes": sizes(result.stores),
        "lost": sum(len(d.missing) for d in diff.values()),
        "extra": sum(len(d.extra) for d in diff.values()),
        "changed": sum(len(d.changed) for d in diff.values()),
        "by_store": {
            store: {
                "missing": len(d.missing),
                "extra": len(d.extra),
                "changed": len(d.changed),
                "examples": (d.missing + d.extra + d.changed)[:5],
                "changes": {
                    k: {"undisturbed": baseline.stores[store].get(k), "this run": result.stores[store].get(k)}
                    for k in d.changed[:3]
                }
                if baseline is not None
                else {},
            }
            for store, d in diff.items()
            if d.missing or d.extra or d.changed
        },
        "emails": result.emails,
        "stream_records_dead_lettered": stream_letters,
        "poison": poison,
        # dead-lettered with a reason by every consumer of its topic (a null value: skipped, or that)
        "poison_handled": sum(1 for p in poison if not p["missing"] and p["with_reason"]),
        "dead_letters_with_personal_data": personal,
        "recoveries": [asdict(r) for r in result.recoveries],
        "max_recovery_seconds": max(recovered) if recovered else None,
        "stalls": [r.fault for r in result.recoveries if r.stalled]
        + (["settle"] if result.settled_after is None else []),
        "not_run": [r.fault for r in result.recoveries if r.skipped],
        "settled_after": result.settled_after,
        "unsettled": result.unsettled,
        "stuck_at_end": result.stuck_at_end,
        "died": result.died,
        "not_ready_at_end": result.not_ready_at_end,
        "stuck_seconds": result.stuck_seconds,
        "ready_while_stuck_seconds": result.lie_seconds,
        "manual_actions": manual,
        "seconds": result.seconds,
        "cpu_seconds": result.cpu_seconds,
        "cpu_ms_per_event": {k: round(v * 1000 / events, 3) for k, v in result.cpu_seconds.items()} if events else {},
    }


def _cell(value: Any) -> str:
    return "—" if value is None else str(value)


def markdown(judged: list[dict[str, Any]]) -> str:
    """The tables: one row per scenario, one per fault, one per poison record."""
    lines = [
        "| scenario | lost | extra / changed | same email twice / one cause twice | stream records dead-lettered "
        "| poison handled | slowest recovery (s) | stalls | /readyz 200 while stuck (s) | manual actions |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for j in judged:
        e = j["emails"]
        stalls = ", ".join(j["stalls"] + [f"{f} (not run)" for f in j["not_run"]]) or "0"
        lines.append(
            f"| {j['scenario']} | {j['lost']} | {j['extra']} / {j['changed']} "
            f"| {e.get('same_message_id_twice', 0)} / {e.get('cause_sent_twice', 0)} "
            f"| {sum(j['stream_records_dead_lettered'].values())} "
            f"| {j['poison_handled']} of {len(j['poison'])} "
            f"| {_cell(j['max_recovery_seconds'])} | {stalls} "
            f"| {sum(j['ready_while_stuck_seconds'].values()):g} | {j['manual_actions']} |"
        )
    for j in judged:
        if j.get("cpu_ms_per_event"):
            cpu = j["cpu_ms_per_event"]
            lines += [
                "",
                f"{j['scenario']}: CPU per stream event, from ready to settled: {sum(cpu.values()):.2f} ms "
                f"(services {cpu['services']:.2f}, PostgreSQL {cpu['postgres']:.2f}, broker {cpu['broker']:.2f})",
            ]
    lines += [
        "",
        "| scenario | fault | over at (s) | took (s) | ready after (s) | caught up after (s) | recovered after (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for j in judged:
        for r in j["recoveries"]:
            recovered = r["recovered_after"]
            if recovered is None:
                recovered = "not run (time budget)" if r["skipped"] else "stalled"
            if r.get("failing_checks"):
                named = "; ".join(f"{n}: {', '.join(c)}" for n, c in r["failing_checks"].items())
                recovered = f"{recovered} (unready: {named[:100]})"
            if r.get("error"):
                recovered = f"{recovered} (the fault failed: {r['error'][:80]})"
            lines.append(
                f"| {j['scenario']} | {r['fault']} | {r['at']:.1f} | {r['took']} | {_cell(r['ready_after'])} "
                f"| {_cell(r['caught_up_after'])} | {recovered} |"
            )
    poison_rows = [(j["scenario"], p) for j in judged for p in j["poison"]]
    if poison_rows:
        lines += [
            "",
            "| scenario | poison record | topic | must be dead-lettered by | missing | reason |",
            "|---|---|---|---|---|---|",
        ]
        for scenario, p in poison_rows:
            reason = "; ".join(p["reasons"])[:120].replace("|", "/")
            must = ", ".join(p["must_dead_letter"]) or f"none (skipped by {', '.join(p['consumers'])})"
            lines.append(
                f"| {scenario} | {p['record']} | {p['topic']} | {must} | {', '.join(p['missing']) or '—'} "
                f"| {reason or '—'} |"
            )
    for j in judged:
        if j["dead_letters_with_personal_data"]:
            lines += [
                "",
                f"{j['scenario']}: {j['dead_letters_with_personal_data']} dead letter(s) hold a passport number"
                " in clear",
            ]
    for j in judged:
        if j["by_store"]:
            lines += [
                "",
                f"{j['scenario']}: "
                + "; ".join(
                    f"{store} {d['missing']} lost, {d['extra']} extra, {d['changed']} changed"
                    f" (e.g. {', '.join(d['examples'][:2])})"
                    for store, d in j["by_store"].items()
                ),
            ]
    return "\n".join(lines)


def to_json(judged: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    return json.dumps({"meta": meta, "scenarios": judged}, indent=2, default=str)
