"""Replays a fixed scenario through the preferences handlers and writes down everything they did.

Bookings (created, changed, cancelled; departures in several time zones), company policies
and policy changes, profile snapshots that move a customer to another company, merges,
erasures, stated preferences, clearing them and answering confirmation requests go through the
service-layer handlers in fixed batches, in a throwaway database. After every step the outbox
rows are written down (and removed, as the relay would); at the end the customers and
confirmation requests tables. Ids the code makes up (event and request ids), answer-link tokens
and wall-clock times are masked; everything else is kept byte for byte. Two versions of the code that write
the same file stored and published the same.

    .venv/bin/python -m bench.preferences_replay --out new.txt
    .venv/bin/python -m bench.preferences_replay --out old.txt --code <checkout of another commit>
    cmp old.txt new.txt
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

NOW0 = datetime(2030, 1, 1, 9, tzinfo=UTC)  # handler time where the handlers take one
ZONES = [UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5)), timezone(timedelta(hours=9))]
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ANSWER_TOKEN_RE = re.compile(r'"answer_token": ?"[A-Za-z0-9_-]+"')


class Masker:
    """Labels ids by first appearance (so which event caused which is kept) and hides wall-clock times."""

    def __init__(self) -> None:
        self.labels: dict[str, str] = {}
        today = datetime.now(UTC)
        # today, and when answer links asked today expire
        days = {(today + timedelta(days=d)).strftime("%Y-%m-%d") for d in (-1, 0, 1, 29, 30, 31)}
        self.clock = re.compile("(" + "|".join(days) + r")[T ][0-9:.]+(Z|[+-][0-9:]+)?")

    def __call__(self, text: str) -> str:
        text = UUID_RE.sub(lambda m: self.labels.setdefault(m.group(0), f"<id{len(self.labels)}>"), text)
        text = ANSWER_TOKEN_RE.sub('"answer_token":"<token>"', text)  # random: kept is that there is one
        return self.clock.sub("<now>", text)


async def scenario(out_path: Path) -> None:
    from services.kit.contracts.bookings import CarSegmentV1, FlightSegmentV1, HotelSegmentV1, RailSegmentV1
    from services.kit.contracts.customers import CustomerRedirectV1, CustomerSnapshotV1, ResolvedBookingV1
    from services.kit.contracts.envelope import Envelope
    from services.kit.db import apply_migrations, create_pool
    from services.preferences.adapters import repository as repo
    from services.preferences.service_layer import commands, handlers
    from services.preferences.settings import PreferencesSettings
    from tests.harness import create_env, drop_env

    rng = random.Random(20261122)
    mask = Masker()
    lines: list[str] = []

    def uid() -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    def wrap(payload: Any, subject: str, at: datetime) -> Envelope[Any]:
        return Envelope.new(payload, producer="profile", subject_id=subject, event_id=uid(), correlation_id=uid(),
                            occurred_at=at)  # fmt: skip

    def segments(step: int) -> tuple[Any, ...]:
        zone = rng.choice(ZONES)
        dep = datetime(2025, 6, 1, tzinfo=zone) + timedelta(days=rng.randint(0, 400), minutes=rng.randint(0, 1439))
        hours = rng.choice([0.9, 1.5, 2.5, 3.5, 5.0, 7.0, 11.5])
        out: list[Any] = [
            FlightSegmentV1(
                carrier=rng.choice(["LH", "BA", "AF", "KL", "AF"]), flight_number=str(rng.randint(1, 999)),
                origin="FRA", destination=rng.choice(["LHR", "JFK", "NRT"]), departure_at=dep,
                arrival_at=dep + timedelta(hours=hours), cabin=rng.choice(["economy", "economy", "business", "first",
                "premium_economy"]), seat=rng.choice(["3A", "3B", "3C", "3D", "12F", "40K", "40G", None]),
                meal=rng.choice([None, None, "vgml", "KSML"]), stops=rng.choice([0, 0, 1, 2]),
                fare_type=rng.choice([None, "flexible", "restricted"]),
            )
        ]  # fmt: skip
        if rng.random() < 0.6:
            out.append(
                HotelSegmentV1(
                    hotel_name="Hotel", chain_code=rng.choice([None, "MC", "HH", "IC"]), city="London", country="GB",
                    check_in=dep.date(), check_out=dep.date() + timedelta(days=2),
                    star_rating=rng.choice([None, 2, 3, 4, 5]),
                    room_type=rng.choice([None, "Standard King", "Deluxe Queen non-smoking", "Superior Twin smoking",
                                          "Suite"]),
                )
            )  # fmt: skip
        if rng.random() < 0.3:
            out.append(
                CarSegmentV1(
                    vendor=rng.choice(["ZE", "SX"]), pickup_location="LHR", dropoff_location="LHR", pickup_at=dep,
                    dropoff_at=dep + timedelta(days=2), car_class=rng.choice(["CDAR", "IFMR", "SDAR", "XXXX"]),
                )
            )  # fmt: skip
        if rng.random() < 0.15:
            out.append(
                RailSegmentV1(
                    operator=rng.choice(["DB", "SNCF"]), origin="FRA", destination="CGN", departure_at=dep,
                    arrival_at=dep + timedelta(hours=1), travel_class=rng.choice(["first", "second"]),
                )
            )  # fmt: skip
        return tuple(out)

    env = await create_env()
    pool = None
    try:
        settings = env.settings(PreferencesSettings)
        pool = await create_pool(settings)
        await apply_migrations(
            pool, schema=settings.db_schema, packages=["services.kit.migrations", "services.preferences.migrations"]
        )
        customers = [f"cus_{i:04d}" for i in range(150)]
        company_of = {c: f"com_{rng.randrange(8)}" for c in customers}
        bookings_of: dict[str, list[str]] = {c: [] for c in customers}
        policies = [
            {"cabin_rules": [{"min_hours": 0, "max_cabin": "economy"}, {"min_hours": 6, "max_cabin": "business"}]},
            {"blocked_airlines": ["AF"], "hotel_max_star": 4},
            {"cabin_rules": [{"min_hours": 0, "max_cabin": "premium_economy"}], "advance_booking_days": 14},
        ]

        async def dump_outbox(step: str) -> None:
            async with pool.acquire() as conn:
                rows = await conn.fetch("SELECT topic, key, value, headers::text AS headers FROM outbox ORDER BY id")
                await conn.execute("DELETE FROM outbox")
            lines.append(f"== {step}: {len(rows)} outbox rows")
            for r in rows:
                value = "<tombstone>" if r["value"] is None else bytes(r["value"]).decode()
                lines.append(mask(f"{r['topic']} {bytes(r['key']).decode()} {r['headers']} {value}"))

        async with pool.acquire() as conn, conn.transaction():
            for i, policy in enumerate(policies):
                await repo.save_policy(conn, company_id=f"com_{i}", policy=policy, deleted=False, updated_by="replay")
        for step in range(40):
            now = NOW0 + timedelta(minutes=step)
            events = []
            for _ in range(60):
                cid = rng.choice(customers[: 40 + 3 * step])
                known = bookings_of[cid]
                roll = rng.random()
                if known and roll < 0.12:
                    kind, booking_id = "changed", rng.choice(known)
                elif known and roll < 0.2:
                    kind, booking_id = "cancelled", rng.choice(known)
                elif known and roll < 0.23:
                    kind, booking_id = rng.choice(["trip_started", "trip_completed"]), rng.choice(known)
                else:
                    kind, booking_id = "created", f"BK-{rng.getrandbits(40):010x}"
                    known.append(booking_id)
                payload = ResolvedBookingV1(
                    customer_id=cid, company_id=company_of[cid] if rng.random() < 0.9 else None, kind=kind,  # type: ignore[arg-type]
                    source_event_id=str(uid()), source_system=rng.choice(["gds-a", "gds-b"]), booking_id=booking_id,
                    segments=segments(step) if kind in ("created", "changed") else (),
                    occurred_at=now - timedelta(seconds=rng.randint(1, 3000)),
                )  # fmt: skip
                events.append(wrap(payload, cid, now))
            async with pool.acquire() as conn, conn.transaction():
                await handlers.handle_resolved_bookings(conn, events, now=now)
            await dump_outbox(f"step {step} bookings")
            if step % 5 == 2:  # a customer moves company (profile snapshot)
                cid = rng.choice(customers[:40])
                company_of[cid] = f"com_{rng.randrange(8)}"
                snap = CustomerSnapshotV1.model_validate(
                    {"customer_id": cid, "version": step + 1, "display_name": "A B", "company_id": company_of[cid],
                     "updated_at": now}
                )  # fmt: skip
                async with pool.acquire() as conn, conn.transaction():
                    await handlers.handle_customer_event(conn, wrap(snap, cid, now))
                await dump_outbox(f"step {step} company change {cid}")
            if step % 7 == 3:  # a merge
                absorbed, survivor = rng.sample(customers[:40], 2)
                redirect = CustomerRedirectV1(customer_id=absorbed, merged_into=survivor, merged_at=now)
                async with pool.acquire() as conn, conn.transaction():
                    await handlers.handle_customer_event(conn, wrap(redirect, absorbed, now))
                await dump_outbox(f"step {step} merge {absorbed} into {survivor}")
            if step % 11 == 5:  # an erasure
                cid = rng.choice(customers[:40])
                async with pool.acquire() as conn, conn.transaction():
                    await handlers.handle_customer_tombstone(conn, "profile.customers.v1", cid)
                await dump_outbox(f"step {step} erasure {cid}")
            if step % 4 == 1:  # stated preferences, and clearing one
                cid = rng.choice(customers[:40])
                values = rng.choice(
                    [{"air.seat.short_haul": "window"}, {"air.cabin.long_haul": "business", "comms.language": "de"},
                     {"hotel.chains.preferred": ["HH"]}]
                )  # fmt: skip
                async with pool.acquire() as conn, conn.transaction():
                    try:
                        await commands.set_preferences(conn, cid, values, source="stated", actor="replay", now=now)
                    except Exception as exc:
                        lines.append(f"set_preferences {cid}: {type(exc).__name__}")
                await dump_outbox(f"step {step} stated {cid}")
                async with pool.acquire() as conn, conn.transaction():
                    try:
                        cleared = await commands.clear_preference(conn, cid, "air.seat.short_haul", now=now)
                        lines.append(f"cleared {cid}: {cleared}")
                    except Exception as exc:
                        lines.append(f"clear_preference {cid}: {type(exc).__name__}")
                await dump_outbox(f"step {step} cleared {cid}")
            if step % 6 == 4:  # answer the oldest pending confirmation requests
                async with pool.acquire() as conn:
                    pending = await conn.fetch(
                        "SELECT customer_id, request_id::text AS request_id FROM confirmation_requests"
                        " WHERE status = 'pending' ORDER BY customer_id, key LIMIT 3"
                    )
                for n, r in enumerate(pending):
                    async with pool.acquire() as conn, conn.transaction():
                        try:
                            await commands.answer_confirmation(
                                conn, r["customer_id"], r["request_id"], accepted=n % 2 == 0, actor="replay"
                            )
                        except Exception as exc:
                            lines.append(f"answer {r['customer_id']}: {type(exc).__name__}")
                    await dump_outbox(f"step {step} answer {r['customer_id']}")
            if step % 9 == 8:  # a policy changes: the policy job re-resolves the company's customers
                company = f"com_{rng.randrange(3)}"
                async with pool.acquire() as conn, conn.transaction():
                    await repo.save_policy(
                        conn, company_id=company, policy=rng.choice(policies), deleted=rng.random() < 0.3,
                        updated_by="replay",
                    )  # fmt: skip
                    behind = await repo.customers_behind_policy(conn, limit=1000)
                    changed = await handlers.refresh_customers(conn, behind)
                lines.append(f"policy {company}: {len(behind)} behind, {changed} changed")
                await dump_outbox(f"step {step} policy {company}")
        async with pool.acquire() as conn:
            lines.append("== customers")
            for r in await conn.fetch(
                # jsonb's spelling of the JSON, whichever type the columns have
                "SELECT customer_id, company_id, status, merged_into, state::jsonb::text AS state, version,"
                " published::jsonb::text AS published, policy_version, last_event_at FROM customers"
                " ORDER BY customer_id"
            ):
                lines.append(mask(" | ".join(str(v) for v in r.values())))  # noqa: PERF401  # one row a line
            lines.append("== confirmation requests")
            for r in await conn.fetch(
                "SELECT request_id, customer_id, key, value::text AS value, confidence, status, asked_at, answered_at,"
                " answered_by FROM confirmation_requests ORDER BY asked_at, customer_id, key"
            ):
                lines.append(mask(" | ".join(str(v) for v in r.values())))  # noqa: PERF401  # one row a line
    finally:
        if pool is not None:
            await pool.close()
        await drop_env(env)
    out_path.write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} lines written to {out_path}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--code", type=Path, default=None, help="run the scenario with the code of this checkout")
    args = parser.parse_args()
    if args.code is not None:  # this file, run with the other checkout's packages
        from bench.shared import run_from_checkout  # here: the other checkout may not have it

        raise SystemExit(run_from_checkout(args.code, __file__, ["--out", str(args.out.resolve())]))
    asyncio.run(scenario(args.out))


if __name__ == "__main__":
    main()
