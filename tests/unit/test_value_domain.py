"""Customer value rules: tiers monotone in trips and spend, cancellations, the ledger's order, churn stages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from services.value.domain.assessment import evaluate
from services.value.domain.bookings import BookingEvent, BookingFact, apply_event
from services.value.domain.churn import ChurnPolicy, assess, usual_interval
from services.value.domain.money import Rate, RateTable
from services.value.domain.tiers import TIERS, TRAVELLER_TIERS, tier_change_reason

AS_OF = datetime(2026, 12, 3, 12, tzinfo=UTC)
RATES = RateTable("EUR", [Rate("USD", date(2026, 1, 1), Decimal("0.9")), Rate("USD", date(2026, 7, 1), Decimal("0.8"))])
RANK = {t: i for i, t in enumerate(reversed(TIERS))}  # regular 0, silver 1, gold 2


def event(
    booking: str, kind: str = "created", *, at: datetime = AS_OF - timedelta(days=30), starts: datetime | None = None,
    amount: str | None = "1000", currency: str = "EUR", event_id: str | None = None, customer: str = "cus_1",
) -> BookingEvent:  # fmt: skip
    return BookingEvent(
        event_id=event_id or f"{booking}-{kind}-{at.isoformat()}", kind=kind, source_system="gds", booking_id=booking,
        customer_id=customer, company_id="globex", occurred_at=at,
        starts_at=None if kind == "cancelled" else (starts or at + timedelta(days=7)),
        amounts={} if kind == "cancelled" or amount is None else {currency: Decimal(amount)},
    )  # fmt: skip


def ledger(events: list[BookingEvent]) -> dict[tuple[str, str], BookingFact]:
    facts: dict[tuple[str, str], BookingFact] = {}
    for e in events:
        new = apply_event(facts.get((e.source_system, e.booking_id)), e)
        if new is not None:
            facts[new.key] = new
    return facts


def value_of(events: list[BookingEvent]) -> str:
    return evaluate(ledger(events).values(), rates=RATES, tiers=TRAVELLER_TIERS, churn=ChurnPolicy(), as_of=AS_OF).tier


@given(st.integers(0, 40), st.integers(0, 40), st.integers(0, 60000), st.integers(0, 60000))
def test_tiers_are_monotone_in_trips_and_spend(t1: int, t2: int, s1: int, s2: int) -> None:
    low, high = (
        TRAVELLER_TIERS.tier(min(t1, t2), Decimal(min(s1, s2))),
        TRAVELLER_TIERS.tier(max(t1, t2), Decimal(max(s1, s2))),
    )
    assert RANK[low] <= RANK[high]


@given(
    st.lists(st.tuples(st.integers(1, 360), st.integers(0, 9000)), max_size=20),
    st.integers(1, 360),
    st.integers(0, 9000),
)
def test_one_more_booking_never_lowers_a_tier_and_cancelling_it_never_raises_one(
    existing: list[tuple[int, int]], days_ago: int, price: int
) -> None:
    events = [event(f"b{i}", at=AS_OF - timedelta(days=d + 7), amount=str(p)) for i, (d, p) in enumerate(existing)]
    before = value_of(events)
    extra = event("extra", at=AS_OF - timedelta(days=days_ago + 7), amount=str(price))
    with_it = value_of([*events, extra])
    cancelled = value_of([*events, extra, event("extra", "cancelled", at=AS_OF - timedelta(days=1))])
    assert RANK[with_it] >= RANK[before]
    assert RANK[cancelled] <= RANK[with_it]
    assert cancelled == before


def test_a_cancellation_lowers_a_tier() -> None:
    events = [event(f"b{i}", at=AS_OF - timedelta(days=10 + i)) for i in range(12)]
    assert value_of(events) == "gold"
    assert value_of([*events, event("b3", "cancelled", at=AS_OF - timedelta(days=1))]) == "silver"


kinds = st.sampled_from(["created", "changed", "cancelled", "trip_completed"])
raw_events = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        kinds,
        st.integers(0, 400),
        st.integers(0, 5000),
        st.sampled_from(["EUR", "USD", "GBP"]),
    ),
    max_size=25,
)


@settings(max_examples=200)
@given(raw_events, st.randoms(use_true_random=False))
def test_the_ledger_and_its_value_do_not_depend_on_arrival_order(
    spec: list[tuple[str, str, int, int, str]], rnd: object
) -> None:
    events = [
        event(b, k, at=AS_OF - timedelta(days=d, minutes=i), amount=str(p), currency=c, event_id=f"e{i}")
        for i, (b, k, d, p, c) in enumerate(spec)
    ]
    shuffled = list(events)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    live, recomputed = ledger(events), ledger(shuffled)
    assert live == recomputed
    policy = ChurnPolicy()
    assert evaluate(live.values(), rates=RATES, tiers=TRAVELLER_TIERS, churn=policy, as_of=AS_OF) == evaluate(
        recomputed.values(), rates=RATES, tiers=TRAVELLER_TIERS, churn=policy, as_of=AS_OF
    )


def test_redelivered_events_change_nothing() -> None:
    e = event("a")
    fact = apply_event(None, e)
    assert fact is not None
    assert apply_event(fact, e) is None


def test_a_cancellation_keeps_the_trip_it_cancels_whatever_the_order() -> None:
    created = event("a", at=AS_OF - timedelta(days=20), amount="500")
    cancelled = event("a", "cancelled", at=AS_OF - timedelta(days=10))
    assert ledger([created, cancelled]) == ledger([cancelled, created])
    fact = ledger([cancelled, created])[("gds", "a")]
    assert fact.status == "cancelled"
    assert fact.amounts == {"EUR": Decimal(500)}


def test_spend_is_converted_at_the_rate_of_the_booking_day_and_never_guessed() -> None:
    assert RATES.convert({"USD": Decimal(100)}, date(2026, 3, 1)) == (Decimal("90.00"), ())
    assert RATES.convert({"USD": Decimal(100)}, date(2026, 8, 1)) == (Decimal("80.00"), ())
    assert RATES.convert({"USD": Decimal(100)}, date(2025, 12, 31)) == (None, ("USD",))
    facts = ledger([event("a", currency="CHF", amount="900"), event("b", amount="100")]).values()
    result = evaluate(facts, rates=RATES, tiers=TRAVELLER_TIERS, churn=ChurnPolicy(), as_of=AS_OF)
    assert result.rfm.frequency == 2
    assert result.rfm.monetary == Decimal("100.00")
    assert result.rfm.unconverted_trips == 1
    assert result.rfm.unconverted_currencies == ("CHF",)


def test_trips_leaving_the_window_are_reviewed_and_lower_the_tier() -> None:
    events = [
        event(f"b{i}", at=AS_OF - timedelta(days=300 + i), starts=AS_OF - timedelta(days=300 + i)) for i in range(12)
    ]
    now = evaluate(ledger(events).values(), rates=RATES, tiers=TRAVELLER_TIERS, churn=ChurnPolicy(), as_of=AS_OF)
    assert now.tier == "gold"
    assert now.next_review_at is not None
    later = evaluate(ledger(events).values(), rates=RATES, tiers=TRAVELLER_TIERS, churn=ChurnPolicy(),
                     as_of=AS_OF + timedelta(days=70))  # fmt: skip
    assert later.tier == "regular"


def days_ago(*days: int) -> list[datetime]:
    return [AS_OF - timedelta(days=d) for d in days]


def test_stages_follow_the_customers_own_cadence() -> None:
    policy = ChurnPolicy()
    monthly = days_ago(400, 370, 340, 310, 280, 250, 220, 190, 160, 130, 100)
    assert usual_interval(monthly) == 30
    at_risk = assess(days_ago(*(d + 0 for d in (190, 160, 130, 100, 70))), as_of=AS_OF, policy=policy)
    assert at_risk.stage == "at_risk"
    assert "usually every 30 days" in at_risk.reason
    assert at_risk.risk == "high"
    lapsed = assess([t - timedelta(days=30) for t in monthly], as_of=AS_OF, policy=policy)
    assert (lapsed.stage, lapsed.next_review_at) == ("lapsed", None)
    active = assess(days_ago(130, 100, 70, 40, 10), as_of=AS_OF, policy=policy)
    assert (active.stage, active.risk) == ("active", "low")
    assert assess(days_ago(20), as_of=AS_OF, policy=policy).stage == "new"
    won_back = assess(days_ago(500, 470, 440, 5), as_of=AS_OF, policy=policy)
    assert won_back.stage == "won_back"
    upcoming = assess([*days_ago(400, 300), AS_OF + timedelta(days=3)], as_of=AS_OF, policy=policy)
    assert upcoming.risk == "low"
    assert "next trip booked" in upcoming.reason
    assert assess([], as_of=AS_OF, policy=policy).stage == "new"


def test_a_tier_change_says_why_in_words() -> None:
    text = tier_change_reason(
        policy=TRAVELLER_TIERS, from_tier="silver", to_tier="gold", trips=14, spend=Decimal(38000), currency="EUR",
        unconverted=0, on=AS_OF, cause="booking gds:B1 booked",
    )  # fmt: skip
    assert text == "Silver → Gold on 3 Dec 2026: 14 trips, 38,000 EUR in 12 months; booking gds:B1 booked"
