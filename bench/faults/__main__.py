"""python -m bench.faults run [--scale full|bounded] [--faults KIND,...] [--plan separate|together] [--out FILE]

Runs a fixed booking stream through all four services on the harness's own Kafka broker and
PostgreSQL cluster, once undisturbed and once per fault (or with all faults together), and
compares the final state of every store with the undisturbed run. Prints the tables (markdown)
and writes everything to --out as JSON. See README.md, "Fault-injection harness".
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from bench.faults.faults import FAULT_KINDS, SCALES
from bench.faults.harness import Options, Outcome, run_harness
from bench.faults.report import markdown, to_json


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.faults", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the baseline and the fault scenarios")
    run.add_argument(
        "--scale",
        choices=sorted(SCALES),
        default="full",
        help="full: ~3,700 events, each service killed 3 times, two restarts of each engine; "
        "bounded: ~280 events, one of each fault",
    )
    run.add_argument("--faults", default=",".join(FAULT_KINDS), help=f"comma-separated, of: {', '.join(FAULT_KINDS)}")
    run.add_argument(
        "--plan",
        choices=["separate", "together"],
        default=None,
        help="one scenario per fault kind (default at full scale) or all in one (default when bounded)",
    )
    run.add_argument("--control", action="store_true", help="a second undisturbed run, to show the harness's own noise")
    run.add_argument("--travellers", type=int, default=None, help="override the scale's number of travellers")
    run.add_argument("--seed", type=int, default=12)
    run.add_argument(
        "--stall-after",
        type=float,
        default=None,
        help="the services' ITINERA_STALL_AFTER (default: the scale's, 30 s; bounded 15 s); the harness calls a"
        " service stuck 15 s later",
    )
    run.add_argument("--fault-timeout", type=float, default=None, help="a fault not recovered from by then is a stall")
    run.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for every service process (e.g. ITINERA_CONSUMER_MAX_ATTEMPTS=5)",
    )
    run.add_argument(
        "--static-membership",
        action="store_true",
        help="give every process its own ITINERA_INSTANCE_ID (a restarted process takes its partitions back at once)",
    )
    run.add_argument("--out", type=Path, default=None, help="write the figures as JSON here (after each scenario)")
    run.add_argument(
        "--code",
        type=Path,
        default=None,
        help="run the services of another checkout (e.g. `git archive` of an older commit) with this harness",
    )
    run.add_argument("--keep", action="store_true", help="keep the engines' data and the service logs")
    sub.add_parser("list", help="list the fault kinds and scales")
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace) -> int:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # cleans up like Ctrl-C
    kinds = tuple(k.strip() for k in args.faults.split(",") if k.strip())
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown:
        sys.stderr.write(f"unknown fault(s): {', '.join(unknown)}; known: {', '.join(FAULT_KINDS)}\n")
        return 2
    options = Options(
        scale=args.scale,
        faults=kinds,
        plan=args.plan or ("separate" if args.scale == "full" else "together"),
        control=args.control,
        travellers=args.travellers,
        stall_after=args.stall_after,
        fault_timeout=args.fault_timeout,
        seed=args.seed,
        keep=args.keep,
        extra_env=dict(item.split("=", 1) for item in args.env),
        code=args.code,
        static_membership=args.static_membership,
    )

    def save(so_far: Outcome) -> None:
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(to_json(so_far.judged, so_far.meta) + "\n")

    outcome = await run_harness(options, on_scenario=save)
    print(markdown(outcome.judged))
    if args.out is not None:
        print(f"\nfigures written to {args.out}")
    failed = any(j["lost"] or j["manual_actions"] for j in outcome.judged)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.command == "list":
        print("faults:", ", ".join(FAULT_KINDS))
        for name, scale in SCALES.items():
            print(f"{name}: {scale}")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    for noisy in ("aiokafka", "kafka", "httpx", "mail.log", "asyncio"):  # their errors are the faults
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    return asyncio.run(_main(args))


if __name__ == "__main__":
    raise SystemExit(main())
